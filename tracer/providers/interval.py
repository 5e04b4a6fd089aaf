"""``interval:UNIT:N``: a probe that fires every N units of time, on one CPU.

As in bpftrace, it is a software cpu-clock perf event on CPU 0, whose sample period is in
nanoseconds (a 64-bit period: intervals of 2^31 ns and more are kept whole); ``hz`` asks for a
frequency instead. ``profile:`` is the same on every CPU (perf_events.py).
"""

from __future__ import annotations

from .perf_events import TimerProvider


class IntervalProvider(TimerProvider):
    name = "interval"
    aliases = ("i",)

    def cpus(self):
        return (0,)
