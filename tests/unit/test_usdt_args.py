"""USDT argument specs (``-4@%edi``, ``8@-16(%rbp)``, ``4@$5`` ...): how each is parsed, what it
means (size, sign, where the value is), and the C that reads it as bpftrace 0.26 types it."""

from __future__ import annotations

import pytest

from tracer.providers.registers import register_file
from tracer.providers.usdt_args import ArgSpecError, Constant, Memory, Register, UsdtArg, \
    arg_builtin, parse_arg_spec
from tracer.types import INT64


def parsed(spec: str) -> UsdtArg:
    return parse_arg_spec(spec, "x86_64")


@pytest.mark.parametrize("spec, size, signed, operand", [
    ("-4@%edi", 4, True, Register("di")),
    ("8@%rax", 8, False, Register("ax")),
    ("-8@%rdx", 8, True, Register("dx")),
    ("2@%cx", 2, False, Register("cx")),
    ("1@%bl", 1, False, Register("bx")),
    ("-1@%dil", 1, True, Register("di")),
    ("1@%ah", 1, False, Register("ax", 8)),
    ("4@%r11d", 4, False, Register("r11")),
    ("2@%r8w", 2, False, Register("r8")),
    ("-1@%r15b", 1, True, Register("r15")),
    ("8@%r9", 8, False, Register("r9")),
    ("4@$5", 4, False, Constant(5)),
    ("-4@$-3", 4, True, Constant(-3)),
    ("8@$0x10", 8, False, Constant(16)),
    ("8@$010", 8, False, Constant(8)),  # the assembler's octal
    ("8@-16(%rbp)", 8, False, Memory("bp", -16)),
    ("-4@(%rsp)", 4, True, Memory("sp", 0)),
    ("-8@8(%rsp)", 8, True, Memory("sp", 8)),
    ("4@0x20(%rdi)", 4, False, Memory("di", 32)),
    ("8@-8(%rbx,%rcx,8)", 8, False, Memory("bx", -8, "cx", 8)),
    ("2@(%rax,%r12d)", 2, False, Memory("ax", 0, "r12", 1)),
    ("%rsi", 8, False, Register("si")),  # an old sdt.h wrote no size
])
def test_specs_parse_into_size_sign_and_operand(spec, size, signed, operand):
    assert parsed(spec) == UsdtArg(size, signed, operand, spec)


@pytest.mark.parametrize("spec, reason", [
    ("3@%eax", "size of 3 bytes"),
    ("x@%eax", "does not start with the argument's size"),
    ("8@%xmm0", "register %xmm0"),
    ("8@tk_count(%rip)", "not a register, a constant or register-relative memory"),
    ("8@16(%rip)", "relative to %rip"),
    ("8@%fs:40", "%fs:40 in .* is not one tracer can read"),
    ("4@$five", "not a number"),
    ("8@-8(%rbp,%nope,4)", "register %nope"),
])
def test_specs_tracer_cannot_read_say_why(spec, reason):
    with pytest.raises(ArgSpecError, match=reason.replace("$", r"\$")):
        parsed(spec)


def test_other_architectures_are_refused_by_name():
    with pytest.raises(ArgSpecError, match="x86_64 only, not aarch64"):
        parse_arg_spec("-4@[sp, 12]", "aarch64")


class FakeGen:
    """What a builtin's emit needs of the code generator: temporaries and lines."""

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0

    def temp(self, declaration: str) -> str:
        name = f"t{self.count}"
        self.count += 1
        self.line(declaration.replace("{}", name, 1) + ";")
        return name

    def line(self, text: str) -> None:
        self.lines.append(text)


def emitted(spec: str) -> tuple[str, list[str]]:
    gen = FakeGen()
    builtin = arg_builtin("arg0", parsed(spec))
    assert builtin.type == INT64  # bpftrace 0.26: every usdt argument is an int64
    return builtin.emit(gen), gen.lines


@pytest.mark.skipif(register_file() is None or register_file().offsets.get("di") != 112,
                    reason="the x86_64 pt_regs layout")
@pytest.mark.parametrize("spec, expression", [
    # The low bytes of the register, sign- or zero-extended to 64 bits.
    ("-4@%edi", "((s64)(s32)((*(u64 *)((char *)ctx + 112))))"),
    ("4@%edi", "((s64)(u32)((*(u64 *)((char *)ctx + 112))))"),
    ("-8@%rdi", "((s64)((*(u64 *)((char *)ctx + 112))))"),
    ("1@%ah", "((s64)(u8)((*(u64 *)((char *)ctx + 80)) >> 8))"),
    ("-2@%r8w", "((s64)(s16)((*(u64 *)((char *)ctx + 72))))"),
])
def test_registers_are_read_from_the_context_and_extended(spec, expression):
    assert emitted(spec) == (expression, [])


@pytest.mark.parametrize("spec, value", [
    ("4@$5", 5),
    ("-4@$-3", -3),
    ("4@$-1", 0xFFFFFFFF),  # unsigned: zero-extended
    ("-1@$255", -1),  # signed: the low byte, sign-extended
    ("-8@$-9223372036854775808", -(1 << 63)),
])
def test_constants_are_their_value_at_their_size(spec, value):
    text, lines = emitted(spec)
    assert lines == []
    assert text == f"((s64){value & ((1 << 64) - 1):#x}ULL)"


@pytest.mark.skipif(register_file() is None or register_file().offsets.get("bp") != 32,
                    reason="the x86_64 pt_regs layout")
def test_memory_is_read_from_user_space_at_register_plus_offset():
    text, lines = emitted("-4@-16(%rbp)")
    assert lines == ["u64 t0 = 0;",
                     "bpf_probe_read_user(&t0, 4, (void *)((*(u64 *)((char *)ctx + 32)) + "
                     "(-16LL)));"]
    assert text == "((s64)(s32)(t0))"


def test_memory_with_an_index_register_adds_it_scaled():
    _, lines = emitted("8@8(%rbx,%rcx,4)")
    cx = register_file().offsets["cx"]
    assert lines[1].endswith(f"+ (8LL) + (*(u64 *)((char *)ctx + {cx})) * 4));")
    assert "8, (void *)" in lines[1]


def test_register_and_memory_arguments_are_not_for_loop_builtins():
    # A for loop's body runs as a callback without the probe's registers.
    assert not arg_builtin("arg0", parsed("8@%rax")).in_loops
    assert not arg_builtin("arg0", parsed("8@8(%rsp)")).in_loops
    assert arg_builtin("arg0", parsed("4@$5")).in_loops
