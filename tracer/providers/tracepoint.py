"""``tracepoint:CATEGORY:EVENT`` (alias ``t:``): the kernel's static trace events.

Events and their fields are read from tracefs (``host.tracefs``): ``available_events`` lists
them, and each event's ``format`` file gives every field's C declaration, offset, size and
signedness. ``args`` fields are read straight from the probe's context at those offsets, so no
kernel header is needed to know their layout.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from typing import Optional

from ..diagnostics import TracerError
from ..host import tracefs
from ..cdefs.catalog import kernel_pointer
from ..types import IntType, PointerType, StringType
from .base import ArgField, PerfEvent, Provider, Target
from .listed import Listed, has_wildcard

PERF_TYPE_TRACEPOINT = 2


class TracepointProvider(Provider):
    name = "tracepoint"
    aliases = ("t",)
    prog_type = "TRACEPOINT"
    list_group = "kernel"

    def expand(self, parts, span, reporter, ctx):
        if len(parts) != 2 or not all(parts):
            reporter.error(span, "tracepoint probes are written tracepoint:CATEGORY:EVENT",
                           hint="for example tracepoint:syscalls:sys_enter_openat")
            return []
        wanted = f"{parts[0]}:{parts[1]}"
        events = tracefs.available_events()
        if has_wildcard(wanted):
            matches = [e for e in events if fnmatch.fnmatchcase(e, wanted)]
        else:
            matches = [wanted] if wanted in events else []
        if not matches:
            ctx.missing(reporter, span, f"tracepoint not found: {wanted}",
                        hint=lambda: _nearest(wanted, events))
        return [Target(self, f"tracepoint:{m}", tuple(m.split(":", 1))) for m in matches]

    def arg_fields(self, target: Target) -> Optional[dict[str, ArgField]]:
        return arg_fields(*target.parts)

    def emit_arg(self, gen, field: ArgField) -> str:
        # The context is the raw trace record, so fields are read at their format offsets.
        if isinstance(field.type, StringType):
            buf = gen.buffer(field.type, zeroed=False)
            gen.line(f"bpf_probe_read_kernel({buf}, {field.size}, (char *)ctx + {field.offset});")
            gen.line(f"{buf}[{field.size - 1}] = 0;")
            return buf
        ctype = field.type.ctype if isinstance(field.type, IntType) else "u64"
        return f"(*({ctype} *)((char *)ctx + {field.offset}))"

    def attachment(self, target):
        # One event on CPU 0 with no task: the program runs wherever the tracepoint fires.
        return PerfEvent(PERF_TYPE_TRACEPOINT, tracefs.event_id(*target.parts))

    def listing(self, pattern, verbose=False):
        # CATEGORY:EVENT, or EVENT alone in any category.
        if not pattern.has_parts():
            pattern = pattern.widened()
        return [Listed(f"tracepoint:{e}", listed_fields(e) if verbose else ())
                for e in pattern.select(tracefs.available_events())]


def listed_fields(event: str) -> tuple[str, ...]:
    """An event's own fields (not the common_* ones every event starts with) as -lv shows
    them: each field's declaration exactly as the format file writes it, `char comm[16]` and
    `__data_loc char[] name` included. An event whose format cannot be read shows none."""
    try:
        text = tracefs.event_format(*event.split(":", 1))
    except TracerError:
        return ()
    # The common fields come first and a blank line ends them.
    _, _, own = text.partition("\n\n")
    return tuple(line[len("\tfield:"):].split(";", 1)[0]
                 for line in own.splitlines() if line.startswith("\tfield:"))


@functools.lru_cache(maxsize=None)
def arg_fields(category: str, event: str) -> dict[str, ArgField]:
    return {name: ArgField(f.name, _typed(f), f.offset, f.size, f.decl)
            for name, f in tracefs.event_fields(category, event).items()}


def _typed(field):
    """A field's type, a pointer to a struct made a typed pointer where the kernel's BTF has
    the struct: ``args.rqtp->tv_nsec`` reads the struct nanosleep was given. A system call's
    pointers point into user memory, other events' into the kernel's."""
    typ = field.type
    if isinstance(typ, PointerType) and typ.target is None:
        pointee = field.decl.rsplit("*", 1)[0]
        return kernel_pointer(pointee, bool(typ.user)) or typ
    return typ


def _nearest(wanted: str, events: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(wanted, events, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"tracepoint:{c}" for c in close) + "?"
    return f"list them with: tracer -l 'tracepoint:{wanted.split(':')[0]}:*'"
