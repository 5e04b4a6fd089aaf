"""``profile:``, ``software:`` and ``hardware:``: perf events opened on every CPU.

``profile:hz:99`` samples each CPU 99 times a second (a cpu-clock event asking for a frequency);
``profile:ms:10`` every 10 ms of each CPU's time. ``software:EVENT:N`` and ``hardware:EVENT:N``
fire every N occurrences of one of the kernel's predefined events, N defaulting as in bpftrace.
Hardware events need the processor's counters, which a VM often hides: that is said before
anything is attached.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..host import features
from ..literals import LiteralError, parse_int
from ..machine import online_cpu_numbers
from .base import PerfEvent, Provider, Target, Unsupported
from .listed import with_empty_last_part

PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE = 0, 1
PERF_COUNT_SW_CPU_CLOCK = 0
UNIT_NANOSECONDS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
# The units -l lists for profile: and interval: (bpftrace lists no ns, though it takes it).
TIME_UNITS = ("s", "ms", "us", "hz")


@dataclass(frozen=True)
class EventKind:
    """One predefined perf event: its name, short name, perf's number and default period."""

    name: str
    alias: str
    config: int
    default_period: int


SOFTWARE_EVENTS = [
    EventKind("cpu-clock", "cpu", 0, 1_000_000),
    EventKind("task-clock", "", 1, 1),
    EventKind("page-faults", "faults", 2, 100),
    EventKind("context-switches", "cs", 3, 1000),
    EventKind("cpu-migrations", "", 4, 1),
    EventKind("minor-faults", "", 5, 100),
    EventKind("major-faults", "", 6, 1),
    EventKind("alignment-faults", "", 7, 1),
    EventKind("emulation-faults", "", 8, 1),
    EventKind("dummy", "", 9, 1),
    EventKind("bpf-output", "", 10, 1),
]

HARDWARE_EVENTS = [
    EventKind("cpu-cycles", "cycles", 0, 1_000_000),
    EventKind("instructions", "", 1, 1_000_000),
    EventKind("cache-references", "", 2, 1_000_000),
    EventKind("cache-misses", "", 3, 1_000_000),
    EventKind("branch-instructions", "branches", 4, 100_000),
    EventKind("branch-misses", "", 5, 100_000),
    EventKind("bus-cycles", "", 6, 100_000),
    EventKind("frontend-stalls", "", 7, 1_000_000),
    EventKind("backend-stalls", "", 8, 1_000_000),
    EventKind("ref-cycles", "", 9, 1_000_000),
]


def parse_count(text: str, what: str, span, reporter):
    """A positive count or period as bpftrace takes it (1000, 1e6, 1_000), or None (reported)."""
    try:
        count = parse_int(text)
    except LiteralError as err:
        reporter.error(span, f"{what}: {err.message}")
        return None
    if count <= 0:
        reporter.error(span, f"{what}: '{text}' is not a positive whole number")
        return None
    return count


def time_spec(parts: list[str], what: str, span, reporter):
    """(unit, count) of ``UNIT:N`` or ``N`` (nanoseconds, or with a unit: 1s, 500ms), or None."""
    if len(parts) == 1:
        parts = ["ns", parts[0]]
    if len(parts) != 2 or (parts[0] not in UNIT_NANOSECONDS and parts[0] != "hz"):
        reporter.error(span, f"{what} probes are written {what}:UNIT:N or {what}:N",
                       hint=f"UNIT is s, ms, us or hz, as in {what}:s:1; N alone is "
                            f"nanoseconds or takes a unit, as in {what}:1s")
        return None
    count = parse_count(parts[1], what, span, reporter)
    return None if count is None else (parts[0], count)


def clock_event(unit: str, count: int, cpus: tuple[int, ...]) -> PerfEvent:
    """A cpu-clock event firing every ``count`` units (or ``count`` times a second for hz)."""
    if unit == "hz":
        return PerfEvent(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, count, freq=True, cpus=cpus)
    return PerfEvent(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK,
                     count * UNIT_NANOSECONDS[unit], cpus=cpus)


class TimerProvider(Provider):
    """profile: and interval: share their shape: UNIT:N, a cpu-clock event; they differ in
    where it fires (``cpus``)."""

    prog_type = "PERF_EVENT"
    # The context (struct bpf_perf_event_data) is not read yet; declaring it would cost an
    # include and about 0.9 s of compile time on every run.
    context_type = "void"

    def cpus(self) -> tuple[int, ...]:
        raise NotImplementedError

    def expand(self, parts, span, reporter, ctx):
        spec = time_spec(parts, self.name, span, reporter)
        if spec is None:
            return []
        return [Target(self, f"{self.name}:{spec[0]}:{spec[1]}", spec)]

    def attachment(self, target):
        return clock_event(*target.parts, cpus=self.cpus())

    def listing(self, pattern, verbose=False):
        # Its units, as bpftrace 0.26 lists them when the type is named (0.17 refuses).
        return with_empty_last_part(self.name, pattern, TIME_UNITS)


class ProfileProvider(TimerProvider):
    name = "profile"
    aliases = ("p",)

    def cpus(self):
        return online_cpu_numbers()


class CountedEventProvider(Provider):
    """software: and hardware: share their shape: EVENT[:COUNT] from a table of events."""

    perf_type = PERF_TYPE_SOFTWARE
    events: list[EventKind] = []
    prog_type = "PERF_EVENT"
    context_type = "void"
    list_group = "kernel"

    def find(self, word: str):
        return next((e for e in self.events if word in (e.name, e.alias) and word), None)

    def expand(self, parts, span, reporter, ctx):
        if len(parts) not in (1, 2) or not parts[0]:
            reporter.error(span, f"{self.name} probes are written {self.name}:EVENT:COUNT",
                           hint=f"for example {self.name}:{self.events[0].name}:1000")
            return []
        kind = self.find(parts[0])
        if kind is None:
            names = ", ".join(e.name for e in self.events)
            ctx.missing(reporter, span, f"{self.name} event not found: {parts[0]}",
                        hint=f"the {self.name} events are {names}")
            return []
        count = kind.default_period
        if len(parts) == 2 and parts[1]:
            count = parse_count(parts[1], self.name, span, reporter)
            if count is None:
                return []
        return [Target(self, f"{self.name}:{kind.name}:{count}", (kind.config, count))]

    def attachment(self, target):
        config, count = target.parts
        return PerfEvent(self.perf_type, config, count, cpus=online_cpu_numbers())

    def listing(self, pattern, verbose=False):
        # Every event by its name and its short name, as bpftrace 0.26 lists them (0.17 lists
        # only the pattern itself: `software:*:`). Hardware events are listed where the
        # machine has no counters too: attaching one is what says so.
        words = [w for e in self.events for w in (e.name, e.alias) if w]
        return with_empty_last_part(self.name, pattern, words)


class SoftwareProvider(CountedEventProvider):
    name = "software"
    aliases = ("s",)
    events = SOFTWARE_EVENTS


class HardwareProvider(CountedEventProvider):
    name = "hardware"
    aliases = ("h",)
    perf_type = PERF_TYPE_HARDWARE
    events = HARDWARE_EVENTS

    def unsupported(self, target):
        return Unsupported.unless(features.hardware_counters())
