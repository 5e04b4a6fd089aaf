"""Byte layouts shared by the kernel side and user space.

A map key, a map value and an event sent through the ring buffer are each a C struct written by
the generated program and read back by Python. ``Layout`` describes such a struct from the types
of its fields, laid out as C lays them out (``tracer.types.struct_layout``); the code generator
declares the same struct from the same types, so the two sides cannot disagree.

``decode`` reads one field at a time and is the definition of what a layout's bytes mean.
``reader()`` gives the same values fast, for events and for maps of many thousand entries: the
whole struct is one ``struct.Struct`` (nested tuples flattened into it), unpacked in one call, and
only the fields that need it are converted afterwards (strings cut at their NUL, symbolic words
gathered, tuples rebuilt).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Optional, Sequence, Union

from .types import (ArrayType, BoolType, IntType, OpaqueType, PointerType, StringType, StructType,
                    SymbolicType, TupleType, Type, struct_layout)
from .values import Pointer

class Record(tuple):
    """A decoded record: its values, in order, and the names of its fields."""

    names: tuple[str, ...] = ()

    def __new__(cls, names, values):
        record = super().__new__(cls, values)
        record.names = tuple(names)
        return record

    def __getnewargs__(self):  # pickled with its names (trace() sends results between processes)
        return self.names, tuple(self)


class CArray(tuple):
    """A decoded C array: ``[1,2,3]``."""


@dataclass(frozen=True)
class RawSymbolic:
    """A symbolic value as the probe recorded it (its words); the runtime resolves it into what
    is printed (``functions.symbolic.RESOLVERS``), which needs the running machine."""

    type: SymbolicType
    words: tuple[int, ...]


Value = Union[int, bool, str, tuple, RawSymbolic]
Reader = Callable[[object, int], list]  # (buffer, offset) -> the layout's values

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

    def reader(self) -> Reader:
        """``(buffer, offset) -> list[Value]``, equal to ``decode`` of the layout's bytes at
        ``offset`` of ``buffer`` (bytes, bytearray, memoryview or mmap), made once per layout."""
        return self._compiled().read

    def read_all(self, buffer) -> list[list[Value]]:
        """The values of every struct in a buffer that holds them back to back (its length a
        multiple of ``size``): one list per struct, as ``decode`` gives it."""
        compiled = self._compiled()
        build = compiled.build
        records = compiled.whole.iter_unpack(buffer)
        if build is None:
            return [list(flat) for flat in records]
        return [build(flat) for flat in records]

    def read_column(self, buffer, index: int = 0) -> list[Value]:
        """Field ``index`` of every struct in a buffer that holds them back to back: how a map's
        keys and values, each a struct of one field, are read in bulk."""
        compiled = self._compiled()
        records = compiled.whole.iter_unpack(buffer)
        if compiled.build is None:
            return list(map(itemgetter(index), records))
        field = compiled.fields[index]
        return [field(flat) for flat in records]

    def records_reader(self, skip: int, stride: int) -> Callable[[bytes], list]:
        """Reads records laid back to back every ``stride`` bytes, each holding this layout
        ``skip`` bytes in (a ring buffer's records after their headers): bytes -> one row of
        values per record, as ``decode`` gives them (a tuple where no field needs building)."""
        compiled = self._compiled()
        rest = stride - skip - self.size
        record = struct.Struct(f"<{skip}x{compiled.whole.format.lstrip('<')}{_padding(rest)}")
        build = compiled.build
        if build is None:
            return lambda raw: list(record.iter_unpack(raw))
        return lambda raw: [build(flat) for flat in record.iter_unpack(raw)]

    def _compiled(self) -> "_Compiled":
        # Kept on the instance (its fields, which alone make its identity, are untouched); a
        # layout built again from the same types shares the work through the cache below.
        compiled = self.__dict__.get("_compiled_reader")
        if compiled is None:
            compiled = _compile(self.types, self.offsets, self.size)
            object.__setattr__(self, "_compiled_reader", compiled)
        return compiled


def _decode_string(typ: StringType, raw: bytes, offset: int) -> str:
    return _text(raw[offset:offset + typ.capacity])


def _decode_tuple(typ: TupleType, raw: bytes, offset: int) -> tuple:
    values = [decode_value(t, raw, offset + o) for t, o in zip(typ.elements, typ.offsets)]
    return Record(typ.names, values) if typ.is_record else tuple(values)


def _decode_struct(typ: StructType, raw: bytes, offset: int) -> Record:
    """A C struct or union, shown as bpftrace 0.26 shows one: as a record of its members."""
    names, values = [], []
    for member in typ.members:
        value = _decode_member(member, raw, offset + member.offset)
        if member.name:
            names.append(member.name)
            values.append(value)
        elif isinstance(value, Record):  # an unnamed struct or union: its members, inline
            names.extend(value.names)
            values.extend(value)
    return Record(names, values)


def _decode_member(member, raw: bytes, offset: int) -> Value:
    if isinstance(member.type, OpaqueType):
        return None  # a float: bpftrace shows null
    if not member.bit_size:
        return decode_value(member.type, raw, offset)
    width = (member.bit_shift + member.bit_size + 7) // 8
    word = int.from_bytes(raw[offset:offset + width], "little") >> member.bit_shift
    word &= (1 << member.bit_size) - 1
    if member.type.signed and word >> (member.bit_size - 1):
        word -= 1 << member.bit_size
    return word


def _decode_array(typ: ArrayType, raw: bytes, offset: int) -> CArray:
    step = typ.element.size
    return CArray(decode_value(typ.element, raw, offset + i * step) for i in range(typ.count))


# How each type's bytes become its value, one field at a time.
_DECODERS: dict[type, Callable[[Any, bytes, int], Value]] = {
    StringType: _decode_string,
    BoolType: lambda typ, raw, offset: raw[offset] != 0,
    TupleType: _decode_tuple,
    IntType: lambda typ, raw, offset: struct.unpack_from(_INT_FORMATS[typ.size, typ.signed],
                                                         raw, offset)[0],
    SymbolicType: lambda typ, raw, offset: RawSymbolic(
        typ, struct.unpack_from(f"<{typ.words}Q", raw, offset)),
    PointerType: lambda typ, raw, offset: Pointer(struct.unpack_from("<Q", raw, offset)[0]),
    # C data (structs, arrays) has no fast reader: layouts holding it decode field by field.
    StructType: _decode_struct,
    ArrayType: _decode_array,
}


def decode_value(typ: Type, raw: bytes, offset: int = 0) -> Value:
    decoder = _DECODERS.get(type(typ))
    if decoder is None:
        raise TypeError(f"cannot decode a value of type {typ}")
    return decoder(typ, raw, offset)


def _text(raw: bytes) -> str:
    """A string field's bytes: up to the first NUL, any byte kept (surrogateescape)."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


# ---- the compiled reader ------------------------------------------------------------------------
#
# Every field becomes struct format items at its offset; the unpacked items form one flat tuple.
# A field that is one item taken as it is (an integer, a bool as "?", a pointer) needs nothing
# more; the others have a builder that makes the value from the flat tuple.

Builder = Callable[[tuple], Value]


@dataclass(frozen=True)
class _Piece:
    """What one field adds to the struct format: its items, how many values they unpack to, and
    how to build the field's value from the flat tuple at a given position (None: the value
    at that position is the field's value)."""

    format: str
    count: int
    build: Optional[Callable[[int], Builder]] = None


def _string_piece(typ: StringType) -> _Piece:
    return _Piece(f"{typ.capacity}s", 1, lambda at: lambda flat: _text(flat[at]))


def _int_piece(typ: IntType) -> _Piece:
    return _Piece(_INT_FORMATS[typ.size, typ.signed][1], 1)


def _symbolic_piece(typ: SymbolicType) -> _Piece:
    count = typ.words

    def build(at: int) -> Builder:
        end = at + count
        return lambda flat: RawSymbolic(typ, flat[at:end])
    return _Piece(f"{count}Q", count, build)


def _tuple_piece(typ: TupleType) -> _Piece:
    format, count, parts = _flatten(typ.elements, typ.offsets)
    format += _padding(typ.size - _end(typ.elements, typ.offsets))
    names = typ.names

    def build(at: int) -> Builder:
        builders = [part(at) for part in parts]
        if names is not None:
            return lambda flat: Record(names, [b(flat) for b in builders])
        return lambda flat: tuple([b(flat) for b in builders])
    return _Piece(format, count, build)


_PIECES: dict[type, Callable[[Type], _Piece]] = {
    IntType: _int_piece,
    BoolType: lambda typ: _Piece("?", 1),  # "?" is True for any byte but 0, as decode has it
    PointerType: lambda typ: _Piece("Q", 1, lambda at: lambda flat: Pointer(flat[at])),
    StringType: _string_piece,
    SymbolicType: _symbolic_piece,
    TupleType: _tuple_piece,
}


def _item(at: int) -> Builder:
    return itemgetter(at)


def _padding(size: int) -> str:
    return f"{size}x" if size > 0 else ""


def _end(types, offsets) -> int:
    """Where the last field ends (what follows, up to the struct's size, is padding)."""
    return max((o + t.size for t, o in zip(types, offsets)), default=0)


def _flatten(types, offsets) -> tuple[str, int, list[Callable[[int], Builder]]]:
    """The struct format of fields at these offsets (the padding between them as "x"), how many
    values it unpacks to, and for each field a maker of its builder given where the struct's
    values start in the flat tuple."""
    format, count, makers, position = [], 0, [], 0
    for typ, offset in zip(types, offsets):
        piece_of = _PIECES.get(type(typ))
        if piece_of is None:
            raise TypeError(f"cannot decode a value of type {typ}")
        if offset < position:
            raise TypeError("fields overlap")  # not a C layout: decode alone can read it
        piece = piece_of(typ)
        format.append(_padding(offset - position))
        format.append(piece.format)
        makers.append(_shifted(piece.build or _item, count))
        count += piece.count
        position = offset + typ.size
    return "".join(format), count, makers


def _shifted(make: Callable[[int], Builder], start: int) -> Callable[[int], Builder]:
    return lambda at: make(at + start)


@dataclass(frozen=True)
class _Compiled:
    whole: struct.Struct  # the layout's full size, trailing padding included (iter_unpack)
    read: Reader
    build: Optional[Callable[[tuple], list]]  # flat tuple -> the values; None: list(flat)
    fields: tuple[Builder, ...]  # flat tuple -> one field's value


# By types and offsets; a program has a few dozen layouts at most, so nothing is ever evicted.
_CACHE: dict[tuple, _Compiled] = {}


def _compile(types: tuple, offsets: tuple, size: int) -> _Compiled:
    cache_key = (types, offsets, size)
    compiled = _CACHE.get(cache_key)
    if compiled is not None:
        return compiled
    try:
        format, count, makers = _flatten(types, offsets)
    except TypeError:
        compiled = _decoding(types, offsets, size)
    else:
        trailing = _padding(size - _end(types, offsets))
        compiled = _struct_reader(format, trailing, count, makers, len(types))
    _CACHE[cache_key] = compiled
    return compiled


def _struct_reader(format: str, trailing: str, count: int, makers,
                   field_count: int) -> _Compiled:
    whole = struct.Struct("<" + format + trailing)
    # A single read does not need the trailing padding to be there.
    unpack = struct.Struct("<" + format).unpack_from
    fields = tuple(make(0) for make in makers)
    plain = count == field_count and all(type(f) is itemgetter for f in fields)
    if plain:
        def read(buffer, offset=0):
            return list(unpack(buffer, offset))
        return _Compiled(whole, read, None, fields)

    def build(flat):
        return [field(flat) for field in fields]

    def read(buffer, offset=0):
        flat = unpack(buffer, offset)
        return [field(flat) for field in fields]
    return _Compiled(whole, read, build, fields)


def _decoding(types, offsets, size) -> _Compiled:
    """For a layout holding a type the compiled reader does not know: ``decode`` itself (which
    raises the same TypeError, at the same moment, as it always has)."""
    layout = Layout(types, offsets, size)
    whole = struct.Struct(f"<{size}s")

    def read(buffer, offset=0):
        return layout.decode(bytes(buffer[offset:offset + size]))

    def build(flat):
        return layout.decode(flat[0])
    fields = tuple((lambda flat, i=i: layout.decode(flat[0])[i]) for i in range(len(types)))
    return _Compiled(whole, read, build, fields)
