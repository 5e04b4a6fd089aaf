"""The program's maps as user space sees them: read (decoded, CPUs merged), cleared, zeroed.

A plain map's value decodes by its type (``tracer.layout``). An aggregation's map keeps one slot
of 64-bit words per CPU; its registry entry merges the slots into the value output renders, by
its own rule (a sum adds, a max takes the largest), so nothing here names an aggregation.
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
        entries = []
        words = struct.Struct(f"<{m.words}q") if m.per_cpu else None
        symbolic = has_symbolic([m.key_type, m.value_type])
        for raw_key, raw_values in maps.entries(self.fds[m.c_name], self._key_size(m),
                                                m.value_size, m.per_cpu):
            if m.per_cpu:
                value = m.aggregation.merge([words.unpack(raw) for raw in raw_values],
                                            m.aggregate)
            else:
                value = m.value_layout.decode(raw_values[0])[0]
            key = None if m.scalar else m.key_layout.decode(raw_key)[0]
            if symbolic:
                key, value = self.resolve(key), self.resolve(value)
            entries.append((key, value))
        aggregate = m.aggregate
        return MapSnapshot(m.name, not m.scalar, entries, aggregate.name if aggregate else "")

    def clear(self, name: str) -> None:
        """Every entry gone (a scalar aggregation's one slot, which always exists, zeroed)."""
        m = self.by_name[name]
        if m.is_array:
            self.zero(name)
            return
        fd = self.fds[m.c_name]
        for key in maps.all_keys(fd, self._key_size(m)):
            maps.delete(fd, key)

    def zero(self, name: str) -> None:
        """Every entry kept, its value set to zero."""
        m = self.by_name[name]
        fd = self.fds[m.c_name]
        size = m.value_size
        if m.per_cpu:
            size = (size + 7) // 8 * 8 * maps.possible_cpus()
        zeros = bytes(size)
        for key in maps.all_keys(fd, self._key_size(m)):
            maps.update(fd, key, zeros)
