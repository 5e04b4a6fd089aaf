"""bpftrace's probe types that tracer has no provider for yet, by every name bpftrace accepts.

Only for the message: a bpftrace user who writes `kfunc:vfs_read` learns that tracer knows the
probe type and lacks it, rather than that no such type exists. A provider that arrives takes its
names out of this table (a unit test checks that none is in both)."""

from __future__ import annotations

from typing import Optional

# bpftrace 0.26's name of each probe type -> its other spellings.
_NAMES = {
    "asyncwatchpoint": ("aw",),
    "iter": ("it",),
}

_BY_NAME = {alias: name for name, aliases in _NAMES.items() for alias in (name, *aliases)}


def unsupported_probe_type(written: str) -> Optional[str]:
    """bpftrace's name for a probe type tracer lacks, or None if bpftrace has no such type."""
    return _BY_NAME.get(written) or _BY_NAME.get(written.lower())


def names() -> list[str]:
    return list(_BY_NAME)
