"""What every probe type provides.

A provider owns one family of attach points (``tracepoint:``, ``interval:``, ``BEGIN`` ...): it
turns the text the user wrote into concrete targets (expanding wildcards and checking that they
exist), says what ``args`` and its own builtins (``arg0``, ``retval``, ``func`` ...) mean in its
probes, gives the C signature of a probe function, says whether the running kernel can attach
it, and says how the kernel attaches a loaded program to a target (as data: the runtime opens
it). Adding a probe type is one module and one registry line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Union

from ..builtins import Builtin
from ..diagnostics import Reporter, Span
from ..types import StringType

if TYPE_CHECKING:
    from ..types import Type
    from .listed import Listed, ListPattern


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
    decl: str = ""  # its C declaration, for listings


@dataclass(frozen=True)
class PerfEvent:
    """A perf event to open and run a program from: how tracepoints and timers attach. The
    runtime opens one such event on each CPU listed and hands it the program."""

    type: int  # PERF_TYPE_*: tracepoint, software ...
    config: int  # which event of that type: a tracepoint's id, PERF_COUNT_SW_* ...
    period: int = 1  # fire every ``period`` events (or, with ``freq``, this many times a second)
    freq: bool = False
    cpus: tuple[int, ...] = (0,)  # a tracepoint's event on CPU 0 still fires on every CPU
    # A kprobe's function or a uprobe's file: the string config1 points to (the PMU's
    # kprobe_func / uprobe_path), and config2, its offset (probe_offset).
    target: Optional[str] = None
    config1: int = 0  # where no string is wanted there: a breakpoint's address
    config2: int = 0
    bp_type: int = 0  # a breakpoint's HW_BREAKPOINT_R/W/X bits
    # Only in the traced process (-p, or -c's command) where there is one, as bpftrace
    # attaches uprobes; otherwise in every process.
    per_process: bool = False


@dataclass(frozen=True)
class RawTracepoint:
    """A raw tracepoint to attach a program to, by the kernel's name for it; None for a
    tracing program (fentry), which names its function when it is loaded."""

    name: Optional[str]


@dataclass(frozen=True)
class Unsupported:
    """Why the running kernel cannot attach a probe, and what to do instead."""

    why: str
    instead: str

    @classmethod
    def unless(cls, support, instead: Optional[str] = None) -> Optional["Unsupported"]:
        """A refusal in the words of ``host.features`` (which ``tracer doctor`` prints too),
        or None where the feature works; ``instead`` replaces its remedy where the probe knows
        a better one."""
        return None if support.ok else cls(support.why, instead or support.remedy)


@dataclass
class ExpandContext:
    """What a provider may need while expanding attach points."""

    notice: Callable[[str], None] = lambda message: None
    verbose: bool = False
    missing_probes: str = "error"  # bpftrace's config: error, warn or ignore
    # The process given with -p: user binaries and libraries are found as it sees them.
    target_pid: Optional[int] = None
    has_child: bool = False  # -c: there will be a process to follow

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
    # The kernel's program type: "TRACEPOINT", "PERF_EVENT", "RAW_TRACEPOINT", "KPROBE" (uprobes
    # too), "TRACING" (fentry).
    prog_type: str = ""
    context_type: str = "void"  # the C type the probe function's ctx points to
    # "begin", "end" or "signal" (self:signal) for probes that user space runs itself rather
    # than the kernel.
    trigger: Optional[str] = None
    # The builtins ``builtin`` answers for ("argN" stands for arg0, arg1 ...): for the message
    # that names where a builtin can be used.
    builtin_names: tuple[str, ...] = ()
    # What an attach error (by errno) most likely means for this probe type, where it says
    # more than the runtime's general hints; "{name}" is the probe.
    attach_hints: dict[int, str] = {}

    def expand(self, parts: list[str], span: Span, reporter: Reporter,
               ctx: ExpandContext) -> list[Target]:
        raise NotImplementedError

    def arg_fields(self, target: Target) -> Optional[dict[str, ArgField]]:
        """The fields of ``args`` in this probe, or None where ``args`` means nothing."""
        return None

    def emit_arg(self, gen, field: ArgField) -> str:
        """C that reads one field of ``args`` in this provider's probe function."""
        raise NotImplementedError

    def builtin(self, name: str, target: Target) -> Optional["Builtin"]:
        """A builtin that means something only in this provider's probes (``arg0``, ``retval``,
        ``func`` ...), or None. ``probe``, the target's name, means something in every probe."""
        if name == "probe":
            return constant_string("probe", target.name, "the name of the probe that fired")
        return None

    def load_attributes(self, target: Target) -> dict[str, int]:
        """What the kernel must know of the target when the program is loaded, not only when
        it is attached (fentry: the function's BTF id and the attach type)."""
        return {}

    def attachment(self, target: Target) -> Union[PerfEvent, RawTracepoint, None]:
        """How the kernel attaches the target's program (None for probes nothing attaches)."""
        raise NotImplementedError

    def unsupported(self, target: Target) -> Optional[Unsupported]:
        """Why the running kernel cannot attach the target, or None if it can (as far as can be
        told before trying)."""
        return None

    # Whose memory the probe's addresses point into, when nothing else says: a cast of an
    # integer to a pointer in a uprobe reads the traced process's memory, elsewhere the
    # kernel's.
    user_memory: bool = False

    # Which listings name this type without being asked for it by name: "kernel" for the
    # kernel's own probe points (`tracer -l` alone, `-l '*:...'`), "user" for those that need a
    # file, listed so only when the pattern names one (`-l '*:/bin/bash:*'`), None for the
    # rest (return probes, timers, BEGIN/END), as bpftrace chooses.
    list_group: Optional[str] = None

    def listing(self, pattern: "ListPattern", verbose: bool = False) -> list["Listed"]:
        """This type's probes whose names match ``pattern`` (the part of a -l pattern after
        the type), sorted, with what -lv shows of each when ``verbose``. By default a type
        has nothing to list."""
        return []


def constant_string(name: str, value: str, doc: str) -> Builtin:
    """A builtin whose value each probe knows when it is compiled (``probe``, ``func``): one C
    function serves one target, so no lookup is needed at run time."""
    data = value.encode("utf-8", "surrogateescape")
    return Builtin(name, StringType(len(data) + 1),
                   lambda gen: gen.string_constant(data, len(data) + 1).text, doc)


@dataclass
class Registry:
    providers: dict[str, Provider] = field(default_factory=dict)

    def add(self, provider: Provider) -> None:
        for name in (provider.name, *provider.aliases):
            key = self.key(name)
            if key in self.providers:
                raise RuntimeError(f"two probe types claim the name {name}")
            self.providers[key] = provider

    @staticmethod
    def key(name: str) -> str:
        """Probe type names are case-insensitive (bpftrace 0.24): begin is BEGIN. One-letter
        short names are not: u is uprobe and U is usdt."""
        return name if len(name) == 1 else name.lower()

    def get(self, name: str) -> Optional[Provider]:
        return self.providers.get(self.key(name))

    def names(self) -> list[str]:
        return sorted({p.name for p in self.providers.values()})

    def owners_of(self, builtin: str) -> list[str]:
        """The probe types in which ``builtin`` means something of their own."""
        pattern = re.sub(r"^(s?arg)\d+$", r"\1N", builtin)
        return sorted(p.name for p in self.all() if pattern in p.builtin_names)

    def all(self) -> list[Provider]:
        """Every provider once, in the order they were added."""
        return list({id(p): p for p in self.providers.values()}.values())
