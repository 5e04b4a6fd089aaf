"""``tracepoint:CATEGORY:EVENT`` (alias ``t:``): the kernel's static trace events.

Events and their fields are read from tracefs: ``available_events`` lists them, and each
event's ``format`` file gives every field's C declaration, offset, size and signedness. ``args``
fields are read straight from the probe's context at those offsets, so no kernel header is
needed to know their layout.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
import re
from typing import Optional

from ..diagnostics import TracerError
from ..runtime import kernel
from ..types import INT8, IntType, PointerType, StringType
from .base import ArgField, PerfEvent, Provider, Target

PERF_TYPE_TRACEPOINT = 2

FIELD_RE = re.compile(r"field:(?P<decl>[^;]+);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);"
                      r"\s*signed:(?P<signed>\d+);")
DECL_RE = re.compile(r"(?P<ctype>.*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<len>\d*)\])?\s*$")
# C integer types that are signed whatever the format's `signed:` says: the syscall tracepoints
# widen every argument to 8 bytes and mark it unsigned, but `int fd` is still an int.
SIGNED_C_TYPES = {"int", "long", "short", "char", "signed char", "long long", "pid_t", "s8", "s16",
                  "s32", "s64", "ssize_t", "loff_t", "off_t", "clockid_t", "key_serial_t",
                  "timer_t", "mqd_t"}


class TracepointError(Exception):
    pass


@functools.lru_cache(maxsize=1)
def available_events(tracefs: str) -> tuple[str, ...]:
    """Every "category:event" the kernel offers."""
    text = _read_tracefs(tracefs, "available_events")
    return tuple(sorted(line.strip() for line in text.splitlines() if line.strip()))


def _read_tracefs(tracefs: str, *names: str) -> str:
    """A file of tracefs. Only root may read them, so tracepoints need root even to compile
    (-d): which ones exist and what their fields are is known from there and nowhere else."""
    path = os.path.join(tracefs, *names)
    try:
        with open(path) as f:
            return f.read()
    except PermissionError:
        raise TracerError(f"tracepoint probes need root, even to compile them (-d): the "
                          f"kernel describes them in {tracefs}, which only root may read",
                          hint="run it with sudo or as root; a program without tracepoints "
                               "(BEGIN, END, interval) compiles with -d as any user") from None
    except OSError as err:
        raise TracerError(f"cannot read {path}: {err.strerror}") from None


def parse_format(text: str, user_pointers: bool = False) -> dict[str, ArgField]:
    """The fields of an event's format file, common_* fields included, by name. A pointer
    field points into user memory when ``user_pointers`` says so (a system call's arguments)."""
    fields = {}
    for m in FIELD_RE.finditer(text):
        decl = m.group("decl").strip()
        offset, size, signed = int(m.group("offset")), int(m.group("size")), m.group("signed") == "1"
        d = DECL_RE.match(decl)
        if not d:
            continue
        name, ctype, array_len = d.group("name"), d.group("ctype").strip(), d.group("len")
        if ctype.startswith("__data_loc") or (array_len is not None and "char" not in ctype):
            typ = None  # not readable yet; arg_fields reports it at the point of use
        elif array_len is not None:
            typ = StringType(size)
        elif size not in (1, 2, 4, 8):
            typ = None
        elif "*" in ctype:
            pointee = ctype.replace("*", " ").split()
            target = INT8 if "char" in pointee else None
            typ = PointerType(target, user=True if user_pointers else None)
        else:
            base = " ".join(w for w in ctype.split() if w not in ("const", "volatile"))
            typ = IntType(size * 8, signed or base in SIGNED_C_TYPES)
        fields[name] = ArgField(name, typ, offset, size)
    return fields


class TracepointProvider(Provider):
    name = "tracepoint"
    aliases = ("t",)
    prog_type = "TRACEPOINT"

    def expand(self, parts, span, reporter, ctx):
        if len(parts) != 2 or not all(parts):
            reporter.error(span, "tracepoint probes are written tracepoint:CATEGORY:EVENT",
                           hint="for example tracepoint:syscalls:sys_enter_openat")
            return []
        wanted = f"{parts[0]}:{parts[1]}"
        events = available_events(kernel.tracefs_path(ctx.notice))
        if any(ch in wanted for ch in "*?["):
            matches = [e for e in events if fnmatch.fnmatchcase(e, wanted)]
        else:
            matches = [wanted] if wanted in events else []
        if not matches:
            ctx.missing(reporter, span, f"tracepoint not found: {wanted}",
                        hint=lambda: _nearest(wanted, events))
        return [Target(self, f"tracepoint:{m}", tuple(m.split(":", 1))) for m in matches]

    def arg_fields(self, target: Target) -> Optional[dict[str, ArgField]]:
        return read_fields(kernel.tracefs_path(lambda message: None), *target.parts)

    def emit_arg(self, gen, field: ArgField) -> str:
        # The context is the raw trace record, so fields are read at their format offsets.
        if isinstance(field.type, StringType):
            buf = gen.buffer(field.type, zeroed=False)
            gen.line(f"bpf_probe_read_kernel({buf}, {field.size}, (char *)ctx + {field.offset});")
            gen.line(f"{buf}[{field.size - 1}] = 0;")
            return buf
        ctype = field.type.ctype if isinstance(field.type, IntType) else "u64"
        return f"(*({ctype} *)((char *)ctx + {field.offset}))"

    def perf_event(self, target):
        # One event on CPU 0 with no task: the program runs wherever the tracepoint fires.
        text = _read_tracefs(kernel.tracefs_path(lambda message: None), "events",
                             *target.parts, "id")
        return PerfEvent(PERF_TYPE_TRACEPOINT, int(text))


def _nearest(wanted: str, events: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(wanted, events, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"tracepoint:{c}" for c in close) + "?"
    return "tracer -l is not here yet; list them with: ls /sys/kernel/tracing/events/"


@functools.lru_cache(maxsize=None)
def read_fields(tracefs: str, category: str, event: str) -> dict[str, ArgField]:
    text = _read_tracefs(tracefs, "events", category, event, "format")
    # A system call's pointer arguments point into the calling process's memory.
    return parse_format(text, user_pointers=category == "syscalls")
