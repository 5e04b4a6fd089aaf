"""``rawtracepoint:EVENT`` (``rt:``, also ``rawtracepoint:MODULE:EVENT``): a kernel trace event
before the kernel has built its record, with the event's own arguments.

``argN`` is the Nth argument the kernel passes to the trace event (a 64-bit word each, read
straight from the context), and ``args.NAME`` the same argument by the name and type the
kernel's BTF gives it (``args.prev`` of sched_switch is a ``struct task_struct *``). The events are tracefs's, less the per-system-call ones, which are
built on ``raw_syscalls`` and have no raw form. Attached with BPF_RAW_TRACEPOINT_OPEN.
"""

from __future__ import annotations

import difflib
import errno
import fnmatch

from typing import Optional

from ..builtins import Builtin
from ..host import btf, tracefs
from ..types import UINT64
from .base import ArgField, Provider, RawTracepoint, Target
from .fentry import emit_word_arg, word_arg_fields
from .listed import Listed, ListPattern, has_wildcard, simple_listing

MAX_ARGS = 12  # the most arguments a raw tracepoint passes to a program


def raw_events() -> dict[str, str]:
    """Raw tracepoint name -> its category, for every event that has a raw form."""
    return {event: category for category, event in
            (e.split(":", 1) for e in tracefs.available_events()) if category != "syscalls"}


class RawTracepointProvider(Provider):
    name = "rawtracepoint"
    aliases = ("rt",)
    prog_type = "RAW_TRACEPOINT"
    builtin_names = ("argN",)
    attach_hints = {errno.EINVAL: "the program reads more arguments (argN) than {name} passes"}
    list_group = "kernel"

    def expand(self, parts, span, reporter, ctx):
        if len(parts) not in (1, 2) or not parts[-1]:
            reporter.error(span, "rawtracepoint probes are written rawtracepoint:EVENT",
                           hint="for example rawtracepoint:sched_switch")
            return []
        wanted = parts[-1]
        events = raw_events()
        if has_wildcard(wanted):
            matches = sorted(e for e in events if fnmatch.fnmatchcase(e, wanted))
        else:
            matches = [wanted] if wanted in events else []
        if not matches:
            ctx.missing(reporter, span, f"rawtracepoint not found: {wanted}",
                        hint=lambda: _nearest(wanted, list(events)))
        module = f"{parts[0]}:" if len(parts) == 2 else ""
        return [Target(self, f"rawtracepoint:{module}{m}", (m,)) for m in matches]

    def arg_fields(self, target: Target) -> Optional[dict[str, ArgField]]:
        """``args.NAME``: the event's arguments as the kernel's BTF names and types them
        (bpftrace 0.26); None where the kernel has no BTF for it."""
        kernel = btf.vmlinux()
        function = kernel.raw_tracepoint(target.parts[0]) if kernel is not None else None
        return word_arg_fields(function) if function is not None else None

    def emit_arg(self, gen, field: ArgField) -> str:
        return emit_word_arg(gen, field)

    def builtin(self, name, target):
        if name.startswith("arg") and name[3:].isdigit() and int(name[3:]) < MAX_ARGS:
            offset = 8 * int(name[3:])
            return Builtin(name, UINT64, lambda gen: f"(*(u64 *)((char *)ctx + {offset}))",
                           f"argument {name[3:]} of the trace event", in_loops=False)
        return super().builtin(name, target)

    def attachment(self, target):
        return RawTracepoint(target.parts[0])

    def listing(self, pattern, verbose=False):
        # Named by the event alone, as expand names them; of MODULE:EVENT only the EVENT is
        # matched, since the module is not checked when attaching either.
        if pattern.has_parts():
            pattern = ListPattern(pattern.parts[-1])
        listed = simple_listing(self.name, pattern, raw_events())
        kernel = btf.vmlinux()
        if not verbose or kernel is None:
            return listed
        # -lv: the event's arguments as args names them.
        return [Listed(item.name, _params(kernel, item.name.split(":", 1)[1]))
                for item in listed]


def _params(kernel, event: str) -> tuple[str, ...]:
    function = kernel.raw_tracepoint(event)
    return tuple(f"{value.c_name} {name}" for name, value in function.params) if function \
        else ()


def _nearest(wanted: str, events: list[str]):
    close = difflib.get_close_matches(wanted, events, n=3, cutoff=0.7)
    return "did you mean " + " or ".join(f"rawtracepoint:{c}" for c in close) + "?" \
        if close else None
