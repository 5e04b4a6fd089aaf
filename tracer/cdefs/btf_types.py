"""The kernel's types, as the language sees them: BTF records turned into ``tracer.types``.

``BtfTypes`` wraps vmlinux's BTF and, only when a name is not found there, the BTF of each
loaded module (split on vmlinux's). Lookups go by name and kind through libbpf; a record becomes
a type once and is remembered by id. A struct's members are only converted when the checker
first asks for them, which is also what lets a struct hold a pointer to itself.

bpftrace's choices that shape the result (checked against bpftrace 0.17): enums are integers
of their size; an array whose element is plain ``char`` (through typedefs and qualifiers) is a
string, while ``unsigned char``, ``signed char``, ``u8`` and ``s8`` arrays stay arrays.
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Optional

from ..host import btf as host
from ..host.btf import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO,
                        FWD, INT, PTR, RESTRICT, STRUCT, TRANSPARENT, TYPE_TAG, TYPEDEF, UNION,
                        VAR, VOLATILE, Btf, Record)
from ..types import (BOOL, ArrayType, IntType, Member, OpaqueType, PointerType, StringType,
                     StructRef, StructType, Type)

# How a name asks for a type: its prefix, and the BTF kinds to look for under the bare name.
# A bare name is a typedef, or else one of C's own integer types ("unsigned int").
_LOOKUPS = (("struct ", (STRUCT,)), ("union ", (UNION,)), ("enum ", (ENUM, ENUM64)),
            ("", (TYPEDEF, INT)))
_LISTED = {"struct": STRUCT, "union": UNION, "enum": ENUM}  # names(kind)'s kinds
_INT_SIZES = (1, 2, 4, 8)
_BTF_INT_SIGNED, _BTF_INT_BOOL = 1, 4  # flags in the top byte of an int's encoding
_USER_TAG = "user"  # the type tag the kernel's __user puts on what a pointer points to
_MISSING = object()


class _Converter:
    """Turns the records of one BTF into types, each id once. Ids below ``btf.start_id``
    belong to the base (vmlinux for a module) and are handed to the base's converter, so a
    module's types share vmlinux's."""

    def __init__(self, btf: Btf, base: Optional["_Converter"] = None):
        self.btf, self.base = btf, base
        self.origin = "BTF" if btf.origin == "vmlinux" else f"BTF of {btf.origin}"
        self._memo: dict[int, Optional[Type]] = {}

    def convert(self, type_id: int) -> Optional[Type]:
        """The type of a BTF id; None for void (id 0)."""
        if type_id == 0:
            return None
        if self.base is not None and type_id < self.btf.start_id:
            return self.base.convert(type_id)
        known = self._memo.get(type_id, _MISSING)
        if known is not _MISSING:
            return known
        record = self.btf.record(type_id)
        result = _BY_KIND.get(record.kind, _Converter._opaque)(self, type_id, record)
        self._memo[type_id] = result
        return result

    def _through(self, type_id: int, record: Record) -> Optional[Type]:
        return self.convert(record.size_or_type)

    def _int(self, type_id: int, record: Record) -> Type:
        flags = self.btf.words(type_id, 1)[0] >> 24
        size = record.size_or_type
        if flags & _BTF_INT_BOOL or record.name == "_Bool":
            return BOOL
        if size in _INT_SIZES:
            return IntType(size * 8, bool(flags & _BTF_INT_SIGNED))
        return OpaqueType(record.name, size, self.btf.align_of(type_id))  # __int128

    def _enum(self, type_id: int, record: Record) -> Type:
        # BTF marks a signed enum with its kflag (libbpf >= 1.0, pahole >= 1.24).
        if record.size_or_type in _INT_SIZES:
            return IntType(record.size_or_type * 8, record.kflag)
        return OpaqueType(f"enum {record.name}", record.size_or_type, record.size_or_type)

    def _pointer(self, type_id: int, record: Record) -> Type:
        target, user, kind = record.size_or_type, False, 0
        while target:  # look past qualifiers for __user's tag and for a function type
            seen = self.btf.record(target)
            if seen.kind == TYPE_TAG and seen.name == _USER_TAG:
                user = True
            kind = seen.kind
            if kind not in TRANSPARENT:
                break
            target = seen.size_or_type
        if target == 0 or kind == FUNC_PROTO:
            return PointerType(None, user)  # void * and function pointers point at nothing
        return PointerType(self.convert(record.size_or_type), user)

    def _array(self, type_id: int, record: Record) -> Type:
        element, _, count = self.btf.words(type_id, 3)
        if self._is_plain_char(element):
            return StringType(count)
        return ArrayType(self.convert(element), count)

    def _is_plain_char(self, type_id: int) -> bool:
        while type_id:
            record = self.btf.record(type_id)
            if record.kind not in TRANSPARENT:
                return record.kind == INT and record.name == "char" and record.size_or_type == 1
            type_id = record.size_or_type
        return False

    def _struct(self, type_id: int, record: Record) -> Type:
        kind = "union" if record.kind == UNION else "struct"
        return StructType(kind, record.name, record.size_or_type, self.btf.align_of(type_id),
                          functools.partial(self._members, type_id, record), self.origin)

    def _members(self, type_id: int, record: Record) -> list[Member]:
        words = self.btf.words(type_id, 3 * record.vlen)
        members = []
        for at in range(0, len(words), 3):
            name_off, member_type, offset = words[at:at + 3]
            if record.kflag:  # the offset word holds the bitfield's size above its bit offset
                bit_size, bit_offset = offset >> 24, offset & 0xFFFFFF
            else:  # an old-style bitfield is an int type narrower than its size
                bit_size, bit_offset = self._int_bitfield(member_type, offset)
            members.append(Member(self.btf.name(name_off) if name_off else "",
                                  self.convert(member_type), bit_offset // 8, bit_size,
                                  bit_offset % 8 if bit_size else 0))
        return members

    def _int_bitfield(self, type_id: int, bit_offset: int) -> tuple[int, int]:
        """(bit size, bit offset) of a member of a struct without kflag: an int's encoding
        may give it fewer bits than its size, starting some bits in."""
        while type_id:
            record = self.btf.record(type_id)
            if record.kind in TRANSPARENT:
                type_id = record.size_or_type
                continue
            if record.kind == INT:
                encoding = self.btf.words(type_id, 1)[0]
                bits, shift = encoding & 0xFF, encoding >> 16 & 0xFF
                if bits != record.size_or_type * 8 or shift:
                    return bits, bit_offset + shift
            break
        return 0, bit_offset

    def _forward(self, type_id: int, record: Record) -> Type:
        return StructRef(f"{'union' if record.kflag else 'struct'} {record.name}")

    def _float(self, type_id: int, record: Record) -> Type:
        return OpaqueType(record.name, record.size_or_type, record.size_or_type)

    def _function(self, type_id: int, record: Record) -> Type:
        return OpaqueType("function", 0, 1)

    def _opaque(self, type_id: int, record: Record) -> Type:
        return OpaqueType(record.name or f"<BTF kind {record.kind}>", 0, 1)


_BY_KIND: dict[int, Callable] = {
    INT: _Converter._int, PTR: _Converter._pointer, ARRAY: _Converter._array,
    STRUCT: _Converter._struct, UNION: _Converter._struct, ENUM: _Converter._enum,
    ENUM64: _Converter._enum, FWD: _Converter._forward, TYPEDEF: _Converter._through,
    VOLATILE: _Converter._through, CONST: _Converter._through, RESTRICT: _Converter._through,
    TYPE_TAG: _Converter._through, FLOAT: _Converter._float, FUNC_PROTO: _Converter._function,
    FUNC: _Converter._function, VAR: _Converter._opaque, DATASEC: _Converter._opaque,
    DECL_TAG: _Converter._opaque,
}


class BtfTypes:
    """The kernel's named types: vmlinux's first, then the modules', loaded on a miss."""

    def __init__(self, kernel: Btf, module_dir: str = host.MODULES_DIR):
        self.btf = kernel
        self._module_dir = module_dir
        self._modules: Optional[list[Btf]] = None
        self._converters: dict[int, _Converter] = {}  # by handle
        self._found: dict[str, Optional[Type]] = {}
        self._own_names: dict[int, dict[tuple[int, str], int]] = {}  # a module's, by handle

    # --- by name ------------------------------------------------------------------------------

    def find(self, name: str) -> Optional[Type]:
        """The type "struct task_struct", "union X", "enum X" or a typedef ("pid_t") names;
        a struct only declared, never defined, is a StructRef; None when no BTF has it."""
        name = " ".join(name.split())
        if name not in self._found:
            self._found[name] = self._lookup(name)
        return self._found[name]

    def _lookup(self, name: str) -> Optional[Type]:
        prefix, kinds = next((p, k) for p, k in _LOOKUPS if name.startswith(p))
        bare = name[len(prefix):]
        if not bare:
            return None
        for btf in self._sources():
            for kind in kinds:
                type_id = self._find_in(btf, bare, kind)
                if type_id:
                    return self._converter(btf).convert(type_id)
        if prefix in ("struct ", "union "):
            for btf in self._sources():
                type_id = self._find_in(btf, bare, FWD)
                if type_id and btf.record(type_id).kflag == (prefix == "union "):
                    return self._converter(btf).convert(type_id)
        return None

    def _find_in(self, btf: Btf, bare: str, kind: int) -> int:
        if btf is self.btf:
            return btf.find(bare, kind)
        # libbpf would search all of vmlinux again before the module's own types, for every
        # module: a module's few thousand types are indexed by name instead, once.
        index = self._own_names.get(btf.handle)
        if index is None:
            index = self._own_names[btf.handle] = {}
            for type_id in range(btf.start_id, btf.count):
                record = btf.record(type_id)
                if record.name:
                    index.setdefault((record.kind, record.name), type_id)
        return index.get((kind, bare), 0)

    def enum_constant(self, name: str) -> Optional[tuple[int, Type]]:
        """An enumerator's value and its enum's integer type: PIDTYPE_TGID -> (1, uint32)."""
        wanted = name.encode()
        for btf in self._sources():
            found = btf.scan.enumerators.get(wanted)
            if found is not None:
                value, size, signed = found
                return value, IntType(size * 8 if size in _INT_SIZES else 64, signed)
        return None

    def names(self, kind: str) -> list[str]:
        """Every named struct, union or enum ("struct", "union", "enum"), sorted, once each;
        the modules' too. As `bpftrace -l 'enum *'` (0.17) lists them: 64-bit enums are not
        among them."""
        btf_kind = _LISTED.get(kind)
        names: set[str] = set()
        for btf in self._sources() if btf_kind else ():
            names.update(btf.scan.names[btf_kind])
        return sorted(names)

    # --- where types come from ----------------------------------------------------------------

    def _sources(self):
        yield self.btf
        yield from self._module_btfs()

    def _module_btfs(self) -> list[Btf]:
        if self._modules is None:
            loaded = (host.parse(os.path.join(self._module_dir, name), self.btf, name)
                      for name in host.module_names(self._module_dir))
            self._modules = [btf for btf in loaded if btf is not None]
        return self._modules

    def modules(self) -> list[Btf]:
        """The modules' BTF (loading them all), for listings that show every type."""
        return list(self._module_btfs())

    def _converter(self, btf: Btf) -> _Converter:
        converter = self._converters.get(btf.handle)
        if converter is None:
            base = self._converter(self.btf) if btf is not self.btf else None
            converter = self._converters[btf.handle] = _Converter(btf, base)
        return converter


@functools.lru_cache(maxsize=1)
def kernel_types() -> Optional[BtfTypes]:
    """The running kernel's types, or None where it has no BTF (or libbpf is missing)."""
    kernel = host.vmlinux()
    return BtfTypes(kernel) if kernel is not None else None
