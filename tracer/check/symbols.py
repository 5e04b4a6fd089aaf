"""What the checker knows about names: scratch variables in their block scopes, and maps.

A variable belongs to the block where it is first assigned or declared with ``let``, and is
seen there and in the blocks inside it (bpftrace 0.22 and later); a nested block cannot
declare a variable of the same name again. Every declaration is its own ``Variable``, so two
sibling blocks may each have a ``$x`` of its own type.

Types are learned over several rounds (a variable read in a loop before the assignment that
widens it, a map read in one probe and written in another), so a variable is identified by its
declaring node, which is the same in every round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..diagnostics import Span
from ..types import Type


@dataclass(eq=False)
class Variable:
    name: str
    key: tuple  # (site index, id of the declaring node): the same in every round
    index: int  # its place in its site: the code generator calls it v<index>
    span: Span  # where it is declared, for messages
    type: Optional[Type] = None
    locked: bool = False  # its type was written (`let $x: uint16`) and does not widen
    assigned: bool = False


@dataclass
class Scope:
    parent: Optional["Scope"] = None
    names: dict[str, Variable] = field(default_factory=dict)

    def find(self, name: str) -> Optional[Variable]:
        scope: Optional[Scope] = self
        while scope is not None:
            found = scope.names.get(name)
            if found is not None:
                return found
            scope = scope.parent
        return None


@dataclass
class MapInfo:
    """What the program stores in one map, learned from every use of it."""

    name: str
    span: Span  # the first assignment, for messages
    keyed: Optional[bool] = None  # None until a use says; False for `@x`, True for `@x[k]`
    key: Optional[Type] = None  # one key's type; several keys make a tuple
    value: Optional[Type] = None
    aggregation: Optional[str] = None  # the function that makes its values (count ...)
    assigned: bool = False

    def shape(self) -> tuple:
        return (self.keyed, self.key, self.value, self.aggregation, self.assigned)


@dataclass
class TypeFacts:
    """What one round of checking learned, handed to the next round."""

    variables: dict[tuple, Type] = field(default_factory=dict)
    maps: dict[str, MapInfo] = field(default_factory=dict)

    def same_as(self, other: "TypeFacts") -> bool:
        return (self.variables == other.variables and
                {n: m.shape() for n, m in self.maps.items()} ==
                {n: m.shape() for n, m in other.maps.items()})
