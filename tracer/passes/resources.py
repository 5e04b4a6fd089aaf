"""The kernel-side resources the program needs, each with a C name and a byte layout.

Maps get compiler-chosen C names (m0, m1, ...) in name order; every printf call site becomes
an event type with an id and a layout, shared by the C that fills it and the Python that decodes
it. User text never becomes a C identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .. import ast
from ..check import ProgramFacts
from ..check.symbols import MapInfo
from ..config import Config
from ..layout import Layout
from ..printf import Part, parse_format
from ..types import UINT64, TupleType, Type
from .attach import ProbeSite


@dataclass
class MapResource:
    name: str  # as the user wrote it: "@", "@x"
    index: int  # among the program's maps: m<index> in C
    c_name: str
    key_type: Optional[Type]  # None for a scalar map (@x)
    value_type: Type  # what a value decodes as (count() decodes as a u64)
    aggregation: Optional[str]  # "count" ..., or None for plain values
    max_entries: int

    @property
    def scalar(self) -> bool:
        return self.key_type is None

    @property
    def per_cpu(self) -> bool:
        """Aggregations are kept per CPU (no atomics) and merged when read."""
        return self.aggregation is not None

    @property
    def stored_key(self) -> Type:
        """The key as stored: a scalar map keeps its one entry under key 0."""
        return self.key_type if self.key_type is not None else UINT64

    @property
    def key_struct(self) -> TupleType:
        """The C struct a key is kept in (one member, f0)."""
        return TupleType((self.stored_key,))

    @property
    def value_struct(self) -> TupleType:
        return TupleType((self.value_type,))

    @property
    def key_layout(self) -> Layout:
        return Layout.of([self.stored_key])

    @property
    def value_layout(self) -> Layout:
        return Layout.of([self.value_type])


@dataclass
class PrintfEvent:
    id: int
    format_parts: list[Part]
    layout: Layout  # field 0 is the event id

    @property
    def struct_tag(self) -> str:
        return f"printf_{self.id}"

    @property
    def layout_tuple(self) -> TupleType:
        """The event as a tuple type: the code generator fills it like any tuple."""
        return TupleType(self.layout.types)


@dataclass
class Resources:
    maps: dict[str, MapResource] = field(default_factory=dict)
    printfs: dict[int, PrintfEvent] = field(default_factory=dict)  # by event id
    _printf_by_node: dict[int, PrintfEvent] = field(default_factory=dict)

    def printf_for(self, call: ast.Call) -> PrintfEvent:
        return self._printf_by_node[id(call)]


def collect_resources(sites: list[ProbeSite], facts: ProgramFacts, config: Config) -> Resources:
    res = Resources()
    assigned = sorted((name, info) for name, info in facts.maps.items() if info.value is not None)
    for i, (name, info) in enumerate(assigned):
        res.maps[name] = _map_resource(i, info, config)
    for site in sites:
        for call in _calls(site):
            if call.name == "printf" and id(call) not in res._printf_by_node:
                event_id = len(res.printfs) + 1
                fmt = call.args[0].value.decode("utf-8", "surrogateescape")
                layout = Layout.of([UINT64, *(a.type for a in call.args[1:])])
                event = PrintfEvent(event_id, parse_format(fmt), layout)
                res.printfs[event_id] = event
                res._printf_by_node[id(call)] = event
    return res


def _map_resource(index: int, info: MapInfo, config: Config) -> MapResource:
    value = UINT64 if info.aggregation is not None else info.value
    return MapResource(info.name, index, f"m{index}", info.key if info.keyed else None, value,
                       info.aggregation, config.max_map_keys)


def _calls(site: ProbeSite):
    """Every call in a site, in source order."""
    for node in ast.walk([site.predicate, site.body]):
        if isinstance(node, ast.Call):
            yield node
