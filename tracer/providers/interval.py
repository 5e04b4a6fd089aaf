"""``interval:UNIT:N``: a probe that fires every N units of time, on one CPU.

As in bpftrace, it is a software cpu-clock perf event on CPU 0, whose sample period is in
nanoseconds; ``hz`` asks for a frequency instead.
"""

from __future__ import annotations

from ..literals import LiteralError, parse_int
from .base import PerfEvent, Provider, Target

PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
UNIT_NANOSECONDS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class IntervalProvider(Provider):
    name = "interval"
    aliases = ("i",)
    prog_type = "PERF_EVENT"
    # The context (struct bpf_perf_event_data) is not read yet; declaring it would cost an
    # include and about 0.9 s of compile time on every run.
    context_type = "void"

    def expand(self, parts, span, reporter, ctx):
        if len(parts) == 1:
            # interval:1s, interval:500ms, interval:1000000 (nanoseconds): bpftrace 0.26.
            parts = ["ns", parts[0]]
        if len(parts) != 2 or (parts[0] not in UNIT_NANOSECONDS and parts[0] != "hz"):
            reporter.error(span, "interval probes are written interval:UNIT:N or interval:N",
                           hint="UNIT is s, ms, us or hz, as in interval:s:1; N alone is "
                                "nanoseconds or takes a unit, as in interval:1s")
            return []
        unit, text = parts
        try:
            count = parse_int(text)
        except LiteralError as err:
            reporter.error(span, f"interval: {err.message}")
            return []
        if count == 0:
            reporter.error(span, f"interval: '{text}' is not a positive whole number")
            return []
        return [Target(self, f"interval:{unit}:{count}", (unit, count))]

    def perf_event(self, target):
        unit, count = target.parts
        if unit == "hz":
            return PerfEvent(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, count, freq=True)
        return PerfEvent(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK,
                         count * UNIT_NANOSECONDS[unit])
