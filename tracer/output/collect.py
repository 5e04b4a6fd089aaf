"""The output of a run kept as Python values, for the Python API (``tracer.run``,
``tracer.trace``) rather than printed.

Maps arrive as the values of ``values.py``: integers, strings and tuples as keys; ``Histogram``
and ``Stats`` objects for those aggregations. Every printf, time, cat, join and system text is
kept in order, as an ``Event``; print() of a value is an event too. Nothing is written to any
file descriptor: runtime warnings are kept as text, in ``warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from .base import MapSnapshot, Output
from .text import format_diagnostic


@dataclass(frozen=True)
class Event:
    """One thing the program printed while it ran. ``kind`` is bpftrace's JSON type for it
    ("printf", "time", "cat", "join", "syscall", "value", "map"); ``data`` is the text, the
    value, or for "map" the map's name and contents as a (name, dict) pair."""

    kind: str
    data: Any


class CollectingOutput(Output):
    """An output that keeps everything; ``on_event`` (if given) sees each event as it comes."""

    def __init__(self, on_event: Optional[Callable[[Event], None]] = None):
        super().__init__(fd=-1, err_fd=-1)
        self.on_event = on_event
        self.events: list[Event] = []
        self.maps: dict[str, Any] = {}  # the maps as printed at exit (or last by print(@m))
        self.lost = 0
        self.warnings: list[str] = []
        self.attached_probes = 0

    # Nothing goes to a descriptor: what a format would write is not wanted here.
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass

    def write_err(self, text: str) -> None:
        self.warnings.append(text.rstrip("\n"))

    def _event(self, kind: str, data: Any) -> None:
        event = Event(kind, data)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def attached(self, probes: int) -> None:
        self.attached_probes = probes

    def printf(self, text: str) -> None:
        self._event("printf", text)

    def time(self, text: str) -> None:
        self._event("time", text)

    def cat(self, text: str) -> None:
        self._event("cat", text)

    def join(self, text: str) -> None:
        self._event("join", text)

    def system(self, text: str) -> None:
        self._event("syscall", text)

    def value(self, value: Any) -> None:
        self._event("value", value)

    def map(self, snapshot: MapSnapshot, top: int = 0, div: int = 1) -> None:
        contents = map_value(snapshot)
        self.maps[snapshot.name] = contents
        self._event("map", (snapshot.name, contents))

    def lost_events(self, count: int) -> None:
        self.lost += count

    def end_of_trace(self) -> None:
        pass

    def diagnostic(self, severity, message, filename=None, line=None, col=None, source=None, *,
                   end_col=None, kind=None, details=()) -> None:
        self.warnings.append(format_diagnostic(severity, message, filename, line, col, source,
                                               end_col))


def map_value(snapshot: MapSnapshot) -> Any:
    """A map as Python: a dict of key -> value for a keyed map (a key of several parts is a
    tuple), the value itself for a scalar map (None when it holds nothing)."""
    if snapshot.keyed:
        return {key: value for key, value in snapshot.entries}
    return snapshot.entries[0][1] if snapshot.entries else None


__all__ = ["CollectingOutput", "Event", "map_value"]
