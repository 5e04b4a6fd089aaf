"""The running kernel's BTF, read through libbpf: the functions fentry and fexit attach to, with
their parameters' names and types, and the generic access the kernel-types work builds on
(records by id, lookups by name, module BTF split on vmlinux, one-pass scans of the raw blob,
and libbpf's C dumper).

libbpf parses /sys/kernel/btf/vmlinux once per process (tens of milliseconds, and only when a
probe needs it). Turning BTF into the language's types is ``cdefs.btf_types``' job.
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
from dataclasses import dataclass
from typing import NamedTuple, Optional

VMLINUX = "/sys/kernel/btf/vmlinux"
MODULES_DIR = "/sys/kernel/btf"

# enum btf_kind
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, \
    FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(1, 20)
# C's own spelling of a type BTF names otherwise, as bpftrace shows it.
C_NAMES = {"_Bool": "bool"}
# Kinds that only qualify or rename the type they point to.
TRANSPARENT = {TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG}
# How many 32-bit words follow a type's 12-byte header: a fixed part, plus one part per vlen
# entry (struct members and enum64 values are 3 words, enum values and parameters 2).
_FIXED_WORDS = {INT: 1, ARRAY: 3, VAR: 1, DECL_TAG: 1}
_VLEN_WORDS = {STRUCT: 3, UNION: 3, ENUM: 2, FUNC_PROTO: 2, DATASEC: 3, ENUM64: 3}
# The same, indexed by the info word's top byte (kind and kflag together), for the scan's loop.
_STEP_FIXED = [3 + _FIXED_WORDS.get(top & 0x1F, 0) for top in range(256)]
_STEP_VLEN = [_VLEN_WORDS.get(top & 0x1F, 0) for top in range(256)]
# The kinds a scan collects names of (for listings) besides enumerators.
_NAMED_KINDS = frozenset({STRUCT, UNION, ENUM, ENUM64})

_P, _I, _U32, _S = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_char_p
_SIGNATURES = {
    "btf__load_vmlinux_btf": ([], _P),
    "btf__parse": ([_S, _P], _P),
    "btf__parse_split": ([_S, _P], _P),
    "btf__free": ([_P], None),
    "btf__find_by_name_kind": ([_P, _S, _U32], _I),
    "btf__type_by_id": ([_P, _U32], _P),
    "btf__name_by_offset": ([_P, _U32], _S),
    "btf__type_cnt": ([_P], _U32),
    "btf__align_of": ([_P, _U32], _I),
    "btf__raw_data": ([_P, ctypes.POINTER(_U32)], _P),
    "btf_dump__new": ([_P, _P, _P, _P], _P),
    "btf_dump__dump_type": ([_P, _U32], _I),
    "btf_dump__free": ([_P], None),
}
_LIBC_SIGNATURES = {
    "open_memstream": ([ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_size_t)], _P),
    "fclose": ([_P], _I),
    "free": ([_P], None),
}


def _pointer_ok(pointer) -> bool:
    """libbpf 1.x returns NULL on failure; 0.x an error code disguised as a pointer."""
    return bool(pointer) and pointer <= (1 << 64) - 4096


@functools.lru_cache(maxsize=1)
def _libbpf():
    try:
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError:
        return None
    for name, (args, result) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, result
    return lib


@functools.lru_cache(maxsize=1)
def _libc():
    libc = ctypes.CDLL(None)
    for name, (args, result) in _LIBC_SIGNATURES.items():
        fn = getattr(libc, name)
        fn.argtypes, fn.restype = args, result
    return libc


class _BtfType(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("info", ctypes.c_uint32),
                ("size_or_type", ctypes.c_uint32)]


class _Param(ctypes.Structure):
    _fields_ = [("name_off", ctypes.c_uint32), ("type", ctypes.c_uint32)]


@dataclass(frozen=True)
class ValueType:
    """What a parameter or return value is, as far as a probe reads it."""

    kind: str  # "int", "pointer", "void", or "other" (a struct passed by value, a float ...)
    size: int = 8
    signed: bool = False
    pointee: str = ""  # for a pointer: the C name of what it points to ("char", "struct file")
    c_name: str = ""  # as C writes it, for listings: "struct file *"


@dataclass(frozen=True)
class Function:
    name: str
    btf_id: int
    params: tuple[tuple[str, ValueType], ...]
    returns: ValueType


class Record(NamedTuple):
    """A type's 12-byte header, unpacked (a tuple: made for every type read, so cheaply)."""

    name: str
    kind: int
    vlen: int
    kflag: bool
    size_or_type: int  # a size for ints, structs, unions, enums, floats; a type id for others


