"""Load a probe function compiled by BCC into the kernel, finishing its instructions first.

BCC compiles the C and creates the maps; tracer takes each probe function's instructions from
BCC and patches two kinds of placeholder the generated C leaves in them (see
``tracer.codegen.markers``) before loading:

* a *load-time constant* (``cpid`` ...): a 64-bit immediate load of a marker value becomes a
  load of the value itself, known only when the run starts. The C does not depend on it, so a
  program compiles once whatever the child's pid is.
* a *callback reference* (the body of a ``for`` loop, run by ``bpf_loop`` or
  ``bpf_for_each_map_elem``): BCC cannot link a function whose address is taken, so each
  callback is compiled as a function of its own, appended after the probe's instructions, and
  the marker becomes a ``BPF_PSEUDO_FUNC`` reference to it. The kernel then wants BTF that
  names every function; it is made here with libbpf's BTF writer.

Programs without callbacks are loaded through BCC's own ``bcc_func_load``, which keeps BCC's
BTF line information in the verifier's messages.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

from ..codegen.markers import CALLBACK_TAG, CONSTANT_TAG, MAP_TAG
from ..diagnostics import TracerError
from .libbpf import ProgLoadOpts, libbpf

BPF_LD_IMM64 = 0x18
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_FUNC = 4
INSN = struct.Struct("<BBhi")  # code, dst/src registers, offset, immediate
LOG_SIZE = 1 << 24


@dataclass
class ProgramImage:
    """What to load for one probe site: its function and the callbacks it references."""

    name: str
    prog_type: int
    callbacks: list[str] = field(default_factory=list)
    constants: dict[int, int] = field(default_factory=dict)  # marker index -> value
    maps: dict[int, int] = field(default_factory=dict)  # map index -> its fd


class LoadError(Exception):
    def __init__(self, message: str, log: str):
        super().__init__(message)
        self.log = log


def link(main: bytes, callbacks: list[bytes], constants: dict[int, int],
         maps: Optional[dict[int, int]] = None) -> bytes:
    """The probe's instructions followed by its callbacks', every marker resolved."""
    starts, position = [], len(main) // 8
    for code in callbacks:
        starts.append(position)
        position += len(code) // 8
    code = bytearray(main + b"".join(callbacks))
    for i in range(len(code) // 8 - 1):
        op, regs, off, low = INSN.unpack_from(code, i * 8)
        if op != BPF_LD_IMM64 or regs >> 4 != 0:
            continue
        high = INSN.unpack_from(code, (i + 1) * 8)[3] & 0xFFFFFFFF
        if high == CALLBACK_TAG:
            INSN.pack_into(code, i * 8, op, (regs & 0xF) | BPF_PSEUDO_FUNC << 4, off,
                           starts[low] - (i + 1))
            _set_imm(code, i + 1, 0)
        elif high == CONSTANT_TAG:
            value = constants[low] & 0xFFFFFFFFFFFFFFFF
            _set_imm(code, i, _s32(value & 0xFFFFFFFF))
            _set_imm(code, i + 1, _s32(value >> 32))
        elif high == MAP_TAG:
            INSN.pack_into(code, i * 8, op, (regs & 0xF) | BPF_PSEUDO_MAP_FD << 4, off,
                           (maps or {})[low])
            _set_imm(code, i + 1, 0)
    return bytes(code)


def _set_imm(code: bytearray, index: int, imm: int) -> None:
    op, regs, off, _ = INSN.unpack_from(code, index * 8)
    INSN.pack_into(code, index * 8, op, regs, off, imm)


def _s32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def load(bpf, lib, image: ProgramImage) -> int:
    """Load one site's program; returns its fd. Raises LoadError with the verifier's log."""
    main = _dump(bpf, lib, image.name)
    callbacks = [_dump(bpf, lib, name) for name in image.callbacks]
    code = link(main, callbacks, image.constants, image.maps)
    if callbacks:
        return _load_with_btf(image, code, [len(main) // 8, *(len(c) // 8 for c in callbacks)])
    def load_once(log_level: int, log) -> int:
        return lib.bcc_func_load(bpf.module, image.prog_type, image.name.encode(), code,
                                 len(code), lib.bpf_module_license(bpf.module),
                                 lib.bpf_module_kern_version(bpf.module), log_level, log,
                                 LOG_SIZE if log is not None else 0, None, -1)

    # On a refusal BCC complains on stderr in its own words (and sometimes retries itself);
    # that is kept out of sight, and the verifier's log asked for once more, to explain.
    with capture_stderr():
        fd = load_once(0, None)
        err = ctypes.get_errno()
        if fd >= 0:
            return fd
        log = ctypes.create_string_buffer(LOG_SIZE)
        load_once(1, log)
    raise LoadError(os.strerror(err), log.value.decode(errors="replace"))


@contextmanager
def capture_stderr():
    """Whatever native code writes to file descriptor 2 meanwhile is dropped."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def explain(err: LoadError) -> tuple[str, str]:
    """(the verifier's last words, a hint) for a refused program, from its log."""
    lines = [line for line in err.log.splitlines() if line.strip()
             and not line.startswith(("bpf: ", "processed ", "verification time"))]
    last = "\n".join(lines[-3:])
    for marker, hint in REFUSALS:
        if marker in err.log:
            return last, hint
    return last, "run with -v for the verifier's whole log, and -d for the generated C"


