"""Typed C values: what every expression rule of the code generator returns.

A scalar (integer, bool, pointer) is a C expression that yields it. A value that lives in memory
(a string, a tuple) is a C expression naming its buffer, filled by statements already emitted;
``addr`` is its address and ``size`` how many bytes to copy. Callers never guess a value's
shape from the text: they ask the value.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types import IntType, Type


@dataclass(frozen=True)
class CValue:
    text: str
    type: Type

    @property
    def in_memory(self) -> bool:
        return not self.type.is_scalar

    @property
    def addr(self) -> str:
        """The address of an in-memory value (a char array decays to one already)."""
        return self.text if self.type.is_string else f"(&{self.text})"

    @property
    def size(self) -> int:
        return self.type.size

    def as_u64(self) -> str:
        """A scalar as a C u64 expression (sign-extended first, when signed)."""
        return f"(u64)({self.text})"


def c_scalar_type(typ: Type) -> str:
    """The C type a scalar of this type is computed in: every integer in 64 bits."""
    if isinstance(typ, IntType):
        return "s64" if typ.signed else "u64"
    return "u64"
