"""The program's maps as user space sees them: read (decoded, CPUs merged), cleared, zeroed.

A plain map's value decodes by its type (``tracer.layout``). An aggregation's map keeps one slot
of 64-bit words per CPU; its registry entry merges the slots into the value output renders, by
its own rule (a sum adds, a max takes the largest), so nothing here names an aggregation.

A map is read whole (``maps.read_all``) and decoded in bulk: all keys in one pass over the key
bytes, all CPUs' slots in one pass over the value bytes, since maps of 100,000 keys are printed
at exit and should take no longer than in bpftrace.
"""

from __future__ import annotations

import struct

from ..output import MapSnapshot
from ..passes.resources import MapResource
from . import maps
from .resolve import has_symbolic


class ProgramMaps:
    def __init__(self, resources, fds: dict[str, int], resolve):
        self.by_name: dict[str, MapResource] = resources.maps
        self.fds = fds  # by C name
        self.resolve = resolve  # raw symbolic values (stacks ...) -> what is printed

    def _key_size(self, m: MapResource) -> int:
        return 4 if m.is_array else m.key_layout.size

    def read(self, name: str) -> MapSnapshot:
        m = self.by_name[name]
        raw = maps.read_all(self.fds[m.c_name], self._key_size(m), m.value_size, m.per_cpu)
        values = self._merged(m, raw.values) if m.per_cpu else \
            m.value_layout.read_column(raw.values)
        keys = [None] * raw.count if m.scalar else m.key_layout.read_column(raw.keys)
        if has_symbolic([m.key_type, m.value_type]):
            resolve = self.resolve
            entries = [(resolve(k), resolve(v)) for k, v in zip(keys, values)]
        else:
            entries = list(zip(keys, values))
        aggregate = m.aggregate
        return MapSnapshot(m.name, not m.scalar, entries, aggregate.name if aggregate else "")

    @staticmethod
    def _merged(m: MapResource, raw_values: bytes) -> list:
        """Each entry's CPU slots (one after another in the value bytes) merged into its value."""
        slots = struct.Struct(f"<{m.words}q").iter_unpack(raw_values)
        per_entry = zip(*[slots] * maps.possible_cpus())  # each entry's CPUs' slots, in a tuple
        merge, aggregate = m.aggregation.merge, m.aggregate
        return [merge(cpus, aggregate) for cpus in per_entry]

    def clear(self, name: str) -> None:
        """Every entry gone (a scalar aggregation's one slot, which always exists, zeroed)."""
        m = self.by_name[name]
        if m.is_array:
            self.zero(name)
            return
        fd = self.fds[m.c_name]
        raw = maps.read_all(fd, self._key_size(m), m.value_size, m.per_cpu)
        maps.delete_many(fd, raw.keys, raw.key_size)

    def zero(self, name: str) -> None:
        """Every entry kept, its value set to zero."""
        m = self.by_name[name]
        fd = self.fds[m.c_name]
        raw = maps.read_all(fd, self._key_size(m), m.value_size, m.per_cpu)
        maps.update_many(fd, raw.keys, bytes(len(raw.values)), raw.key_size, raw.value_stride)
