"""Ask the kernel what it supports by making a tiny BPF object and dropping it at once.

Some facts are written nowhere the kernel lets us read: whether the bpf() syscall works for
this process at all, whether a map type or a helper exists, whether a program type loads.
The only way to know is to try: create a one-entry map or load a two-instruction program,
look at the answer (and the verifier's words), and close the descriptor. Nothing is attached
and nothing outlives the call, so this stays on the read-only side of ``tracer.host``.

The raw syscalls are used rather than libbpf, so that these answers hold even where libbpf
is missing (which is itself one of the gaps ``tracer doctor`` reports).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from dataclasses import dataclass

# Syscall numbers by architecture; neither call has a libc wrapper.
BPF_NR = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280, "ppc64le": 361,
          "s390x": 351, "i686": 357, "armv7l": 386}
PERF_EVENT_OPEN_NR = {"x86_64": 298, "aarch64": 241, "ppc64le": 319, "s390x": 331,
                      "riscv64": 241, "armv7l": 364, "i686": 336}

BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_PROG_TEST_RUN = 0, 5, 10
ATTR_SIZE = 128  # of union bpf_attr: larger than any command here fills, zeroed past that

# Instructions, each 8 bytes: opcode, registers, offset, immediate.
MOV_R0_0 = struct.pack("<BBhi", 0xB7, 0, 0, 0)
EXIT = struct.pack("<BBhi", 0x95, 0, 0, 0)


def call(helper: int) -> bytes:
    return struct.pack("<BBhi", 0x85, 0, 0, helper)


@dataclass(frozen=True)
class Answer:
    """What the kernel said: a descriptor (already closed) or an errno, and the verifier log."""

    errno: int = 0
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.errno == 0


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(table: dict[str, int], *args) -> tuple[int, int]:
    """(result, errno) of a raw syscall; ENOSYS on an architecture we have no number for."""
    number = table.get(platform.machine())
    if number is None:
        return -1, 38  # ENOSYS
    result = _libc.syscall(ctypes.c_long(number), *args)
    return result, (ctypes.get_errno() if result < 0 else 0)


def bpf(cmd: int, attr: bytes) -> tuple[int, int]:
    """bpf(cmd, attr): (result, errno)."""
    buf = ctypes.create_string_buffer(attr.ljust(ATTR_SIZE, b"\0"), ATTR_SIZE)
    return _syscall(BPF_NR, ctypes.c_int(cmd), buf, ctypes.c_uint(ATTR_SIZE))


def _closed(fd: int, err: int, log: str = "") -> Answer:
    if fd >= 0:
        os.close(fd)
    return Answer(err, log)


def create_map(map_type: int, key_size: int, value_size: int, max_entries: int) -> Answer:
    """Create a map of this type and drop it."""
    fd, err = bpf(BPF_MAP_CREATE, struct.pack("<IIII", map_type, key_size, value_size,
                                              max_entries))
    return _closed(fd, err)


def load_program(prog_type: int, insns: bytes, *, attach_type: int = 0, attach_btf_id: int = 0,
                 then_test_run: bool = False) -> Answer:
    """Load a program (with the verifier's log), optionally run it once, and drop it."""
    log = ctypes.create_string_buffer(4096)
    code = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"GPL")
    attr = bytearray(ATTR_SIZE)
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    struct.pack_into("<IIQQIIQ", attr, 0, prog_type, len(insns) // 8, ctypes.addressof(code),
                     ctypes.addressof(license), 1, len(log), ctypes.addressof(log))
    struct.pack_into("<16s", attr, 48, b"tracer_probe")  # prog_name
    struct.pack_into("<I", attr, 68, attach_type)  # expected_attach_type
    struct.pack_into("<I", attr, 108, attach_btf_id)
    fd, err = bpf(BPF_PROG_LOAD, bytes(attr))
    text = log.value.decode(errors="replace")
    if fd >= 0 and then_test_run:
        _, err = bpf(BPF_PROG_TEST_RUN, struct.pack("<I", fd))  # test.prog_fd, nothing else
    return _closed(fd, err, text)


def open_perf_event(perf_type: int, config: int) -> Answer:
    """Open one disabled counting event on CPU 0 for every task, and close it."""
    attr = bytearray(112)  # PERF_ATTR_SIZE_VER5
    # type, size, config, sample_period, sample_type, read_format, flags (bit 0: disabled)
    struct.pack_into("<IIQQQQQ", attr, 0, perf_type, len(attr), config, 0, 0, 0, 1)
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    fd, err = _syscall(PERF_EVENT_OPEN_NR, buf, ctypes.c_int(-1), ctypes.c_int(0),
                       ctypes.c_int(-1), ctypes.c_ulong(1 << 3))  # PERF_FLAG_FD_CLOEXEC
    return _closed(fd, err)

