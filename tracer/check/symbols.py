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
from ..types import AggregateType, Type


@dataclass(eq=False)
class Variable:
    name: str
    key: tuple  # (site index, id of the declaring node): the same in every round
    index: int  # its place in its site: the code generator calls it v<index>
    span: Span  # where it is declared, for messages
    type: Optional[Type] = None
    locked: bool = False  # its type was written (`let $x: uint16`) and does not widen
    assigned: bool = False


class Scopes:
    """The variables in sight while a probe is checked, innermost scope last.

    One dictionary from a name to its declarations, innermost last, and per scope the names
    it declared: finding a name costs the same however deep the blocks nest (a chain of
    scopes made a program of thousands of nested loops quadratic)."""

    def __init__(self):
        self._visible: dict[str, list[Variable]] = {}
        self._declared: list[list[str]] = [[]]

    def push(self) -> None:
        self._declared.append([])

    def pop(self) -> None:
        for name in self._declared.pop():
            shadowed = self._visible[name]
            shadowed.pop()
            if not shadowed:
                del self._visible[name]

    def declare(self, name: str, variable: Variable) -> None:
        self._visible.setdefault(name, []).append(variable)
        self._declared[-1].append(name)

    def find(self, name: str) -> Optional[Variable]:
        found = self._visible.get(name)
        return found[-1] if found else None


@dataclass
class MapInfo:
    """What the program stores in one map, learned from every use of it."""

    name: str
    span: Span  # the first assignment, for messages
    keyed: Optional[bool] = None  # None until a use says; False for `@x`, True for `@x[k]`
    key: Optional[Type] = None  # one key's type; several keys make a tuple
    value: Optional[Type] = None  # an AggregateType for a map of count(), hist() ...
    assigned: bool = False

    @property
    def aggregation(self) -> Optional[str]:
        """The aggregation that makes its values (count ...), or None for plain values."""
        return self.value.name if isinstance(self.value, AggregateType) else None

    def shape(self) -> tuple:
        return (self.keyed, self.key, self.value, self.assigned)


@dataclass
class TypeFacts:
    """What one round of checking learned, handed to the next round."""

    variables: dict[tuple, Type] = field(default_factory=dict)
    maps: dict[str, MapInfo] = field(default_factory=dict)

    def same_as(self, other: "TypeFacts") -> bool:
        return (self.variables == other.variables and
                {n: m.shape() for n, m in self.maps.items()} ==
                {n: m.shape() for n, m in other.maps.items()})
