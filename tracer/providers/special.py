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