@dataclass
class Scan:
    """What one pass over a BTF blob's raw bytes finds: every enumerator (name -> (value,
    size of its enum in bytes, signed)), first one wins; and the names of every named struct,
    union and enum (ENUM and ENUM64), by kind, in id order."""

    enumerators: dict[bytes, tuple[int, int, bool]]
    names: dict[int, list[str]]
    named_ids: list[tuple[int, int]]  # (id, kind) of each named struct, union and enum, in order


class Btf:
    """One loaded BTF: vmlinux, a module's (split on vmlinux: ``base``), or a file."""

    def __init__(self, handle: int, lib, base: Optional["Btf"] = None, origin: str = "vmlinux"):
        self.handle, self.lib = handle, lib
        self.base, self.origin = base, origin
        self._strings: Optional[bytes] = None

    # --- records by id ------------------------------------------------------------------------

    def type(self, type_id: int) -> _BtfType:
        return ctypes.cast(self.lib.btf__type_by_id(self.handle, type_id),
                           ctypes.POINTER(_BtfType)).contents

    def name(self, offset: int) -> str:
        raw = self.lib.btf__name_by_offset(self.handle, offset)
        return raw.decode("utf-8", "replace") if raw else ""

    def record(self, type_id: int) -> Record:
        name_off, info, size_or_type = struct.unpack(
            "=III", ctypes.string_at(self.lib.btf__type_by_id(self.handle, type_id), 12))
        return Record(self.name(name_off) if name_off else "", info >> 24 & 0x1F,
                      info & 0xFFFF, bool(info >> 31), size_or_type)

    def words(self, type_id: int, count: int) -> tuple[int, ...]:
        """The ``count`` 32-bit words that follow a type's header (an int's encoding, an
        array's element, index type and length, a struct's members three words each ...)."""
        if count == 0:
            return ()
        address = self.lib.btf__type_by_id(self.handle, type_id) + 12
        return struct.unpack(f"={count}I", ctypes.string_at(address, 4 * count))

    @functools.cached_property
    def count(self) -> int:
        """One past the highest type id (base types included for a split BTF)."""
        return self.lib.btf__type_cnt(self.handle)

    @property
    def start_id(self) -> int:
        """The first id this BTF adds to its base (1 for vmlinux or a standalone file)."""
        return self.base.count if self.base is not None else 1

    def find(self, name: str, kind: int) -> int:
        """The id of the first type of this kind and name (in the base first), or 0."""
        type_id = self.lib.btf__find_by_name_kind(self.handle, name.encode(), kind)
        return type_id if type_id > 0 else 0

    def align_of(self, type_id: int) -> int:
        """C's alignment of the type, packed structs included (libbpf works it out)."""
        return max(self.lib.btf__align_of(self.handle, type_id), 1)

    def raw_data(self) -> bytes:
        """The blob as the kernel or the file gave it (its own types only, for a split BTF)."""
        size = ctypes.c_uint32()
        address = self.lib.btf__raw_data(self.handle, ctypes.byref(size))
        return ctypes.string_at(address, size.value) if address else b""

    def free(self) -> None:
        """Release a BTF parsed from a file (never vmlinux's, which lives for the process)."""
        if self.handle:
            self.lib.btf__free(self.handle)
            self.handle = 0

    # --- whole-blob work ----------------------------------------------------------------------

    @property
    def strings(self) -> bytes:
        """The string section, as offsets into it count: a split BTF's follow its base's."""
        if self._strings is None:
            self._strings = self._string_section(self.raw_data())
        return self._strings

    def _string_section(self, raw: bytes) -> bytes:
        own = b""
        if len(raw) >= 24:
            hdr_len, _, _, str_off, str_len = struct.unpack_from("=IIIII", raw, 4)
            own = raw[hdr_len + str_off:hdr_len + str_off + str_len]
        return self.base.strings + own if self.base is not None else own

    @functools.cached_property
    def scan(self) -> Scan:
        """Every enumerator and every struct, union and enum name, in one pass over the raw
        bytes. Python reads a word faster than ctypes can call libbpf for one type, so the
        pass walks the records itself, stepping over each by its kind and vlen (vmlinux's
        125 thousand types take 20 to 35 ms)."""
        raw = self.raw_data()
        enumerators: dict[bytes, tuple[int, int, bool]] = {}
        names: dict[int, list[str]] = {kind: [] for kind in _NAMED_KINDS}
        if len(raw) < 24:
            return Scan(enumerators, names, [])
        hdr_len, type_off, type_len = struct.unpack_from("=III", raw, 4)
        start = hdr_len + type_off
        words = memoryview(raw)[start:start + type_len - type_len % 4].cast("I")
        step_fixed, step_vlen, wanted = _STEP_FIXED, _STEP_VLEN, _NAMED_KINDS
        found = []  # (word index, id) of each struct, union and enum record
        type_id, pos, end = self.start_id, 1, len(words)  # pos: a record's second word
        while pos < end:
            info = words[pos]
            top = info >> 24
            per = step_vlen[top]
            if per:
                if top & 0x1F in wanted:
                    found.append((pos - 1, type_id))
                pos += step_fixed[top] + per * (info & 0xFFFF)
            else:
                pos += step_fixed[top]
            type_id += 1
        if self._strings is None:  # from this copy of the blob: vmlinux's is 5 MB
            self._strings = self._string_section(raw)
        strings = self._strings
        find = strings.find
        named_ids = []
        for at, type_id in found:
            name_off, info, size = words[at], words[at + 1], words[at + 2]
            kind, vlen, signed = info >> 24 & 0x1F, info & 0xFFFF, bool(info >> 31)
            if name_off:
                names[kind].append(
                    strings[name_off:find(b"\0", name_off)].decode("utf-8", "replace"))
                named_ids.append((type_id, kind))
            if kind == ENUM:
                pairs = struct.unpack_from(f"={2 * vlen}{'i' if signed else 'I'}", raw,
                                           start + 4 * (at + 3))
                for i in range(0, 2 * vlen, 2):
                    off = pairs[i]
                    enumerators.setdefault(strings[off:find(b"\0", off)],
                                           (pairs[i + 1], size, signed))
            elif kind == ENUM64:
                for entry in range(at + 3, at + 3 + 3 * vlen, 3):
                    off, value = words[entry], words[entry + 1] | words[entry + 2] << 32
                    if signed and value >> 63:
                        value -= 1 << 64
                    enumerators.setdefault(strings[off:find(b"\0", off)], (value, size, signed))
        return Scan(enumerators, names, named_ids)

    def dump_c(self, type_ids) -> str:
        """libbpf's C (btf_dump) for these types in turn, each preceded by whatever it needs
        declared or defined first and was not emitted already: one dumper for them all, so a
        type is emitted once."""
        libc = _libc()
        buffer, size = ctypes.c_void_p(), ctypes.c_size_t()
        stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
        if not stream:
            return ""
        # The dumper's callback takes (context, format, va_list): vfprintf's own signature, so
        # libbpf writes into the stream with no Python call per piece.
        dumper = self.lib.btf_dump__new(self.handle, _vfprintf(), stream, None)
        try:
            if _pointer_ok(dumper):
                for type_id in type_ids:
                    self.lib.btf_dump__dump_type(dumper, type_id)
                self.lib.btf_dump__free(dumper)
        finally:
            libc.fclose(stream)
        try:
            return ctypes.string_at(buffer.value, size.value).decode("utf-8", "replace")
        finally:
            libc.free(buffer)

    # --- functions, for fentry and raw tracepoints ----------------------------------------------

    def find_function(self, name: str) -> Optional[Function]:
        type_id = self.lib.btf__find_by_name_kind(self.handle, name.encode(), FUNC)
        if type_id <= 0:
            return None
        params, returns = self._prototype(self.type(type_id).size_or_type)
        return Function(name, type_id, params, returns)

    def raw_tracepoint(self, event: str) -> Optional[Function]:
        """A trace event's own arguments, as a raw tracepoint receives them. The kernel's
        __bpf_trace_EVENT function takes the probe's private data, then the arguments, by
        name; where BTF lacks it, the typedef btf_trace_EVENT (a pointer to such a function's
        type) still gives their types."""
        named = self.find_function(f"__bpf_trace_{event}")
        if named is not None and named.params:
            return Function(event, named.btf_id, named.params[1:], named.returns)
        type_id = self.lib.btf__find_by_name_kind(self.handle, f"btf_trace_{event}".encode(),
                                                  TYPEDEF)
        if type_id <= 0:
            return None
        pointer = self.type(self.type(type_id).size_or_type)
        if (pointer.info >> 24) & 0x1F != PTR:
            return None
        params, returns = self._prototype(pointer.size_or_type)
        return Function(event, type_id, params[1:], returns)

    def _prototype(self, proto_id: int) -> tuple[tuple[tuple[str, ValueType], ...], ValueType]:
        """A function prototype's (parameters, return type)."""
        proto = self.type(proto_id)
        count = proto.info & 0xFFFF
        base = ctypes.addressof(proto) + ctypes.sizeof(_BtfType)
        params = []
        for i in range(count):
            p = _Param.from_address(base + i * ctypes.sizeof(_Param))
            if p.type == 0:  # "..." of a variadic function: nothing to name
                continue
            params.append((self.name(p.name_off) or f"arg{i}", self.value_type(p.type)))
        return tuple(params), self.value_type(proto.size_or_type)

    def function_names(self) -> list[str]:
        """Every function BTF describes (what fentry can attach to), sorted."""
        names = []
        for type_id in range(1, self.lib.btf__type_cnt(self.handle)):
            t = self.type(type_id)
            if (t.info >> 24) & 0x1F == FUNC:
                names.append(self.name(t.name_off))
        return sorted(set(names))

    def value_type(self, type_id: int) -> ValueType:
        while type_id:
            t = self.type(type_id)
            kind = (t.info >> 24) & 0x1F
            if kind in TRANSPARENT:
                type_id = t.size_or_type
                continue
            if kind == INT:
                encoding = ctypes.c_uint32.from_address(ctypes.addressof(t) +
                                                        ctypes.sizeof(_BtfType)).value
                name = C_NAMES.get(self.name(t.name_off), self.name(t.name_off))
                return ValueType("int", t.size_or_type, bool(encoding >> 24 & 1), c_name=name)
            if kind in (ENUM, ENUM64):
                return ValueType("int", t.size_or_type, False, c_name=self._c_name(type_id))
            if kind == PTR:
                pointee = self._c_name(t.size_or_type)
                return ValueType("pointer", 8, pointee=pointee, c_name=f"{pointee} *")
            return ValueType("other", 0, c_name=self._c_name(type_id))
        return ValueType("void", 0, c_name="void")

    def _c_name(self, type_id: int) -> str:
        """A type as C names it, qualifiers and typedefs kept: "const char", "struct file"."""
        words = []
        while type_id:
            t = self.type(type_id)
            kind = (t.info >> 24) & 0x1F
            name = self.name(t.name_off)
            if kind in (CONST, VOLATILE):
                words.append("const" if kind == CONST else "volatile")
                type_id = t.size_or_type
                continue
            if kind == PTR:
                return " ".join(words + [self._c_name(t.size_or_type) + " *"])
            if kind == INT:
                name = C_NAMES.get(name, name)
            prefix = {STRUCT: "struct ", UNION: "union ", ENUM: "enum ", ENUM64: "enum ",
                      FWD: "struct "}.get(kind, "")
            return " ".join(words + [prefix + (name or "<anon>")])
        return " ".join(words + ["void"])


