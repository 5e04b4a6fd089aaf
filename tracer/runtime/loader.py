"""Load a compiled program (``image.ProgramImage``) into the kernel: its maps, then each probe
site's function, with every placeholder in the instructions filled in.

The instructions leave three kinds of placeholder (see ``tracer.codegen.markers``):

* a *map reference*: BCC compiled a reference to one of the program's maps; the image knows
  which (``FunctionCode.map_refs``), and it becomes the fd of that map as created for this run.
* a *load-time constant* (``cpid`` ...): a 64-bit immediate load of a marker value becomes a
  load of the value itself, known only when the run starts. The C does not depend on it, so a
  program compiles once whatever the child's pid is.
* a *callback reference* (the body of a ``for`` loop, run by ``bpf_loop`` or
  ``bpf_for_each_map_elem``): BCC cannot link a function whose address is taken, so each
  callback is compiled as a function of its own, appended after the probe's instructions, and
  the marker becomes a ``BPF_PSEUDO_FUNC`` reference to it. The kernel then wants BTF that
  names every function; it is made here with libbpf's BTF writer.
"""

from __future__ import annotations

import ctypes
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

from ..codegen.markers import CALLBACK_TAG, CONSTANT_TAG, MAP_TAG
from ..diagnostics import KernelRefusal, TracerError
from .image import BPF_LD_IMM64, BPF_PSEUDO_MAP_FD, INSN, FunctionCode, ProgramImage
from .libbpf import MapCreateOpts, ProgLoadOpts, libbpf

BPF_PSEUDO_FUNC = 4
LOG_SIZE = 1 << 24


# The kernel's number for each program type a provider names (enum bpf_prog_type).
PROG_TYPES = {"KPROBE": 2, "TRACEPOINT": 5, "PERF_EVENT": 7, "RAW_TRACEPOINT": 17,
              "TRACING": 26}


@dataclass
class SiteLoad:
    """What to load for one probe site: its function and the callbacks it references."""

    name: str
    prog_type: int
    callbacks: list[str] = field(default_factory=list)
    constants: dict[int, int] = field(default_factory=dict)  # marker index -> value
    maps: dict[int, int] = field(default_factory=dict)  # map resource index -> its fd
    # ProgLoadOpts fields the probe type needs set (fentry: expected_attach_type and
    # attach_btf_id).
    attributes: dict[str, int] = field(default_factory=dict)


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


def create_maps(image: ProgramImage, sizes: dict[str, int]) -> dict[str, int]:
    """Every map of the program, created empty; their fds by name. ``sizes`` overrides the
    compiled size of some (the ring buffer's is chosen at run time). On failure none is left."""
    lib = libbpf()
    fds: dict[str, int] = {}
    for spec in image.maps:
        opts = MapCreateOpts(sz=ctypes.sizeof(MapCreateOpts), map_flags=spec.flags)
        size = sizes.get(spec.name, spec.max_entries)
        fd = lib.bpf_map_create(spec.type, spec.name[:15].encode(), spec.key_size,
                                spec.value_size, size, ctypes.byref(opts))
        if fd < 0:
            err = ctypes.get_errno()
            for other in fds.values():
                os.close(other)
            raise KernelRefusal(f"the kernel refused to create the map {spec.name}: "
                                f"{os.strerror(err)}",
                                hint="lower max_map_keys or perf_rb_pages if memory is short")
        fds[spec.name] = fd
    return fds


def resolve_maps(function: FunctionCode, image: ProgramImage, fds: dict[str, int]) -> bytes:
    """A function's instructions with each map reference holding its map's fd."""
    code = bytearray(function.code)
    for index, number in function.map_refs:
        op, regs, off, _ = INSN.unpack_from(code, index * 8)
        INSN.pack_into(code, index * 8, op, regs, off, fds[image.maps[number].name])
    return bytes(code)


def load(image: ProgramImage, fds: dict[str, int], site: SiteLoad) -> int:
    """Load one site's program; returns its fd. Raises LoadError with the verifier's log."""
    def code_of(name: str) -> bytes:
        function = image.functions.get(name)
        if function is None:
            raise TracerError(f"BCC compiled no function {name}",
                              hint="this is a tracer bug: run with -d to see the C and report "
                                   "it")
        return resolve_maps(function, image, fds)

    main = code_of(site.name)
    callbacks = [code_of(name) for name in site.callbacks]
    code = link(main, callbacks, site.constants, site.maps)
    if not callbacks:
        return _load(site, code, None, image.kern_version)
    btf = _function_btf([site.name, *site.callbacks])
    try:
        lengths = [len(main) // 8, *(len(c) // 8 for c in callbacks)]
        starts = [sum(lengths[:i]) for i in range(len(lengths))]
        return _load(site, code, (libbpf().btf__fd(btf.handle), starts, btf.type_ids),
                     image.kern_version)
    finally:
        libbpf().btf__free(btf.handle)


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


# ---- BTF that names the functions, and the load itself ------------------------------------

BTF_FUNC_STATIC, BTF_FUNC_GLOBAL = 0, 1


class _FunctionBTF:
    def __init__(self, handle, type_ids: list[int]):
        self.handle, self.type_ids = handle, type_ids


def _function_btf(names: list[str]) -> "_FunctionBTF":
    """BTF naming each function of a program made of several (the kernel needs it then), loaded
    into the kernel."""
    lib = libbpf()
    btf = lib.btf__new_empty()
    if not btf:
        raise TracerError("libbpf could not create BTF for a program with loops")
    long_t = lib.btf__add_int(btf, b"long", 8, 1)
    proto = lib.btf__add_func_proto(btf, long_t)
    lib.btf__add_func_param(btf, b"arg", long_t)
    type_ids = [lib.btf__add_func(btf, name.encode(),
                                  BTF_FUNC_GLOBAL if i == 0 else BTF_FUNC_STATIC, proto)
                for i, name in enumerate(names)]
    if lib.btf__load_into_kernel(btf) != 0:
        lib.btf__free(btf)
        raise LoadError("the kernel refused the program's BTF", "")
    return _FunctionBTF(btf, type_ids)


def _load(site: SiteLoad, code: bytes, btf, kern_version: int) -> int:
    """bpf_prog_load, with the functions' BTF if there are several; on a refusal, once more
    with the verifier's log on, to say why (a log slows the verifier, and one too long for its
    buffer fails the load, so it is only asked for then)."""
    lib = libbpf()
    opts = ProgLoadOpts(sz=ctypes.sizeof(ProgLoadOpts), kern_version=kern_version,
                        **site.attributes)
    if btf is not None:
        btf_fd, starts, type_ids = btf
        records = [v for pair in zip(starts, type_ids) for v in pair]
        func_info = (ctypes.c_uint32 * len(records))(*records)
        opts.prog_btf_fd = btf_fd
        opts.func_info = ctypes.cast(func_info, ctypes.c_void_p)
        opts.func_info_cnt, opts.func_info_rec_size = len(type_ids), 8
    name = site.name[:15].encode()
    fd = lib.bpf_prog_load(site.prog_type, name, b"GPL", code, len(code) // 8,
                           ctypes.byref(opts))
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    log = ctypes.create_string_buffer(LOG_SIZE)
    opts.log_level, opts.log_size = 1, LOG_SIZE
    opts.log_buf = ctypes.cast(log, ctypes.c_char_p)
    lib.bpf_prog_load(site.prog_type, name, b"GPL", code, len(code) // 8, ctypes.byref(opts))
    raise LoadError(os.strerror(err), log.value.decode(errors="replace"))
