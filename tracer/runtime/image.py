"""A compiled program as data: what loading it needs, with no compiler at hand.

BCC compiles the generated C, creates the maps and leaves each function's instructions in its
module, with every map reference already pointing at a map's file descriptor. ``from_bcc`` takes
that apart into a ``ProgramImage``: each map's specification (from the kernel's own record of
the map) and each function's instructions, the map references turned back into map numbers.
An image is what the compiled-program cache keeps (``to_bytes`` / ``from_bytes``) and what the
loader loads, so a run from the cache and a run that just compiled load the same way.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
from dataclasses import dataclass

from ..diagnostics import TracerError
from .libbpf import MapInfo, libbpf

BPF_LD_IMM64 = 0x18
BPF_PSEUDO_MAP_FD = 1
INSN = struct.Struct("<BBhi")  # code, dst/src registers, offset, immediate
MAGIC = b"tracer-image-1\n"


class ImageError(Exception):
    """An image that cannot be what it claims to be (a damaged cache entry)."""


@dataclass(frozen=True)
class MapSpec:
    name: str  # BCC's table name, e.g. "tracer_events", "map_0"
    type: int  # BPF_MAP_TYPE_*
    key_size: int
    value_size: int
    max_entries: int
    flags: int


@dataclass(frozen=True)
class FunctionCode:
    name: str
    code: bytes  # the instructions; map references hold 0 until the loader fills them in
    map_refs: tuple[tuple[int, int], ...]  # (instruction index, map number in ``maps``)


@dataclass(frozen=True)
class ProgramImage:
    maps: tuple[MapSpec, ...]
    functions: dict[str, FunctionCode]
    kern_version: int

    def map_number(self, name: str) -> int:
        for i, spec in enumerate(self.maps):
            if spec.name == name:
                return i
        raise KeyError(name)

    # -- serialised form: a JSON header, then every function's instructions ------------------

    def to_bytes(self) -> bytes:
        header = {
            "kern_version": self.kern_version,
            "maps": [[m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags]
                     for m in self.maps],
            "functions": [[f.name, len(f.code), [list(r) for r in f.map_refs]]
                          for f in self.functions.values()],
        }
        text = json.dumps(header, separators=(",", ":")).encode()
        return (MAGIC + struct.pack("<I", len(text)) + text
                + b"".join(f.code for f in self.functions.values()))

    @classmethod
    def from_bytes(cls, data: bytes) -> "ProgramImage":
        """The image in ``data``; ImageError for anything that does not hold together."""
        try:
            if not data.startswith(MAGIC):
                raise ImageError("not an image")
            (length,) = struct.unpack_from("<I", data, len(MAGIC))
            start = len(MAGIC) + 4
            header = json.loads(data[start:start + length])
            position = start + length
            maps = tuple(MapSpec(str(n), *(int(v) for v in rest))
                         for n, *rest in header["maps"])
            functions = {}
            for name, size, refs in header["functions"]:
                code = data[position:position + size]
                if size % 8 or len(code) != size:
                    raise ImageError("truncated instructions")
                position += size
                if str(name) in functions:
                    raise ImageError(f"the function {name} twice")
                map_refs = tuple((int(i), int(m)) for i, m in refs)
                if any(not 0 <= i < size // 8 - 1 or not 0 <= m < len(maps)
                       for i, m in map_refs):
                    raise ImageError("a map reference outside the program")
                functions[str(name)] = FunctionCode(str(name), code, map_refs)
            if position != len(data):
                raise ImageError("trailing bytes")
            return cls(maps, functions, int(header["kern_version"]))
        except ImageError:
            raise
        except (ValueError, KeyError, TypeError, OverflowError, struct.error) as err:
            raise ImageError(str(err)) from None


def from_bcc(module, lib) -> ProgramImage:
    """The image of a program BCC has compiled (``module``: its bpf_module; ``lib``: libbcc)."""
    _declare(lib)
    maps, by_fd = [], {}
    for i in range(lib.bpf_num_tables(module)):
        name = lib.bpf_table_name(module, i).decode()
        fd = lib.bpf_table_fd_id(module, i)
        info = map_info(fd)
        by_fd[fd] = len(maps)
        maps.append(MapSpec(name, info.type, info.key_size, info.value_size, info.max_entries,
                            info.map_flags))
    functions = {}
    for i in range(lib.bpf_num_functions(module)):
        name = lib.bpf_function_name(module, i)
        start = lib.bpf_function_start(module, name)
        code = bytearray(ctypes.string_at(start, lib.bpf_function_size(module, name)))
        refs = []
        for index in range(len(code) // 8 - 1):
            op, regs, off, imm = INSN.unpack_from(code, index * 8)
            if op == BPF_LD_IMM64 and regs >> 4 == BPF_PSEUDO_MAP_FD:
                if imm not in by_fd:
                    raise TracerError("BCC's program refers to a map it did not declare",
                                      hint="this is a tracer bug: run with -d and report it")
                refs.append((index, by_fd[imm]))
                INSN.pack_into(code, index * 8, op, regs, off, 0)
        functions[name.decode()] = FunctionCode(name.decode(), bytes(code), tuple(refs))
    return ProgramImage(tuple(maps), functions, lib.bpf_module_kern_version(module))


def map_info(fd: int) -> MapInfo:
    """The kernel's record of a map: its type, sizes and flags as created."""
    info = MapInfo()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    if libbpf().bpf_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size)) != 0:
        raise TracerError(f"cannot read a map's description: {os.strerror(ctypes.get_errno())}")
    return info


def _declare(lib) -> None:
    """libbcc's functions that BCC's Python module leaves without a signature."""
    for name, args, result in (("bpf_num_tables", [ctypes.c_void_p], ctypes.c_size_t),
                               ("bpf_table_name", [ctypes.c_void_p, ctypes.c_size_t],
                                ctypes.c_char_p),
                               ("bpf_table_fd_id", [ctypes.c_void_p, ctypes.c_size_t],
                                ctypes.c_int)):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, result
