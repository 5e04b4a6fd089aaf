"""Which buckets of a histogram are shown, and how their bounds are labelled.

Every format shows the same rows: from the lowest to the highest non-empty bucket, empty ones
between included (bpftrace 0.26, ``types_format.cpp``). What differs between formats is only how a
row is drawn, so the rows are worked out here once.

A bound has two faces, as in bpftrace: a number (what JSON prints) and a text (what the text
format prints). Small log2 bounds and the bounds of a linear histogram whose step is not a multiple
of 1024 are plain numbers; larger log2 bounds and the bounds of a 1024-multiple step are written
with a K/M/G... suffix ("1K"), and bpftrace keeps those as symbols whose number is unsigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..values import Histogram

_SUFFIXES = ("", "K", "M", "G", "T", "P", "E")  # powers of 1024
_KILO, _MEGA = 1024, 1024 * 1024


@dataclass(frozen=True)
class Label:
    """One bound of a bucket."""

    number: int
    text: str
    # A plain number, as opposed to a suffixed symbol. Two plain bounds one apart make a
    # one-value bucket, which text shows as "[n]" rather than "[n, n+1)".
    plain: bool


@dataclass(frozen=True)
class Row:
    """A shown bucket: ``lower`` None for the bucket of everything below ``upper``, ``upper``
    None for the bucket of everything from ``lower`` up."""

    lower: Optional[Label]
    upper: Optional[Label]
    count: int

    @property
    def single_value(self) -> bool:
        return (self.lower is not None and self.upper is not None and self.lower.plain
                and self.upper.plain and self.upper.number == self.lower.number + 1)


@dataclass(frozen=True)
class ShownHistogram:
    """A histogram as a format shows it; ``kind`` is the source's ("log2" or "linear")."""

    kind: str
    rows: tuple[Row, ...]

    @property
    def largest(self) -> int:
        return max((row.count for row in self.rows), default=0)


def shown(hist: Histogram, div: int = 1) -> ShownHistogram:
    """The rows of ``hist``. ``div`` divides the counts of a log2 histogram (print(@h, top, div));
    bpftrace leaves a linear histogram's counts alone. Which rows show is decided on the counts
    before division, as bpftrace decides it."""
    counts = [b.count for b in hist.buckets]
    used = [i for i, count in enumerate(counts) if count > 0]
    if not used:
        return ShownHistogram(hist.kind, ())
    label = _LABELLERS[hist.kind](hist)
    divisor = max(div, 1) if hist.kind == "log2" else 1
    rows = tuple(Row(label(b.lo) if b.lo is not None else None,
                     label(b.hi) if b.hi is not None else None,
                     b.count // divisor)
                 for b in hist.buckets[used[0]:used[-1] + 1])
    return ShownHistogram(hist.kind, rows)


def _log2_labeller(hist: Histogram) -> Callable[[int], Label]:
    # With k bits, bucket indexes up to 2 << k hold one value each and are labelled with plain
    # numbers; a bound there equals its index. Past it, a bound is 2^p * (n + i) with n = 2^k,
    # 0 <= i < n, written with the suffix of the largest power of 1024 in 2^p.
    plain_limit = 2 << hist.bits

    def label(bound: int) -> Label:
        if bound <= plain_limit:
            return Label(bound, str(bound), True)
        power = bound.bit_length() - 1 - hist.bits
        decade = min(power // 10, len(_SUFFIXES) - 1)
        return Label(bound, f"{bound >> (10 * decade)}{_SUFFIXES[decade]}", False)

    return label


def _linear_labeller(hist: Histogram) -> Callable[[int], Label]:
    step = next((b.hi - b.lo for b in hist.buckets if b.lo is not None and b.hi is not None), 1)
    if step % _KILO != 0:
        return lambda bound: Label(bound, str(bound), True)

    # The divisions are exact, so Python's flooring // gives C's truncated quotient.
    def label(bound: int) -> Label:
        if bound != 0 and bound % _MEGA == 0:
            return Label(bound, f"{bound // _MEGA}M", False)
        if bound != 0 and bound % _KILO == 0:
            return Label(bound, f"{bound // _KILO}K", False)
        return Label(bound, str(bound), False)

    return label


_LABELLERS: dict[str, Callable[[Histogram], Callable[[int], Label]]] = {
    "log2": _log2_labeller,
    "linear": _linear_labeller,
}


def text_label(row: Row) -> str:
    """A row's bucket as text shows it: "(..., 0)", "[0]", "[2, 4)", "[1K, 2K)", "[10, ...)"."""
    if row.lower is None:
        return f"(..., {row.upper.text})"
    if row.upper is None:
        return f"[{row.lower.text}, ...)"
    if row.single_value:
        return f"[{row.lower.text}]"
    return f"[{row.lower.text}, {row.upper.text})"


__all__ = ["Label", "Row", "ShownHistogram", "shown", "text_label"]
