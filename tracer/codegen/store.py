"""Putting a value where it is kept: a variable, a map key or value, a tuple element, an event.

The place's type may be wider than the value's (a uint8 into an int64 variable, a 3-byte string
into a 16-byte key, a tuple of narrow integers into one of wide ones): the value is converted as
bpftrace converts it, element by element for tuples. String buffers are kept *clean*: every byte
after the terminating NUL is zero, because map keys compare byte by byte.
"""

from __future__ import annotations

from ..types import BoolType, StringType, SymbolicType, TupleType, Type
from .values import CValue, c_scalar_type


class StoreGen:
    """Mixed into ``FunctionBuilder``."""

    def store(self, dest: CValue, value: CValue) -> None:
        """dest = value. ``dest`` is a scalar lvalue, or a pointer to a buffer of its type."""
        typ = dest.type
        if isinstance(typ, StringType):
            self.store_string(dest.text, typ.capacity, value)
        elif isinstance(typ, SymbolicType) or typ.is_c_aggregate:
            self.copy(dest.text, value.text, typ.size)
        elif isinstance(typ, TupleType):
            if value.type == typ:
                self.copy(dest.text, value.text, typ.size)
            else:
                for i in range(len(typ.elements)):
                    # A record's fields go by name: its value may list them in another order.
                    j = i if not typ.is_record else value.type.index_of(typ.names[i])
                    self.store(self.element(dest, i), self.element(value, j))
        else:
            self.line(f"{dest.text} = {self.convert(value, typ)};")

    def convert(self, value: CValue, typ: Type) -> str:
        """A scalar value as a C expression of the scalar type ``typ``."""
        if isinstance(typ, BoolType) and not isinstance(value.type, BoolType):
            return f"(u8)(({value.text}) != 0)"
        return f"({c_scalar_type(typ)})({value.text})"

    def store_string(self, dest: str, capacity: int, value: CValue) -> None:
        source = value.type.capacity
        if source <= capacity:
            self.copy(dest, value.text, source)
            if source < capacity:
                self.zero(f"({dest} + {source})", capacity - source)
        else:
            self.copy(dest, value.text, capacity - 1)
            self.line(f"{dest}[{capacity - 1}] = 0;")

    def element(self, value: CValue, index: int) -> CValue:
        """Element ``index`` of a tuple value in memory, as a value of its own."""
        typ = value.type.elements[index]
        member = f"{value.text}->f{index}"
        if isinstance(typ, (TupleType, SymbolicType)) or typ.is_c_aggregate:
            return CValue(f"(&{member})", typ)
        return CValue(member, typ)

    def materialize(self, value: CValue) -> CValue:
        """A value in memory, whose address helpers can take: a scalar is copied into a
        buffer of its own."""
        if value.in_memory:
            return value
        buf = self.buffer(value.type, zeroed=False)
        self.line(f"*{buf} = {self.convert(value, value.type)};")
        return CValue(buf, value.type)
