"""What every probe type provides.

A provider owns one family of attach points (``tracepoint:``, ``interval:``, ``BEGIN`` ...): it
turns the text the user wrote into concrete targets (expanding wildcards and checking that they
exist), says what ``args`` means in its probes, gives the C signature of a probe function, and
says how the kernel attaches a loaded program to a target (as data: the runtime opens it). Adding
a probe type is one module and one registry line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

from ..diagnostics import Reporter, Span

if TYPE_CHECKING:
    from ..types import Type


@dataclass(frozen=True)
class Target:
    """One concrete place a probe function runs, such as one tracepoint."""

    provider: "Provider"
    name: str  # canonical, as shown to the user: "tracepoint:syscalls:sys_enter_getppid"
    parts: tuple = ()  # the provider's own parsed description


@dataclass(frozen=True)
class ArgField:
    """A field of ``args``: where it sits in the probe's context and how to read it."""

    name: str
    type: "Type"
    offset: int
    size: int


@dataclass(frozen=True)
class PerfEvent:
    """A perf event to open and run a program from: how tracepoints and timers attach. The
    runtime opens one such event on each CPU listed and hands it the program."""

    type: int  # PERF_TYPE_*: tracepoint, software ...
    config: int  # which event of that type: a tracepoint's id, PERF_COUNT_SW_* ...
    period: int = 1  # fire every ``period`` events (or, with ``freq``, this many times a second)
    freq: bool = False
    cpus: tuple[int, ...] = (0,)  # a tracepoint's event on CPU 0 still fires on every CPU


@dataclass
class ExpandContext:
    """What a provider may need while expanding attach points."""

    notice: Callable[[str], None] = lambda message: None
    verbose: bool = False
    missing_probes: str = "error"  # bpftrace's config: error, warn or ignore

    def missing(self, reporter: Reporter, span: Span, message: str, hint=None) -> None:
        """An attach point that matches nothing: an error, a warning or nothing at all, as
        the program's missing_probes setting says."""
        if self.missing_probes == "error":
            reporter.error(span, message, hint=hint)
        elif self.missing_probes == "warn":
            reporter.warning(span, message, hint=hint)


class Provider:
    name: str = ""
    aliases: tuple[str, ...] = ()
    prog_type: str = ""  # the kernel's program type: "TRACEPOINT", "PERF_EVENT", "RAW_TRACEPOINT"
    context_type: str = "void"  # the C type the probe function's ctx points to
    # "begin" or "end" for probes that user space runs itself rather than the kernel.
    trigger: Optional[str] = None

    def expand(self, parts: list[str], span: Span, reporter: Reporter,
               ctx: ExpandContext) -> list[Target]:
        raise NotImplementedError

    def arg_fields(self, target: Target) -> Optional[dict[str, ArgField]]:
        """The fields of ``args`` in this probe, or None where ``args`` means nothing."""
        return None

    def emit_arg(self, gen, field: ArgField) -> str:
        """C that reads one field of ``args`` in this provider's probe function."""
        raise NotImplementedError

    def perf_event(self, target: Target) -> Optional[PerfEvent]:
        """How the kernel attaches the target's program (None for probes nothing attaches)."""
        raise NotImplementedError


@dataclass
class Registry:
    providers: dict[str, Provider] = field(default_factory=dict)

    def add(self, provider: Provider) -> None:
        for name in (provider.name, *provider.aliases):
            key = name.lower()
            if key in self.providers:
                raise RuntimeError(f"two probe types claim the name {name}")
            self.providers[key] = provider

    def get(self, name: str) -> Optional[Provider]:
        """Probe type names are case-insensitive (bpftrace 0.24): begin is BEGIN."""
        return self.providers.get(name.lower())

    def names(self) -> list[str]:
        return sorted({p.name for p in self.providers.values()})