# What the verifier's log says -> what to do about it.
REFUSALS = [
    ("BPF program is too large", "the verifier could not follow every path to the end: a while "
     "loop needs a bound it can see (compare with a constant), or use for ($i : a..b)"),
    ("infinite loop detected", "a while loop must visibly end: compare its variable with a "
     "constant, or use for ($i : a..b)"),
    ("back-edge", "a loop the verifier cannot bound: use for ($i : a..b)"),
    ("combined stack size", "the probe uses too much stack: lower max_strlen, or split it"),
]


def _dump(bpf, lib, name: str) -> bytes:
    start = lib.bpf_function_start(bpf.module, name.encode())
    if not start:
        raise TracerError(f"BCC compiled no function {name}",
                          hint="this is a tracer bug: run with -d to see the C and report it")
    return ctypes.string_at(start, lib.bpf_function_size(bpf.module, name.encode()))


# ---- BTF that names the functions, and the load itself ------------------------------------

BTF_FUNC_STATIC, BTF_FUNC_GLOBAL = 0, 1


def _load_with_btf(image: ProgramImage, code: bytes, lengths: list[int]) -> int:
    """Load a program made of several functions: the kernel needs BTF func_info for each."""
    lib = libbpf()
    btf = lib.btf__new_empty()
    if not btf:
        raise TracerError("libbpf could not create BTF for a program with loops")
    try:
        long_t = lib.btf__add_int(btf, b"long", 8, 1)
        proto = lib.btf__add_func_proto(btf, long_t)
        lib.btf__add_func_param(btf, b"arg", long_t)
        names = [image.name, *image.callbacks]
        type_ids = [lib.btf__add_func(btf, name.encode(),
                                      BTF_FUNC_GLOBAL if i == 0 else BTF_FUNC_STATIC, proto)
                    for i, name in enumerate(names)]
        if lib.btf__load_into_kernel(btf) != 0:
            raise LoadError("the kernel refused the program's BTF", "")
        starts, position = [], 0
        for length in lengths:
            starts.append(position)
            position += length
        records = [v for pair in zip(starts, type_ids) for v in pair]
        func_info = (ctypes.c_uint32 * len(records))(*records)
        opts = ProgLoadOpts(sz=ctypes.sizeof(ProgLoadOpts), prog_btf_fd=lib.btf__fd(btf),
                         func_info=ctypes.cast(func_info, ctypes.c_void_p),
                         func_info_cnt=len(names), func_info_rec_size=8)
        fd = lib.bpf_prog_load(image.prog_type, image.name.encode(), b"GPL", code,
                               len(code) // 8, ctypes.byref(opts))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        # Load again with the verifier's log on, to say why (a log slows the verifier, and
        # one too long for its buffer fails the load, so it is only asked for now).
        log = ctypes.create_string_buffer(LOG_SIZE)
        opts.log_level, opts.log_size = 1, LOG_SIZE
        opts.log_buf = ctypes.cast(log, ctypes.c_char_p)
        lib.bpf_prog_load(image.prog_type, image.name.encode(), b"GPL", code, len(code) // 8,
                          ctypes.byref(opts))
        raise LoadError(os.strerror(err), log.value.decode(errors="replace"))
    finally:
        lib.btf__free(btf)
