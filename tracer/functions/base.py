"""What a function entry is: its signature as data, its type rule, and its C.

The checker reads a ``Signature`` to refuse a call with the wrong number of arguments, the wrong
kind of argument, or in the wrong place, with one wording for every function; a function's own
``check`` only says what data cannot (printf's format against its arguments). Its ``emit`` writes
the C; an aggregation's ``update`` folds one event into its map slot instead.

Where a call may stand (``Place``):
  STMT       a statement of its own: ``printf("x");``
  EXPR       inside another expression: ``$n = strlen($s) + 1``
  MAP_VALUE  the right side of a map assignment: ``@n = count();``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Optional, Union

from ..types import Type


class Place(Enum):
    STMT = "statement"
    EXPR = "expression"
    MAP_VALUE = "map value"


ANYWHERE = frozenset(Place)
STATEMENT_ONLY = frozenset({Place.STMT})
MAP_VALUE_ONLY = frozenset({Place.MAP_VALUE})


class Kind(Enum):
    """What an argument must be. LITERAL kinds must be written as literals in the program."""

    ANY = "a value"
    INT = "an integer"
    STRING = "a string"
    STRING_LITERAL = "a string literal"
    INT_LITERAL = "an integer literal"
    MAP = "a map"
    # Checked by the function itself (str() takes a positional parameter or an address).
    CUSTOM = "an argument"


@dataclass(frozen=True)
class Param:
    name: str
    kind: Kind = Kind.ANY
    optional: bool = False


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...] = ()
    # Trailing arguments beyond ``params`` (printf's values), checked by the function.
    variadic: Optional[Param] = None
    places: frozenset = ANYWHERE

    @property
    def min_args(self) -> int:
        return sum(1 for p in self.params if not p.optional)

    @property
    def max_args(self) -> Optional[int]:
        return None if self.variadic else len(self.params)

    def param_for(self, index: int) -> Optional[Param]:
        if index < len(self.params):
            return self.params[index]
        return self.variadic


# The result type: a fixed type, or a rule over the call and its argument types.
ResultRule = Union[Type, Callable]


@dataclass(frozen=True)
class Function:
    name: str
    doc: str
    signature: Signature
    result: ResultRule
    emit: Callable  # (FunctionBuilder, ast.Call) -> CValue, or None for a statement
    # The hand-written part of the type rule, where data cannot say it:
    # (Checker, ast.Call, argument types) -> None, reporting through the checker.
    check: Optional[Callable] = None
    # For an aggregation (only ever the value of `@map[key] = f(...)`): the C that folds one
    # more event into the map's slot. (FunctionBuilder, ast.Call, MapResource, key) -> None
    update: Optional[Callable] = None
    # Arguments the checker must not type as ordinary expressions (str($1) reads the
    # parameter's text, not its number): the function's check types them.
    raw_args: frozenset = field(default_factory=frozenset)
    # It ends the probe (exit()): a for loop's body, a callback, cannot do that.
    ends_probe: bool = False

    @property
    def aggregation(self) -> bool:
        return self.update is not None
