"""``interval:UNIT:N``: a probe that fires every N units of time, on one CPU.

As in bpftrace, it is a software cpu-clock perf event on CPU 0, whose sample period is in
nanoseconds (a 64-bit period: intervals of 2^31 ns and more are kept whole); ``hz`` asks for a
frequency instead.
"""

from __future__ import annotations

from .base import Provider, Target
from .listed import with_empty_last_part
from .perf_events import TIME_UNITS, clock_event, time_spec


class IntervalProvider(Provider):
    name = "interval"
    aliases = ("i",)
    prog_type = "PERF_EVENT"
    # The context (struct bpf_perf_event_data) is not read yet; declaring it would cost an
    # include and about 0.9 s of compile time on every run.
    context_type = "void"

    def expand(self, parts, span, reporter, ctx):
        spec = time_spec(parts, "interval", span, reporter)
        if spec is None:
            return []
        return [Target(self, f"interval:{spec[0]}:{spec[1]}", spec)]

    def attachment(self, target):
        return clock_event(*target.parts, cpus=(0,))

    def listing(self, pattern, verbose=False):
        # Its units, as bpftrace 0.26 lists them when interval: is named (0.17 refuses).
        return with_empty_last_part(self.name, pattern, TIME_UNITS)
