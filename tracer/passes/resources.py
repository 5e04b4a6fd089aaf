"""Pass 3: the kernel-side resources the program needs, each with a C name and a byte layout.

Maps get compiler-chosen C names (m0, m1, ...) in name order; every printf call site becomes
an event type with an id and a layout, shared by the C that fills it and the Python that decodes
it. User text never becomes a C identifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import ast
from ..layout import Layout
from ..printf import Part, parse_format
from ..types import UINT64, CountType, Type
from .attach import ProbeSite
from .semantic import MapType, SemanticFacts

MAX_MAP_ENTRIES = 4096  # bpftrace's default (BPFTRACE_MAP_KEYS_MAX)


@dataclass
class MapResource:
    name: str  # as the user wrote it: "@", "@x"
    c_name: str
    key_types: list[Type]
    value_type: Type
    key_layout: Layout
    value_layout: Layout

    @property
    def scalar(self) -> bool:
        return not self.key_types

    @property
    def per_cpu(self) -> bool:
        """Aggregations are kept per CPU (no atomics) and summed when read."""
        return isinstance(self.value_type, CountType)

    @property
    def c_declaration(self) -> str:
        key, value = f"struct {self.c_name}_key", f"struct {self.c_name}_value"
        if self.per_cpu and self.scalar:
            # An array always has its one slot, so an unset count prints 0, as in bpftrace.
            return f"BPF_PERCPU_ARRAY({self.c_name}, {value}, 1);"
        kind = "BPF_PERCPU_HASH" if self.per_cpu else "BPF_HASH"
        return f"{kind}({self.c_name}, {key}, {value}, {MAX_MAP_ENTRIES});"


@dataclass
class PrintfEvent:
    id: int
    format_parts: list[Part]
    layout: Layout  # field 0 is the event id

    @property
    def struct_tag(self) -> str:
        return f"printf_{self.id}"


@dataclass
class Resources:
    maps: dict[str, MapResource] = field(default_factory=dict)
    printfs: dict[int, PrintfEvent] = field(default_factory=dict)  # by event id
    _printf_by_node: dict[int, PrintfEvent] = field(default_factory=dict)

    def printf_for(self, call: ast.Call) -> PrintfEvent:
        return self._printf_by_node[id(call)]


def collect_resources(sites: list[ProbeSite], facts: SemanticFacts) -> Resources:
    res = Resources()
    for i, (name, mt) in enumerate(sorted(facts.maps.items())):
        res.maps[name] = _map_resource(f"m{i}", mt)
    for site in sites:
        for call in _calls(site):
            if call.name == "printf":
                event_id = len(res.printfs) + 1
                fmt = call.args[0].value.decode("utf-8", "surrogateescape")
                layout = Layout.of([UINT64, *(a.type for a in call.args[1:])])
                event = PrintfEvent(event_id, parse_format(fmt), layout)
                res.printfs[event_id] = event
                res._printf_by_node[id(call)] = event
    return res


def _map_resource(c_name: str, mt: MapType) -> MapResource:
    value = mt.value_type
    stored: Type = UINT64 if isinstance(value, CountType) else value
    return MapResource(mt.name, c_name, mt.key_types, value,
                       Layout.of(mt.key_types or [UINT64]), Layout.of([stored]))


def _calls(site: ProbeSite):
    """Every call in a site, in source order."""
    for node in ast.walk([site.predicate, *site.body]):
        if isinstance(node, ast.Call):
            yield node
