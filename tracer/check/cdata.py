"""The checker's rules for C data: members of structs and unions, array elements, what a
pointer to a struct points to, ``offsetof``, and names that are integer constants.

Types come from the program's ``TypeCatalog`` (its own definitions, then the kernel's BTF).
Every member read is checked against the struct as the running kernel lays it out, so a member
this kernel lacks is an error at the place it is named, with the members that come closest.
"""

from __future__ import annotations

import difflib
from typing import Optional

from .. import ast
from ..types import (ArrayType, Member, OpaqueType, PointerType, StructRef,
                     StructType, Type, literal_type)

MAX_BITFIELD_BITS = 64  # a bitfield is read as one 64-bit word at most


def in_space(typ: Type, user: Optional[bool]) -> Type:
    """A member's type as read from memory in the given address space: a pointer found in
    user memory points into user memory too; one found in the kernel keeps what BTF says."""
    if isinstance(typ, PointerType) and user is not typ.user and user is not False:
        return PointerType(typ.target, user if user else typ.user)
    return typ


class CDataRules:
    """Mixed into ``Checker``; relies on its ``error``, ``expr``, ``catalog`` ..."""

    def struct_member(self, node: ast.FieldAccess, base: Type) -> Optional[Type]:
        """``p->name`` or ``p.name`` (``base`` a pointer to a struct), ``s.name`` or
        ``s->name`` (a struct value)."""
        # bpftrace 0.26: `.` on a pointer reads through it, and `->` is only another
        # spelling of `.`; so both work on a struct and on a pointer to one.
        if isinstance(base, PointerType):
            struct, user = base.target, base.user
        else:
            struct, user = base, self.space_of(node.base)
        if isinstance(struct, StructRef):
            self.error(node.span, f"Can not access field '{node.field_name}': {struct} is "
                                  f"only declared, and its members are not known",
                       hint="the kernel's BTF has no definition of it; define it in the script")
            return None
        if not isinstance(struct, StructType):
            self.error(node.span, f"Can not access field '{node.field_name}' on type '{base}'")
            return None
        member = struct.find(node.field_name)
        if member is None:
            self.error(node.span, f"{struct} has no field named '{node.field_name}'",
                       hint=lambda: _closest(node.field_name, struct))
            return None
        return self._member_type(node, struct, member, user)

    def _member_type(self, node: ast.FieldAccess, struct: StructType, member: Member,
                     user: Optional[bool]) -> Optional[Type]:
        typ = member.type
        if isinstance(typ, OpaqueType):
            self.error(node.span, f"field '{member.name}' of {struct} is a {typ}, which tracer "
                                  f"cannot read")
            return None
        if member.is_bitfield and member.bit_shift + member.bit_size > MAX_BITFIELD_BITS:
            self.error(node.span, f"bitfield '{member.name}' of {struct} spans more than 64 "
                                  f"bits, which tracer cannot read")
            return None
        node.member = member
        return in_space(typ, user)

    def space_of(self, node: ast.Expr) -> Optional[bool]:
        """Where a struct value came from, for the pointers in it: the address space of the
        pointer it was reached through; for one kept in a variable or a map, where the
        probe's addresses point (user memory in a uprobe, else the kernel's)."""
        while isinstance(node, (ast.FieldAccess, ast.Index)) or \
                isinstance(node, ast.Unary) and node.op == "*":
            inner = node.operand if isinstance(node, ast.Unary) else node.base
            if isinstance(inner.type, PointerType):
                return inner.type.user
            node = inner
        return self.site.target.provider.user_memory

    def pointed_aggregate(self, node: ast.Expr, typ: PointerType) -> Optional[Type]:
        """``*p`` or ``p[i]`` for a pointer to a struct or an array: the value, not yet read."""
        target = typ.target
        if isinstance(target, StructType) and target.size == 0:
            self.error(node.span, f"Can not dereference a pointer to {target}, which has no "
                                  f"size")
            return None
        return target

    def array_element(self, node: ast.Index, base: ArrayType) -> Optional[Type]:
        index = self.constant_int(node.index)
        if index is not None and base.count and not 0 <= index < base.count:
            self.error(node.index.span, f"the index {index} is out of bounds for an array of "
                                        f"{base.count} elements")
            return None
        index_type = self.expr(node.index)
        if index_type is None:
            return None
        if not index_type.is_int:
            self.error(node.index.span, f"an array's index must be an integer, not {index_type}")
            return None
        return base.element

    def cast_pointer_space(self, target: PointerType, source: Type) -> PointerType:
        """A cast to a pointer points where the cast value did; an integer made a pointer
        points where the probe's addresses do (user memory in a uprobe)."""
        if isinstance(source, PointerType) and source.user is not None:
            user = source.user
        else:
            user = self.site.target.provider.user_memory
        return PointerType(target.target, user)

    def offsetof(self, node: ast.Offsetof, subject: Type) -> Optional[Type]:
        offset, current = 0, subject
        for name in node.fields:
            if not isinstance(current, StructType):
                self.error(node.span, f"offsetof: {current} is not a struct, so it has no "
                                      f"field '{name}'")
                return None
            member = current.find(name)
            if member is None:
                self.error(node.span, f"{current} has no field named '{name}'",
                           hint=lambda c=current, n=name: _closest(n, c))
                return None
            if member.is_bitfield:
                self.error(node.span, f"offsetof: '{name}' is a bitfield, which has no "
                                      f"offset in bytes")
                return None
            offset += member.offset
            current = member.type
        node.offset = offset
        return literal_type(offset)

    def named_constant(self, node: ast.Ident) -> Optional[Type]:
        """A name that is an integer constant: an enumerator, or a macro constant from the
        script's #includes. None when it is neither (nothing reported)."""
        found = self.catalog.constant(node.name)
        if found is None:
            return None
        node.constant, typ = found
        return typ


def _closest(name: str, struct: StructType) -> str:
    names = struct.member_names()
    close = closest_members(name, names)
    if close:
        return "the closest fields it has: " + ", ".join(close)
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"its fields are: {shown}" if names else "it has no fields"


def closest_members(name: str, names: list[str], count: int = 3) -> list[str]:
    """The members most like ``name``: those sharing a word of it (`nr_running` and
    `h_nr_queued` share `nr`, as a renamed member often keeps one) ranked by likeness, then
    those merely spelled alike."""
    words = set(name.split("_")) - {""}
    ratio = {n: difflib.SequenceMatcher(None, name, n).ratio() for n in names}
    sharing = sorted((n for n in names if words & set(n.split("_"))),
                     key=lambda n: (-len(words & set(n.split("_"))), -ratio[n]))
    alike = difflib.get_close_matches(name, names, n=count, cutoff=0.5)
    return list(dict.fromkeys(sharing + alike))[:count]
