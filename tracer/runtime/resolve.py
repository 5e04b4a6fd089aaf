"""Turning what a probe recorded raw (``layout.RawSymbolic``: stack ids, addresses, uids,
times) into what is printed, through each kind's resolver (``functions.symbolic.RESOLVERS``)."""

from __future__ import annotations

from ..functions.symbolic import RESOLVERS
from ..layout import RawSymbolic, Record
from ..types import SymbolicType, TupleType


def has_symbolic(types) -> bool:
    """Whether values of these types need resolving at all (most events and maps do not)."""
    return any(isinstance(t, SymbolicType) or isinstance(t, TupleType) and
               has_symbolic(t.elements) for t in types if t is not None)


def resolve(runtime, value):
    if isinstance(value, RawSymbolic):
        return RESOLVERS[value.type.kind](runtime, value.type, value.words)
    if isinstance(value, Record):
        return Record(value.names, [resolve(runtime, v) for v in value])
    if isinstance(value, tuple):
        return tuple(resolve(runtime, v) for v in value)
    return value



