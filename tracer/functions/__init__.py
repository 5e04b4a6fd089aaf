"""The registry of functions (``printf``, ``count``, ``exit``, ``str`` ...), one module per
concern. Each entry carries its signature, type rule and C (see ``base``); the checker and the
code generator look names up here and never branch on a name."""

from __future__ import annotations

from . import aggregations, output, params, strings
from .base import ANYWHERE, Function, Kind, MAP_VALUE_ONLY, Param, Place, Signature, STATEMENT_ONLY
from .output import EXIT_EVENT_ID


def _registry(*modules) -> dict[str, Function]:
    table: dict[str, Function] = {}
    for module in modules:
        for fn in module.FUNCTIONS:
            if fn.name in table:
                raise RuntimeError(f"function {fn.name}() is registered twice")
            table[fn.name] = fn
    return table


FUNCTIONS = _registry(output, aggregations, strings, params)

__all__ = ["ANYWHERE", "EXIT_EVENT_ID", "FUNCTIONS", "Function", "Kind", "MAP_VALUE_ONLY",
           "Param", "Place", "STATEMENT_ONLY", "Signature"]
