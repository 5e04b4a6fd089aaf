"""tracefs, read only: where it is mounted, the trace events it lists and their formats.

Nothing here mounts anything. When tracefs is not mounted, ``require`` says so with the remedy;
a real run mounts it before compiling (``runtime.kernel.tracefs_path``), and ``-d`` reads it
from a private mount (``runtime.kernel.private_tracefs``) so that a dry run changes nothing.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Optional

from ..diagnostics import TracerError
from ..types import INT8, IntType, PointerType, StringType

TRACING = "/sys/kernel/tracing"
DEBUG_TRACING = "/sys/kernel/debug/tracing"

FIELD_RE = re.compile(r"field:(?P<decl>[^;]+);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);"
                      r"\s*signed:(?P<signed>\d+);")
DECL_RE = re.compile(r"(?P<ctype>.*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<len>\d*)\])?\s*$")
# C integer types that are signed whatever the format's `signed:` says: the syscall tracepoints
# widen every argument to 8 bytes and mark it unsigned, but `int fd` is still an int.
SIGNED_C_TYPES = {"int", "long", "short", "char", "signed char", "long long", "pid_t", "s8", "s16",
                  "s32", "s64", "ssize_t", "loff_t", "off_t", "clockid_t", "key_serial_t",
                  "timer_t", "mqd_t"}


def _unescape_mount_field(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal (\040 and so on).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def read_mounts(mounts_file: str = "/proc/mounts") -> dict[str, str]:
    """Mount point -> file system type, the last mount on a point winning (it hides the others)."""
    mounts: dict[str, str] = {}
    try:
        with open(mounts_file, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    mounts[_unescape_mount_field(parts[1])] = parts[2]
    except OSError:
        pass
    return mounts


def mounted(mounts_file: str = "/proc/mounts") -> Optional[str]:
    """Where tracefs is mounted now, or None."""
    mounts = read_mounts(mounts_file)
    for path in (TRACING, DEBUG_TRACING):
        if mounts.get(path) == "tracefs":
            return path
    return None


_override: Optional[str] = None


def use(path: Optional[str]) -> None:
    """Read tracefs from ``path`` from now on (a private mount made for -d), or from wherever
    it is mounted (None)."""
    global _override
    _override = path


def require() -> str:
    """The tracefs directory to read, or an error that says how to make one."""
    path = _override or mounted()
    if path is None:
        raise TracerError("tracefs is not mounted, and the kernel describes its trace events "
                          "only there", hint=f"mount it: mount -t tracefs nodev {TRACING} (a "
                                              f"run without -d mounts it by itself)")
    return path


def read(*names: str) -> str:
    """A file of tracefs. Only root may read them, so tracepoints need root even to compile
    (-d): which ones exist and what their fields are is known from there and nowhere else."""
    tracefs = require()
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


@functools.lru_cache(maxsize=None)
def available_events() -> tuple[str, ...]:
    """Every "category:event" the kernel offers, sorted."""
    text = read("available_events")
    return tuple(sorted(line.strip() for line in text.splitlines() if line.strip()))


def event_id(category: str, event: str) -> int:
    return int(read("events", category, event, "id"))


@functools.lru_cache(maxsize=None)
def event_format(category: str, event: str) -> str:
    return read("events", category, event, "format")


class FormatField:
    """A field of a trace event's record: its name, type (None where tracer cannot read it),
    offset and size, and its C declaration as the format file gives it (for listings)."""

    __slots__ = ("name", "type", "offset", "size", "decl")

    def __init__(self, name, type, offset, size, decl):
        self.name, self.type, self.offset, self.size, self.decl = name, type, offset, size, decl


def parse_format(text: str, user_pointers: bool = False) -> dict[str, FormatField]:
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
            typ = None  # not readable yet; the checker reports it at the point of use
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
        fields[name] = FormatField(name, typ, offset, size, decl)
    return fields


@functools.lru_cache(maxsize=None)
def event_fields(category: str, event: str) -> dict[str, FormatField]:
    # A system call's pointer arguments point into the calling process's memory.
    return parse_format(event_format(category, event), user_pointers=category == "syscalls")