@functools.lru_cache(maxsize=1)
def vmlinux() -> Optional[Btf]:
    """The kernel's own BTF, or None where the kernel has none (or libbpf cannot read it)."""
    lib = _libbpf()
    if lib is None:
        return None
    handle = lib.btf__load_vmlinux_btf()
    return Btf(handle, lib) if _pointer_ok(handle) else None


def parse(path: str, base: Optional[Btf] = None, origin: str = "") -> Optional[Btf]:
    """A BTF read from a file: raw BTF or an ELF object's .BTF section; split on ``base``
    when given (a module's BTF numbers its types after vmlinux's)."""
    lib = _libbpf()
    if lib is None:
        return None
    if base is not None:
        handle = lib.btf__parse_split(path.encode(), base.handle)
    else:
        handle = lib.btf__parse(path.encode(), None)
    return Btf(handle, lib, base, origin or path) if _pointer_ok(handle) else None


def module_names(directory: str = MODULES_DIR) -> list[str]:
    """The loaded modules that have BTF of their own."""
    try:
        return sorted(name for name in os.listdir(directory) if name != "vmlinux")
    except OSError:
        return []


@functools.lru_cache(maxsize=1)
def _vfprintf() -> int:
    return ctypes.cast(_libc().vfprintf, ctypes.c_void_p).value
