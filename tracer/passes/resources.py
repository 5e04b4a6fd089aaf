"""The kernel-side resources the program needs, each with a C name and a byte layout.

Maps get compiler-chosen C names (m0, m1, ...) in name order; every call of a function that
sends events (printf, print, exit ...: its registry entry says so) becomes an event type with an
id and a layout, shared by the C that fills it and the Python that decodes it. User text never
becomes a C identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .. import ast
from ..check import ProgramFacts
from ..check.symbols import MapInfo
from ..config import Config
from ..layout import Layout
from ..functions import FUNCTIONS, Event
from ..functions.aggregations import AGGREGATIONS, Aggregation
from ..types import INT64, UINT64, AggregateType, TupleType, Type
from .attach import ProbeSite


@dataclass
class MapResource:
    name: str  # as the user wrote it: "@", "@x"
    index: int  # among the program's maps: m<index> in C
    c_name: str
    key_type: Optional[Type]  # None for a scalar map (@x)
    value_type: Type  # a plain value's type, or the AggregateType of an aggregation's map
    max_entries: int

    @property
    def aggregate(self) -> Optional[AggregateType]:
        return self.value_type if isinstance(self.value_type, AggregateType) else None

    @property
    def aggregation(self) -> Optional[Aggregation]:
        """The aggregation's entry: how its slots are folded, read and merged."""
        agg = self.aggregate
        return AGGREGATIONS[agg.name] if agg is not None else None

    @property
    def words(self) -> int:
        """An aggregation's slot: this many 64-bit words per CPU."""
        return self.aggregation.words(self.aggregate)

    @property
    def scalar(self) -> bool:
        return self.key_type is None

    @property
    def is_array(self) -> bool:
        """A scalar count() is an array of one slot that always exists, so a count that never
        fired prints 0, as in bpftrace; every other map has an entry only once it is written
        (a sum that never fired prints nothing)."""
        return self.scalar and self.aggregate is not None and self.aggregate.name == "count"

    @property
    def per_cpu(self) -> bool:
        """Aggregations are kept per CPU (no atomics) and merged when read."""
        return self.aggregate is not None

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
        """The C struct a plain value is kept in (an aggregation's is a slot of words)."""
        return TupleType((self.value_type,))

    @property
    def key_layout(self) -> Layout:
        return Layout.of([self.stored_key])

    @property
    def value_size(self) -> int:
        return self.words * 8 if self.per_cpu else self.value_layout.size

    @property
    def value_layout(self) -> Layout:
        return Layout.of([self.value_type])


@dataclass
class EventSite:
    """One call that sends events: its id, its layout (field 0 is the id), and the facts its
    handler needs, computed once here."""

    id: int
    event: Event
    layout: Layout
    facts: Any
    span: Any

    @property
    def layout_tuple(self) -> TupleType:
        """The event as a tuple type: the code generator fills it like any tuple."""
        return TupleType(self.layout.types)


# Event id 0 is the runtime's own: a map update the kernel refused (the map is full); calls'
# events are numbered from 1.
WARNING_EVENT_ID = 0
WARNING_LAYOUT = Layout.of([UINT64, UINT64, INT64])  # id, warning site, the helper's result


@dataclass
class Resources:
    maps: dict[str, MapResource] = field(default_factory=dict)
    events: dict[int, EventSite] = field(default_factory=dict)  # by event id
    _event_by_node: dict[int, EventSite] = field(default_factory=dict)

    def event_for(self, call: ast.Call) -> EventSite:
        return self._event_by_node[id(call)]


def collect_resources(sites: list[ProbeSite], facts: ProgramFacts, config: Config) -> Resources:
    res = Resources()
    assigned = sorted((name, info) for name, info in facts.maps.items() if info.value is not None)
    for i, (name, info) in enumerate(assigned):
        res.maps[name] = _map_resource(i, info, config)
    for site in sites:
        for call in _calls(site):
            fn = FUNCTIONS.get(call.name)
            if fn is None or fn.event is None or id(call) in res._event_by_node:
                continue
            event_id = len(res.events) + 1
            layout = Layout.of([UINT64, *fn.event.fields(call)])
            event = EventSite(event_id, fn.event, layout, fn.event.prepare(call), call.span)
            res.events[event_id] = event
            res._event_by_node[id(call)] = event
    return res


def _map_resource(index: int, info: MapInfo, config: Config) -> MapResource:
    return MapResource(info.name, index, f"m{index}", info.key if info.keyed else None,
                       info.value, config.max_map_keys)


def _calls(site: ProbeSite):
    """Every call in a site, in source order."""
    for node in ast.walk([site.predicate, site.body]):
        if isinstance(node, ast.Call):
            yield node
