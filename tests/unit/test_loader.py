"""The loader's patching of placeholders in BCC's instructions (no kernel needed)."""

from __future__ import annotations

import struct

from tracer.codegen import markers
from tracer.runtime.loader import BPF_LD_IMM64, BPF_PSEUDO_FUNC, INSN, link


def ld_imm64(dst: int, value: int) -> bytes:
    low, high = value & 0xFFFFFFFF, value >> 32
    signed = lambda v: v - (1 << 32) if v >= 1 << 31 else v  # noqa: E731
    return INSN.pack(BPF_LD_IMM64, dst, 0, signed(low)) + INSN.pack(0, 0, 0, signed(high))


EXIT = INSN.pack(0x95, 0, 0, 0)
MOV_R0_0 = INSN.pack(0xB7, 0, 0, 0)


def insns(code: bytes) -> list[tuple[int, int, int, int]]:
    return [INSN.unpack_from(code, i) for i in range(0, len(code), 8)]


def test_a_constant_marker_becomes_the_value():
    main = ld_imm64(3, markers.CONSTANT_TAG << 32 | markers.CPID) + EXIT
    code = insns(link(main, [], {markers.CPID: 0x1_2345_6789}))
    op, regs, _, low = code[0]
    assert (op, regs) == (BPF_LD_IMM64, 3)
    assert low & 0xFFFFFFFF == 0x2345_6789 and code[1][3] == 1


def test_a_negative_constant_fills_both_halves():
    main = ld_imm64(1, markers.CONSTANT_TAG << 32 | 0) + EXIT
    code = insns(link(main, [], {0: -2}))
    assert code[0][3] & 0xFFFFFFFF == 0xFFFFFFFE and code[1][3] & 0xFFFFFFFF == 0xFFFFFFFF


def test_a_callback_marker_becomes_a_function_reference():
    main = MOV_R0_0 + ld_imm64(2, markers.CALLBACK_TAG << 32 | 1) + EXIT  # 4 instructions
    first, second = MOV_R0_0 + EXIT, MOV_R0_0 + MOV_R0_0 + EXIT  # at 4 and at 6
    code = insns(link(main, [first, second], {}))
    op, regs, _, imm = code[1]
    assert op == BPF_LD_IMM64 and regs == 2 | BPF_PSEUDO_FUNC << 4
    assert 1 + 1 + imm == 6  # relative to the instruction after the ld_imm64's first half
    assert code[2][3] == 0
    assert len(code) == 4 + 2 + 3


def test_ordinary_immediates_are_left_alone():
    main = ld_imm64(1, 0x7ACE7ACE) + ld_imm64(2, 5 << 32 | 7) + EXIT
    assert link(main, [], {}) == main


def test_map_references_are_left_alone():
    # BCC has already put map fds in (src register BPF_PSEUDO_MAP_FD = 1).
    main = bytearray(ld_imm64(1, markers.CONSTANT_TAG << 32))
    struct.pack_into("<B", main, 1, 1 | 1 << 4)
    assert link(bytes(main) + EXIT, [], {0: 99}) == bytes(main) + EXIT


def test_a_map_marker_becomes_a_map_fd_reference():
    main = ld_imm64(1, markers.MAP_TAG << 32 | 2) + EXIT
    code = insns(link(main, [], {}, {2: 41}))
    op, regs, _, imm = code[0]
    assert (op, regs, imm) == (BPF_LD_IMM64, 1 | 1 << 4, 41)  # src register BPF_PSEUDO_MAP_FD
    assert code[1][3] == 0


def test_a_refusal_is_explained_by_the_logs_last_words_and_a_hint():
    from tracer.runtime.loader import LoadError, explain
    log = ("0: (b7) r6 = 0\nbpf: Argument list too long\n1: (07) r6 += 1\n"
           "2: (85) call bpf_ktime_get_ns#5\n3: (6d) if r0 s> r6 goto pc-3 BPF program is too "
           "large. Processed 1000001 insn\nprocessed 1000001 insns (limit 1000000)\n")
    last, hint = explain(LoadError("Argument list too long", log))
    assert last.splitlines() == ["1: (07) r6 += 1", "2: (85) call bpf_ktime_get_ns#5",
                                 "3: (6d) if r0 s> r6 goto pc-3 BPF program is too large. "
                                 "Processed 1000001 insn"]
    assert "while loop" in hint
    _, hint = explain(LoadError("Permission denied", "R1 invalid mem access 'scalar'\n"))
    assert "-v" in hint
