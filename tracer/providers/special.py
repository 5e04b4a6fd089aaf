"""``BEGIN`` and ``END``: probes that run once, when tracing starts and when it ends.

They are loaded as raw-tracepoint programs but never attached: the runtime runs them itself
with BPF_PROG_TEST_RUN, on its own thread, so that BEGIN's output is complete before any other
probe's and END runs after the last event has been read.
"""

from __future__ import annotations

from .base import Provider, Target


class SpecialProvider(Provider):
    prog_type = "RAW_TRACEPOINT"
    context_type = "struct bpf_raw_tracepoint_args"

    def __init__(self, name: str):
        self.name = name
        self.trigger = name.lower()

    def expand(self, parts, span, reporter, ctx):
        if parts:
            reporter.error(span, f"{self.name} takes no arguments")
            return []
        return [Target(self, self.name)]

    def attachment(self, target):  # run by the session, never attached
        return None


BEGIN = SpecialProvider("BEGIN")
END = SpecialProvider("END")

# The signals a self:signal probe may name (bpftrace 0.26 has SIGUSR1 alone).
SELF_SIGNALS = ("SIGUSR1",)


class SelfProvider(SpecialProvider):
    """``self:signal:SIGUSR1``: runs when tracer itself receives the signal, as BEGIN runs
    when tracing starts. A program with such a probe keeps tracing, waiting for it."""

    def __init__(self):
        super().__init__("self")
        self.trigger = "signal"

    def expand(self, parts, span, reporter, ctx):
        if len(parts) != 2 or parts[0] != "signal" or parts[1] not in SELF_SIGNALS:
            reporter.error(span, "self probes are written self:signal:SIGNAL",
                           hint="the signal is " + " or ".join(SELF_SIGNALS))
            return []
        return [Target(self, f"self:signal:{parts[1]}", (parts[1],))]
