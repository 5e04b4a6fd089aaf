"""Aggregations: functions whose value only ever lives in a map, folded event by event."""

from __future__ import annotations

from .. import ast
from ..types import COUNT
from .base import Function, MAP_VALUE_ONLY, Signature


def update_count(gen, call: ast.Call, m, key: str) -> None:
    # The map is per CPU, so a plain increment is safe: no other CPU touches this slot.
    slot = gen.temp(f"{gen.ctypes.pointer(m.value_struct)}{{}} = {m.c_name}.lookup({key})")
    gen.line(f"if ({slot}) {{ {slot}->f0 += 1; }} else {{")
    gen.line(f"  {gen.ctypes.name(m.value_struct)} one = {{1}}; {m.c_name}.update({key}, &one);")
    gen.line("}")


def _not_a_value(gen, call: ast.Call):
    raise AssertionError(f"{call.name}() is an aggregation: its map assignment emits it")


FUNCTIONS = [
    Function("count", "count how often the map entry is reached",
             Signature(places=MAP_VALUE_ONLY), COUNT, _not_a_value, update=update_count),
]
