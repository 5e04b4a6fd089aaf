"""What a function entry is: its signature as data, its type rule, and its C.

The checker reads a ``Signature`` to refuse a call with the wrong number of arguments, the wrong
kind of argument, or in the wrong place, with one wording for every function; a function's own
``check`` only says what data cannot (printf's format against its arguments). Its ``emit`` writes
the C; an aggregation's entry folds one event into its map slot instead.

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


@dataclass(frozen=True)
class Event:
    """What a function sends to user space through the event channel, and what user space does
    with it. The resource pass gives each call of such a function an event id and a layout; the
    session hands each event it receives to ``handle``. Neither names a function.

    fields   (ast.Call) -> the types of the values the probe sends, after the event's id
    prepare  (ast.Call) -> the compile-time facts the handler needs (a parsed format ...)
    handle   (runtime, facts, values) -> None. ``runtime`` is the running session
             (``runtime.session.Session``): its ``output``, ``exit(code)``,
             ``print_map(name, top, div)``, ``clear_map(name)``, ``zero_map(name)``,
             ``diagnose(severity, span, message, kind)``, ``config`` and ``options``; and,
             for symbolic values' resolvers, ``symbols``, ``stack_ips(map, id)`` and
             ``boot_offset_ns``.

    handle_batch (runtime, facts, columns, count) -> None, optional: ``count`` events of this
             call at once, their values as columns (one sequence per value, in order). For
             events that come in floods (printf); others go through ``handle`` one by one.
    """

    fields: Callable
    handle: Callable
    prepare: Callable = lambda call: None
    handle_batch: Optional[Callable] = None


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
    # For an aggregation (only ever the value of `@map[key] = f(...)`): its entry in
    # ``aggregations.AGGREGATIONS``, which says how its map slot is folded, read and merged.
    aggregation: Optional[object] = None
    # Arguments the checker must not type as ordinary expressions (str($1) reads the
    # parameter's text, not its number): the function's check types them.
    raw_args: frozenset = field(default_factory=frozenset)
    # It ends the probe (exit()): a for loop's body, a callback, cannot do that.
    ends_probe: bool = False
    # It may run only with --unsafe (system(), signal()): it reaches beyond tracing.
    unsafe: bool = False
    # Its result may be ignored without a warning (delete(): whether the key was there).
    discardable: bool = False
    # What it sends to user space, if it sends anything (printf, print, exit ...).
    event: Optional[Event] = None
