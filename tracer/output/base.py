"""What the runtime hands to an output format, and the interface every format implements."""

from __future__ import annotations

from dataclasses import dataclass
import os
from typing import Optional, Union

from ..types import BoolType, CountType, IntType, Type

Value = Union[int, bool, str, tuple]


@dataclass
class MapSnapshot:
    """A map's contents as read at one moment, decoded and summed across CPUs."""

    name: str  # "@", "@x"
    value_type: Type
    key_type: Optional[Type]  # None for a scalar map (@x)
    entries: list[tuple[Optional[Value], Value]]  # (key, value); the key is None if scalar

    @property
    def keyed(self) -> bool:
        return self.key_type is not None

    def sorted_entries(self) -> list[tuple[Optional[Value], Value]]:
        """bpftrace's order: numbers by value, ascending; other values by key. Ties go by key
        so that the output is the same from run to run."""
        by_key = sorted(self.entries, key=lambda kv: _order(kv[0]))
        if isinstance(self.value_type, (IntType, CountType, BoolType)):
            return sorted(by_key, key=lambda kv: kv[1])
        return by_key


def _order(value) -> tuple:
    """A sort key that orders any mix of decoded values without comparing int with str."""
    if value is None:
        return ()
    if isinstance(value, tuple):
        return tuple(_order(v) for v in value)
    if isinstance(value, (int, bool)):
        return (0, int(value), "")
    return (1, 0, value)


class Output:
    """One output format. Text goes out as bytes so that any byte a probe read survives.

    Output is gathered here and written with os.write at each flush. Python's buffered files
    are not used on purpose: on a seekable file they keep their own idea of the position and
    seek before writing, which overwrites what a -c command wrote to the same file meanwhile.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self._pending: list[bytes] = []

    def write(self, text: str) -> None:
        self._pending.append(text.encode("utf-8", "surrogateescape"))

    def flush(self) -> None:
        data = memoryview(b"".join(self._pending))
        self._pending.clear()
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def attached(self, probes: int) -> None:
        raise NotImplementedError

    def printf(self, text: str) -> None:
        raise NotImplementedError

    def lost_events(self, count: int) -> None:
        raise NotImplementedError

    def end_of_trace(self) -> None:
        """Tracing has stopped; the maps come next."""
        raise NotImplementedError

    def map(self, snapshot: MapSnapshot) -> None:
        raise NotImplementedError


__all__ = ["MapSnapshot", "Output"]
