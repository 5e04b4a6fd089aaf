"""The registers a probe at a function boundary reads (kprobe, uprobe, usdt): where each one
sits in ``struct pt_regs``, per architecture, and the C that reads them.

A kprobe's or uprobe's context is the ``struct pt_regs`` of the interrupted code, which a
program may read directly at these offsets (the verifier checks the access); no header is
needed for its layout, which is the kernel's ABI on each architecture.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Optional

from ..builtins import Builtin
from ..types import UINT64, SymbolicType


@dataclass(frozen=True)
class RegisterFile:
    offsets: dict[str, int]  # register name -> byte offset in struct pt_regs
    args: tuple[str, ...]  # the registers that pass integer arguments, in order
    ret: str  # the register that holds a return value
    sp: str
    ip: str
    # Bytes between the stack pointer at a function's entry and its first stack argument (the
    # return address on x86_64).
    stack_args_from: int


_X86_64 = RegisterFile(
    offsets={"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48,
             "r10": 56, "r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112,
             "orig_ax": 120, "ip": 128, "cs": 136, "flags": 144, "sp": 152, "ss": 160},
    args=("di", "si", "dx", "cx", "r8", "r9"), ret="ax", sp="sp", ip="ip", stack_args_from=8)

_AARCH64 = RegisterFile(
    offsets={**{f"x{i}": 8 * i for i in range(31)}, "sp": 248, "pc": 256, "pstate": 264},
    args=tuple(f"x{i}" for i in range(8)), ret="x0", sp="sp", ip="pc", stack_args_from=0)

REGISTER_FILES = {"x86_64": _X86_64, "aarch64": _AARCH64}


def register_file(machine: Optional[str] = None) -> Optional[RegisterFile]:
    return REGISTER_FILES.get(machine or platform.machine())


def read_register(name: str) -> str:
    """C that reads one register of the probe's context."""
    return f"(*(u64 *)((char *)ctx + {register_file().offsets[name]}))"


def _register_builtin(name: str, register: str, doc: str) -> Builtin:
    return Builtin(name, UINT64, lambda gen: read_register(register), doc, in_loops=False)


def _stack_arg_builtin(name: str, index: int, user: bool) -> Builtin:
    regs = register_file()
    where = "user" if user else "kernel"

    def emit(gen) -> str:
        value = gen.temp("u64 {} = 0")
        offset = regs.stack_args_from + 8 * index
        gen.line(f"bpf_probe_read_{where}(&{value}, 8, (void *)({read_register(regs.sp)} + "
                 f"{offset}));")
        return value

    return Builtin(name, UINT64, emit, f"stack argument {index}", in_loops=False)


def traced_function_builtin() -> Builtin:
    """``func`` in a kernel function's probe: its address from the kernel
    (bpf_get_func_ip), named from kallsyms when printed, so that it is a ksym as in bpftrace
    and mixes with ksym() values in one map."""
    typ = SymbolicType("ksym", 1)

    def emit(gen) -> str:
        record = gen.buffer(typ, zeroed=False)
        gen.line(f"{record}->w[0] = bpf_get_func_ip(ctx);")
        return record

    return Builtin("func", typ, emit, "the traced function", in_loops=False)


def function_builtin(name: str, *, entry: bool, user: bool) -> Optional[Builtin]:
    """``argN``, ``sargN`` (0.17's stack arguments) at a function's entry, ``retval`` at its
    return: the registers of the calling convention."""
    regs = register_file()
    if regs is None:
        return None
    if entry and name.startswith("arg") and name[3:].isdigit():
        index = int(name[3:])
        if index < len(regs.args):
            return _register_builtin(name, regs.args[index], f"argument {index}")
    elif entry and name.startswith("sarg") and name[4:].isdigit():
        return _stack_arg_builtin(name, int(name[4:]), user)
    elif not entry and name == "retval":
        return _register_builtin(name, regs.ret, "the value the function returned")
    return None
