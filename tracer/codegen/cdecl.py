"""C declarations for the program's types: member declarations and one struct per tuple type.

Every tuple type gets a ``struct tup_N`` whose members sit where ``tracer.types`` says (C's
natural alignment), so the kernel side and ``tracer.layout`` agree byte for byte.
"""

from __future__ import annotations

from ..types import ArrayType, StringType, StructType, SymbolicType, TupleType, Type
from .values import c_scalar_type


class CTypes:
    def __init__(self):
        self.tuples: dict[TupleType, str] = {}
        self.slots: set[str] = set()
        self.declarations: list[str] = []  # in dependency order

    def name(self, typ: Type) -> str:
        """The C type name of a scalar or a tuple (strings are members only: see member())."""
        if isinstance(typ, TupleType):
            return "struct " + self._tuple(typ)
        if isinstance(typ, SymbolicType):
            return self.words(typ.words)
        if isinstance(typ, (StructType, ArrayType)):
            return self.raw(typ.size, typ.align)
        if isinstance(typ, StringType):
            raise TypeError("a string has no C type name; declare it with member()")
        return c_scalar_type(typ)

    def pointer(self, typ: Type) -> str:
        """The C type of a pointer to a value of this type in memory."""
        return "char *" if isinstance(typ, StringType) else f"{self.name(typ)} *"

    def member(self, typ: Type, name: str) -> str:
        if isinstance(typ, StringType):
            return f"char {name}[{typ.capacity}]"
        return f"{self.name(typ)} {name}"

    def struct(self, tag: str, types, names=None) -> str:
        """A struct of members of these types (named f0, f1, ... unless ``names`` says),
        laid out as tracer.types says."""
        names = names or [f"f{i}" for i in range(len(types))]
        members = [f"  {self.member(t, n)};" for t, n in zip(types, names)]
        return f"struct {tag} {{\n" + "\n".join(members or ["  u8 unused;"]) + "\n};"

    def words(self, count: int) -> str:
        """A struct of ``count`` 64-bit words, ``w[i]``: an aggregation's per-CPU slot, or a
        symbolic value's raw form. (Unsigned: code that wants a sign casts the word.)"""
        tag = f"tracer_words{count}"
        if tag not in self.slots:
            self.slots.add(tag)
            self.declarations.append(f"struct {tag} {{ u64 w[{count}]; }};")
        return f"struct {tag}"

    def raw(self, size: int, align: int) -> str:
        """C data (a kernel struct, an array) as the program keeps it: its bytes, aligned as
        the type is, read and written only at the offsets the checker worked out."""
        tag = f"tracer_raw{size}_{align}"
        if tag not in self.slots:
            self.slots.add(tag)
            self.declarations.append(
                f"struct {tag} {{ u8 b[{max(size, 1)}]; }} __attribute__((aligned({align})));")
        return f"struct {tag}"

    def _tuple(self, typ: TupleType) -> str:
        tag = self.tuples.get(typ)
        if tag is None:
            for element in typ.elements:
                if isinstance(element, TupleType):
                    self._tuple(element)
            tag = f"tup_{len(self.tuples)}"
            self.tuples[typ] = tag
            self.declarations.append(self.struct(tag, typ.elements))
        return tag
