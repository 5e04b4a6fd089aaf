"""A USDT probe's argument specs (``-4@%edi``, ``8@-16(%rbp)``, ``4@$5``) and the C that reads
them in the probe's context.

Each spec is ``SIZE@OPERAND``: SIZE is the argument's width in bytes, negative when the C
argument was signed; OPERAND is an assembler operand the compiler chose when it built the probe
site: a register, a constant, or memory at a register plus an offset (plus an index register
times a scale). bpftrace 0.26 reads them all as int64 (libbpf's ``bpf_usdt_arg``, which returns
a ``long``): the operand's SIZE bytes, sign-extended when SIZE is negative and zero-extended
otherwise. Operands are parsed per architecture; x86_64's AT&T syntax is the one known here.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from typing import Callable, Optional, Union

from ..builtins import Builtin
from ..types import INT64
from .registers import read_register

SIZES = (1, 2, 4, 8)


class ArgSpecError(ValueError):
    """An argument spec tracer cannot read, with the reason."""


@dataclass(frozen=True)
class Constant:
    value: int


@dataclass(frozen=True)
class Register:
    name: str  # the struct pt_regs field that holds it: "ax" for %eax, %ax and %al
    shift: int = 0  # bits to drop below it first: 8 for %ah, bits 8-15 of %rax


@dataclass(frozen=True)
class Memory:
    base: str  # pt_regs field of the base register
    offset: int = 0
    index: Optional[str] = None  # pt_regs field of the index register, if any
    scale: int = 1


Operand = Union[Constant, Register, Memory]


@dataclass(frozen=True)
class UsdtArg:
    size: int  # bytes: 1, 2, 4 or 8
    signed: bool
    operand: Operand
    spec: str  # as the note wrote it, for messages


# -- x86_64 -----------------------------------------------------------------------------------

def _x86_64_registers() -> dict[str, tuple[str, int]]:
    """Every name of a general-purpose register or part of one -> (pt_regs field, shift)."""
    names: dict[str, tuple[str, int]] = {}
    # pt_regs field: its 64-, 32-, 16- and low 8-bit names
    legacy = {"ax": ("rax", "eax", "ax", "al"), "bx": ("rbx", "ebx", "bx", "bl"),
              "cx": ("rcx", "ecx", "cx", "cl"), "dx": ("rdx", "edx", "dx", "dl"),
              "si": ("rsi", "esi", "si", "sil"), "di": ("rdi", "edi", "di", "dil"),
              "bp": ("rbp", "ebp", "bp", "bpl"), "sp": ("rsp", "esp", "sp", "spl")}
    for field, spellings in legacy.items():
        names.update((name, (field, 0)) for name in spellings)
    for n in range(8, 16):
        # r8b and r8l are two assemblers' names for the same low byte.
        names.update((name, (f"r{n}", 0)) for name in
                     (f"r{n}", f"r{n}d", f"r{n}w", f"r{n}b", f"r{n}l"))
    names.update({"ah": ("ax", 8), "bh": ("bx", 8), "ch": ("cx", 8), "dh": ("dx", 8),
                  "rip": ("ip", 0)})
    return names


X86_64_REGISTERS = _x86_64_registers()
_NUMBER = r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)"
_X86_64_MEMORY = re.compile(rf"^(?P<offset>{_NUMBER})?\(%(?P<base>\w+)"
                            rf"(?:,%(?P<index>\w+)(?:,(?P<scale>[1248]))?)?\)$")


def _number(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.lower().startswith("0x"):
        return sign * int(digits, 16)
    # The assembler reads a leading 0 as octal.
    return sign * int(digits, 8 if len(digits) > 1 and digits.startswith("0") else 10)


def _x86_64_register(name: str, spec: str) -> tuple[str, int]:
    found = X86_64_REGISTERS.get(name)
    if found is None:
        raise ArgSpecError(f"register %{name} in '{spec}' is not one tracer can read")
    return found


def _x86_64_operand(text: str, spec: str) -> Operand:
    if text.startswith("$"):
        try:
            return Constant(_number(text[1:]))
        except ValueError:
            raise ArgSpecError(f"the constant in '{spec}' is not a number") from None
    if text.startswith("%"):
        field, shift = _x86_64_register(text[1:], spec)
        return Register(field, shift)
    m = _X86_64_MEMORY.match(text)
    if m is None:
        # A symbol's address (sym(%rip)) or a segment (%fs:8) needs more than the registers.
        raise ArgSpecError(f"the operand '{text}' is not a register, a constant or "
                           f"register-relative memory")
    base, _ = _x86_64_register(m.group("base"), spec)
    if base == "ip":
        # The probe's ip is not the address the assembler counted from.
        raise ArgSpecError(f"the operand '{text}' is relative to %rip")
    index = _x86_64_register(m.group("index"), spec)[0] if m.group("index") else None
    return Memory(base, _number(m.group("offset") or "0"), index, int(m.group("scale") or 1))


OPERAND_PARSERS: dict[str, Callable[[str, str], Operand]] = {"x86_64": _x86_64_operand}


def parse_arg_spec(spec: str, machine: Optional[str] = None) -> UsdtArg:
    """One ``SIZE@OPERAND`` spec; raises ArgSpecError when it cannot be read."""
    machine = machine or platform.machine()
    parser = OPERAND_PARSERS.get(machine)
    if parser is None:
        raise ArgSpecError(f"tracer reads usdt arguments on {', '.join(OPERAND_PARSERS)} only, "
                           f"not {machine}")
    size_text, at, operand = spec.partition("@")
    if not at:
        # Old sdt.h wrote no size: the operand is a whole register's worth.
        size_text, operand = "8", spec
    try:
        size = int(size_text)
    except ValueError:
        raise ArgSpecError(f"'{spec}' does not start with the argument's size") from None
    if abs(size) not in SIZES:
        raise ArgSpecError(f"'{spec}' has a size of {abs(size)} bytes, not 1, 2, 4 or 8")
    return UsdtArg(abs(size), size < 0, parser(operand, spec), spec)


# -- C ----------------------------------------------------------------------------------------

def _extend(arg: UsdtArg, value: str) -> str:
    """The low ``size`` bytes of a 64-bit C value as an s64, sign- or zero-extended."""
    if arg.size == 8:
        return f"((s64)({value}))"
    kind = "s" if arg.signed else "u"
    return f"((s64)({kind}{arg.size * 8})({value}))"


def _constant_value(arg: UsdtArg) -> int:
    bits = arg.size * 8
    value = arg.operand.value & ((1 << bits) - 1)
    if arg.signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _emit_constant(arg: UsdtArg, gen) -> str:
    # Written as its 64-bit pattern: -9223372036854775808 is not a C literal.
    return f"((s64){_constant_value(arg) & ((1 << 64) - 1):#x}ULL)"


def _emit_register(arg: UsdtArg, gen) -> str:
    reg = read_register(arg.operand.name)
    return _extend(arg, f"{reg} >> {arg.operand.shift}" if arg.operand.shift else reg)


def _emit_memory(arg: UsdtArg, gen) -> str:
    where = arg.operand
    address = f"{read_register(where.base)} + ({where.offset}LL)"
    if where.index is not None:
        address += f" + {read_register(where.index)} * {where.scale}"
    value = gen.temp("u64 {} = 0")
    gen.line(f"bpf_probe_read_user(&{value}, {arg.size}, (void *)({address}));")
    return _extend(arg, value)


EMITTERS: dict[type, Callable[[UsdtArg, object], str]] = {
    Constant: _emit_constant, Register: _emit_register, Memory: _emit_memory}


def arg_builtin(name: str, arg: UsdtArg) -> Builtin:
    """``argN`` reading one argument: registers and memory need the probe's context, so not in
    a for loop's callback; a constant can be read anywhere."""
    emit = EMITTERS[type(arg.operand)]
    return Builtin(name, INT64, lambda gen: emit(arg, gen), f"usdt argument {arg.spec}",
                   in_loops=isinstance(arg.operand, Constant))


def missing_arg_builtin(name: str, reason: str) -> Builtin:
    """``argN`` that cannot be read: using it is an error at its place, with ``reason``."""
    return Builtin(name, INT64, lambda gen: "0", reason, unavailable=lambda options: reason)


def zero_builtin(name: str) -> Builtin:
    """``argN`` past a probe's arguments where a wildcard chose the probe: 0, as libbpf's
    bpf_usdt_arg gives bpftrace 0.26."""
    return Builtin(name, INT64, lambda gen: "((s64)0)", "no such argument: 0")
