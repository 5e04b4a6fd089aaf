"""Typed C values: what every expression rule of the code generator returns.

A scalar (integer, bool, pointer) is a C expression that yields it; an integer's expression
already holds the value of its type (a uint8 is 0..255, an int8 sign-extends), so using it in
wider arithmetic needs no further care. A value that lives in memory (a string, a tuple) is a C
expression of a *pointer* to its buffer, filled by statements already emitted; ``size`` is how
many bytes the buffer holds. Callers ask the value what it is, never guess from its text.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import IntType, Type


@dataclass(frozen=True)
class CValue:
    text: str
    type: Type
    # Set while the value is still where the program found it (a kernel struct's field, a
    # dereferenced pointer): ``text`` is then its address, a u64, in "kernel", "user" or "any"
    # memory, and only ``CDataGen.fetch`` reads it. Fields and elements of C data are reached
    # this way without reading the whole struct.
    remote: str = ""

    @property
    def in_memory(self) -> bool:
        return not self.type.is_scalar

    @property
    def size(self) -> int:
        return self.type.size

    @property
    def as_s64(self) -> str:
        return f"((s64)({self.text}))"

    @property
    def as_u64(self) -> str:
        return f"((u64)({self.text}))"


def c_scalar_type(typ: Type) -> str:
    """The C type a scalar of this type is kept in (in a variable, a map, a struct member)."""
    if isinstance(typ, IntType):
        return typ.ctype
    if typ.is_bool:
        return "u8"
    return "u64"


def c_wide_type(typ: Type) -> str:
    """The C type a scalar is computed in: 64 bits, with its sign."""
    return "s64" if isinstance(typ, IntType) and typ.signed else "u64"


def int_literal(value: int) -> str:
    """An integer as a C literal of the right signedness (INT64_MIN has no literal of its own)."""
    if value == -(1 << 63):
        return "(-9223372036854775807LL - 1)"
    if value < 0:
        return f"({value}LL)"
    return f"{value}ULL" if value >= 1 << 63 else f"{value}LL"
