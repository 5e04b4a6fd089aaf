"""Where C puts the members of a struct or union: the x86-64 System V rules, which arm64's
AAPCS64 shares for everything written here (both little-endian, LP64).

* A member goes at the next offset that is a multiple of its alignment; the struct's alignment
  is its largest member's, and its size is rounded up to a multiple of that.
* A bitfield goes at the very next bit, unless its bits would then cross a boundary of the
  storage unit of its declared type (a ``u32 x:5`` must sit within one 4-byte-aligned 4 bytes);
  then it starts at the next such boundary. A bitfield with a name makes the struct at least as
  aligned as its declared type; an unnamed one does not.
* ``int :0`` moves the next bitfield to the next boundary of its type.
* ``packed`` puts every member at the very next byte (bitfields at the very next bit) and makes
  the struct 1-aligned; ``aligned(N)`` raises an alignment to N.
* A union's members all start at offset 0.

The tests check these against gcc.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..diagnostics import Span
from ..types import Type


@dataclass
class FieldDecl:
    """A member as declared, before it has a place."""

    name: str  # "" for an anonymous struct/union member or an unnamed bitfield
    type: Type
    span: Span
    bits: Optional[int] = None  # a bitfield's width
    align: Optional[int] = None  # __attribute__((aligned(N))) on the member
    packed: bool = False


@dataclass
class Layout:
    members: list[tuple[str, Type, int, int, int]]  # name, type, offset, bit_size, bit_shift
    size: int
    align: int


def _round_up(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple


def lay_out(kind: str, fields: list[FieldDecl], packed: bool = False,
            align: Optional[int] = None) -> Layout:
    place = _union_place if kind == "union" else _struct_place
    members, end_bits, alignment = place(fields, packed)
    if align:
        alignment = max(alignment, align)
    size = _round_up(_round_up(end_bits, 8) // 8, alignment)
    return Layout(members, size, alignment)


def _member_align(field: FieldDecl, packed: bool) -> int:
    natural = 1 if packed or field.packed else field.type.align
    return max(natural, field.align or 1)


def _struct_place(fields: list[FieldDecl], packed: bool):
    members, bit, alignment = [], 0, 1
    for field in fields:
        tsize, talign = field.type.size, max(field.type.align, 1)
        if field.bits is None:
            a = _member_align(field, packed)
            bit = _round_up(bit, 8 * a)
            members.append((field.name, field.type, bit // 8, 0, 0))
            bit += 8 * tsize
            alignment = max(alignment, a)
            continue
        width = field.bits
        if width == 0:
            bit = _round_up(bit, 8 * talign)
            continue
        if not (packed or field.packed):
            unit = 8 * tsize
            if bit // unit != (bit + width - 1) // unit:
                bit = _round_up(bit, 8 * talign)
            if field.name:
                alignment = max(alignment, talign)
        if field.align:
            bit = _round_up(bit, 8 * field.align)
            alignment = max(alignment, field.align)
        if field.name:
            members.append((field.name, field.type, bit // 8, width, bit % 8))
        bit += width
    return members, bit, alignment


def _union_place(fields: list[FieldDecl], packed: bool):
    members, end, alignment = [], 0, 1
    for field in fields:
        if field.bits is None:
            members.append((field.name, field.type, 0, 0, 0))
            end = max(end, 8 * field.type.size)
            alignment = max(alignment, _member_align(field, packed))
            continue
        end = max(end, field.bits)
        if field.name and field.bits:
            members.append((field.name, field.type, 0, field.bits, 0))
            if not (packed or field.packed):
                alignment = max(alignment, field.type.align)
    return members, end, alignment
