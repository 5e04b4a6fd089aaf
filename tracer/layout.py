"""Byte layouts shared by the kernel side and user space.

A map key, a map value and an event sent through the ring buffer are each a C struct written by
the generated program and read back by Python. ``Layout`` describes such a struct from the types
of its fields, laid out as C lays them out (``tracer.types.struct_layout``); the code generator
declares the same struct from the same types, so the two sides cannot disagree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence, Union

from .types import (BoolType, IntType, PointerType, StringType, SymbolicType, TupleType, Type,
                    struct_layout)

class Record(tuple):
    """A decoded record: its values, in order, and the names of its fields."""

    names: tuple[str, ...] = ()

    def __new__(cls, names, values):
        record = super().__new__(cls, values)
        record.names = tuple(names)
        return record


@dataclass(frozen=True)
class RawSymbolic:
    """A symbolic value as the probe recorded it (its words); the runtime resolves it into what
    is printed (``functions.symbolic.RESOLVERS``), which needs the running machine."""

    type: SymbolicType
    words: tuple[int, ...]


Value = Union[int, bool, str, tuple, RawSymbolic]

_INT_FORMATS = {(1, True): "<b", (1, False): "<B", (2, True): "<h", (2, False): "<H",
                (4, True): "<i", (4, False): "<I", (8, True): "<q", (8, False): "<Q"}


@dataclass(frozen=True)
class Layout:
    types: tuple[Type, ...]
    offsets: tuple[int, ...]
    size: int

    @classmethod
    def of(cls, types: Sequence[Type]) -> "Layout":
        offsets, size = struct_layout(types)
        return cls(tuple(types), offsets, max(size, 1))

    def decode(self, raw: bytes) -> list[Value]:
        return [decode_value(t, raw, o) for t, o in zip(self.types, self.offsets)]


def decode_value(typ: Type, raw: bytes, offset: int = 0) -> Value:
    if isinstance(typ, StringType):
        chunk = raw[offset:offset + typ.capacity]
        return chunk.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    if isinstance(typ, BoolType):
        return raw[offset] != 0
    if isinstance(typ, TupleType):
        values = [decode_value(t, raw, offset + o) for t, o in zip(typ.elements, typ.offsets)]
        return Record(typ.names, values) if typ.is_record else tuple(values)
    if isinstance(typ, IntType):
        return struct.unpack_from(_INT_FORMATS[typ.size, typ.signed], raw, offset)[0]
    if isinstance(typ, SymbolicType):
        return RawSymbolic(typ, struct.unpack_from(f"<{typ.words}Q", raw, offset))
    if isinstance(typ, PointerType):
        return struct.unpack_from("<Q", raw, offset)[0]
    raise TypeError(f"cannot decode a value of type {typ}")
