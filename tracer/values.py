"""The values output formats render, apart from how any format renders them.

The runtime decodes what the kernel kept into these, and every format (text, JSON, the terminal)
renders the same objects. Plain values are Python's own: ``int``, ``bool``, ``str`` (decoded with
surrogateescape, so any byte survives), ``tuple`` and ``layout.Record`` (a tuple with field
names). The classes below are the values Python has no type for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Bucket:
    """One histogram bucket: values in [lo, hi). ``lo`` None is the bucket of everything below
    ``hi``; ``hi`` None the bucket of everything from ``lo`` up."""

    lo: Optional[int]
    hi: Optional[int]
    count: int


@dataclass(frozen=True)
class Histogram:
    """``hist()`` (kind "log2", ``bits`` its buckets-per-power-of-two argument) or ``lhist()``
    (kind "linear"). ``buckets`` holds every bucket the aggregation keeps, in order, empty ones
    included: which ones to show is the format's business."""

    kind: str
    buckets: tuple[Bucket, ...]
    bits: int = 0

    @property
    def total(self) -> int:
        return sum(b.count for b in self.buckets)


@dataclass(frozen=True)
class Stats:
    """``stats()``: how many values, and their sum. The average is the sum divided by the count,
    truncated toward zero as C's integer division truncates."""

    count: int
    total: int

    @property
    def average(self) -> int:
        if self.count == 0:
            return 0
        quotient = abs(self.total) // self.count
        return quotient if self.total >= 0 else -quotient


@dataclass(frozen=True)
class Stack:
    """A kernel or user stack, already symbolized: one string per frame, innermost first, as the
    stack's mode ("bpftrace", "perf", "raw") writes a frame."""

    frames: tuple[str, ...]
    mode: str = "bpftrace"


class Pointer(int):
    """A pointer's value: shown in hex in text (``0xffff8881...``, bpftrace 0.26), as a number
    in JSON. An ``int``, so it sorts and compares as one."""


@dataclass(frozen=True)
class Buffer:
    """``buf()``: raw bytes, shown as bpftrace shows a buffer."""

    data: bytes
