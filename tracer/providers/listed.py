"""What `tracer -l` asks a probe type and what the type answers: a pattern for its probes'
names, and the probes that match it (with, for -lv, what each one offers).

Wildcards are the ones attach points take (``fnmatch``'s ``*``, ``?`` and ``[...]``), so that
what ``-l PATTERN`` lists is what a probe written ``PATTERN`` attaches to. As in bpftrace, ``*``
also matches the colons between the parts of a name (``syscalls:sys_enter_*`` and
``*:sys_enter_getpid`` both find ``syscalls:sys_enter_getpid``).

This module is imported to list probes, when nothing else of the compiler is needed: it
imports nothing of tracer and only light parts of the standard library.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Iterable


def has_wildcard(text: str) -> bool:
    """Whether an attach point's part or a listing's pattern matches more than one name."""
    return any(ch in text for ch in "*?[")


@dataclass(frozen=True)
class Listed:
    """One probe a listing shows: its full name as a probe is written
    (``tracepoint:syscalls:sys_enter_getpid``) and, for -lv, one line per argument or field."""

    name: str
    details: tuple[str, ...] = ()


class ListPattern:
    """The part of a -l pattern after the probe type, as the user wrote it
    (``syscalls:sys_enter_get*`` of ``tracepoint:syscalls:sys_enter_get*``)."""

    __slots__ = ("text", "_regex")

    def __init__(self, text: str):
        self.text = text
        # Compiled once: a kernel function listing matches the pattern against ~60 000 names.
        self._regex = re.compile(fnmatch.translate(text))

    def __repr__(self) -> str:
        return f"ListPattern({self.text!r})"

    @property
    def parts(self) -> list[str]:
        return self.text.split(":")

    def has_parts(self) -> bool:
        """Whether the pattern names more than one part (``CATEGORY:EVENT``, ``FILE:FUNC``)."""
        return ":" in self.text

    def match(self, name: str) -> bool:
        return self._regex.match(name) is not None

    def select(self, names: Iterable[str]) -> list[str]:
        """The names that match, sorted (bytewise, as bpftrace sorts them) and each once."""
        regex = self._regex
        return sorted({n for n in names if regex.match(n)})

    def widened(self, prefix: str = "*:") -> "ListPattern":
        """The pattern with ``prefix`` before it: a type whose names have two parts matches a
        one-part pattern against the last part (``sys_enter_getpid`` finds
        ``syscalls:sys_enter_getpid``), as bpftrace does."""
        return ListPattern(prefix + self.text)


def simple_listing(provider_name: str, pattern: ListPattern, names: Iterable[str]) -> list[Listed]:
    """The listing of a type whose probes are ``provider_name:NAME`` for a fixed set of names,
    with no details: NAME matching ``pattern``."""
    return [Listed(f"{provider_name}:{n}") for n in pattern.select(names)]


def with_empty_last_part(provider_name: str, pattern: ListPattern,
                         words: Iterable[str]) -> list[Listed]:
    """The listing of a type written ``TYPE:WORD:N`` whose N may be left empty (``software:
    cpu-clock:`` counts every default period; ``interval:s:`` lists the unit): each matching
    WORD, shown as bpftrace 0.26 shows it, with an empty last part. ``software:cpu-clock``
    (no colon) matches it too, not only ``software:cpu-clock:``."""
    words = list(words)
    shown = set(pattern.select(f"{w}:" for w in words))
    if not pattern.has_parts():
        shown.update(f"{w}:" for w in pattern.select(words))
    return [Listed(f"{provider_name}:{s}") for s in sorted(shown)]
