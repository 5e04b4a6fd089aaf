"""Byte layouts shared by the kernel and user space.

A map key, a map value and an event sent through the ring buffer are each a C struct written
by the generated program and read back by Python. ``Layout`` is the single description of such a
struct: codegen prints its C definition from it and the runtime decodes bytes with it, so the two
sides cannot disagree. Integers are 8 bytes and 8-byte aligned; strings are byte arrays; the
struct is padded to a multiple of 8 and always zeroed before it is filled (hash map keys are
compared byte for byte, padding included).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence, Union

from .types import CountType, IntType, StringType, Type

Value = Union[int, str]


@dataclass(frozen=True)
class Field:
    name: str  # a C member name chosen by the compiler: f0, f1, ...
    type: Type
    offset: int


@dataclass(frozen=True)
class Layout:
    fields: tuple[Field, ...]
    size: int

    @classmethod
    def of(cls, types: Sequence[Type]) -> "Layout":
        fields, offset = [], 0
        for i, typ in enumerate(types):
            if not isinstance(typ, StringType):
                offset = (offset + 7) & ~7
            fields.append(Field(f"f{i}", typ, offset))
            offset += typ.size
        if not fields:
            return cls((), 8)  # the C struct then holds one unused u64
        # As C lays it out: padded to its strictest member's alignment.
        align = 1 if all(isinstance(t, StringType) for t in types) else 8
        return cls(tuple(fields), (offset + align - 1) // align * align)

    def c_struct(self, tag: str) -> str:
        members = []
        for f in self.fields:
            if isinstance(f.type, StringType):
                members.append(f"  char {f.name}[{f.type.capacity}];")
            else:
                members.append(f"  {c_int_type(f.type)} {f.name};")
        if not members:
            members.append("  u64 unused;")
        return f"struct {tag} {{\n" + "\n".join(members) + "\n};"

    def decode(self, raw: bytes) -> list[Value]:
        return [decode_field(f.type, raw, f.offset) for f in self.fields]


def c_int_type(typ: Type) -> str:
    if isinstance(typ, IntType):
        return typ.ctype
    if isinstance(typ, CountType):
        return "u64"
    raise TypeError(f"not an integer type: {typ}")


def decode_field(typ: Type, raw: bytes, offset: int) -> Value:
    if isinstance(typ, StringType):
        chunk = raw[offset:offset + typ.capacity]
        return chunk.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    signed = isinstance(typ, IntType) and typ.signed
    return struct.unpack_from("<q" if signed else "<Q", raw, offset)[0]
