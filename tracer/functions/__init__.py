"""The registry of functions (``printf``, ``count``, ``exit``, ``str`` ...), one module per
concern. Each entry carries its signature, type rule and C (see ``base``); the checker and the
code generator look names up here and never branch on a name."""

from __future__ import annotations

from . import actions, aggregations, maps, numbers, output, params, strings, symbolic
from .base import (ANYWHERE, Event, Function, Kind, MAP_VALUE_ONLY, Param, Place, Signature,
                   STATEMENT_ONLY)


def _registry(*modules) -> dict[str, Function]:
    table: dict[str, Function] = {}
    for module in modules:
        for fn in module.FUNCTIONS:
            if fn.name in table:
                raise RuntimeError(f"function {fn.name}() is registered twice")
            table[fn.name] = fn
    return table


FUNCTIONS = _registry(output, actions, aggregations, maps, numbers, strings, params,
                      symbolic)

__all__ = ["ANYWHERE", "Event", "FUNCTIONS", "Function", "Kind", "MAP_VALUE_ONLY",
           "Param", "Place", "STATEMENT_ONLY", "Signature"]
