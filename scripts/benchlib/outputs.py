"""What a run printed, read the same way for both tools.

Where the tools differ in stream, both streams are read: bpftrace 0.17 prints "Lost N events"
on stdout, bpftrace 0.26 and tracer on stderr; "Attaching N probes..." (bpftrace, stdout) and
"Attached N probes" (tracer, stderr) are never counted as printf lines because those carry a
tag of their own.
"""

from __future__ import annotations

import re

_LOST = re.compile(r"^Lost (\d+) events$", re.MULTILINE)
_MAP_ENTRY = re.compile(r"^@\[(-?\d+)\]: (\d+)$", re.MULTILINE)


def printed_lines(stdout: str, tag: str) -> int:
    """Lines the probe's printf wrote: those that start with its tag."""
    return sum(1 for line in stdout.splitlines() if line.startswith(tag))


def lost_events(*streams: str) -> int:
    """The events the tool reported lost, summed over every report in every stream."""
    return sum(int(count) for stream in streams for count in _LOST.findall(stream))


def map_entries(stdout: str, first: int, count: int, value: int = 1) -> int:
    """Entries ``@[k]: value`` with k in [first, first + count): the keys a workload made on
    purpose, leaving out those its start-up made (the dynamic loader closes a few fds too)."""
    return sum(1 for key, got in _MAP_ENTRY.findall(stdout)
               if first <= int(key) < first + count and int(got) == value)
