"""The running kernel's BTF, read through libbpf: the functions fentry and fexit attach to, with
their parameters' names and types.

libbpf parses /sys/kernel/btf/vmlinux once per process (tens of milliseconds, and only when a
probe needs it). This is the part of the kernel's types that probes need to attach; reading
structs for the language belongs to the kernel-types work that builds on it.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Optional

VMLINUX = "/sys/kernel/btf/vmlinux"

# enum btf_kind
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, \
    FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(1, 20)
# C's own spelling of a type BTF names otherwise, as bpftrace shows it.
C_NAMES = {"_Bool": "bool"}
# Kinds that only qualify or rename the type they point to.
TRANSPARENT = {TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG}


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


class Btf:
    def __init__(self, handle: int, lib):
        self.handle, self.lib = handle, lib

    def type(self, type_id: int) -> _BtfType:
        return ctypes.cast(self.lib.btf__type_by_id(self.handle, type_id),
                           ctypes.POINTER(_BtfType)).contents

    def name(self, offset: int) -> str:
        raw = self.lib.btf__name_by_offset(self.handle, offset)
        return raw.decode("utf-8", "replace") if raw else ""

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
    try:
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError:
        return None
    signatures = {
        "btf__load_vmlinux_btf": ([], ctypes.c_void_p),
        "btf__find_by_name_kind": ([ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32],
                                   ctypes.c_int),
        "btf__type_by_id": ([ctypes.c_void_p, ctypes.c_uint32], ctypes.c_void_p),
        "btf__name_by_offset": ([ctypes.c_void_p, ctypes.c_uint32], ctypes.c_char_p),
        "btf__type_cnt": ([ctypes.c_void_p], ctypes.c_uint32),
    }
    for name, (args, result) in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, result
    handle = lib.btf__load_vmlinux_btf()
    if not handle or handle > (1 << 64) - 4096:  # libbpf 1.x returns NULL; 0.x an error pointer
        return None
    return Btf(handle, lib)
