"""bpftrace's histogram bucket indexes, and ``Histogram`` values built from counts per index.

The kernel side of hist() and lhist() counts values per bucket index; these functions say which
index a value falls in (as bpftrace 0.26's generated code computes it) and turn the counts per
index back into ``values.Histogram`` with each bucket's bounds, for the runtime and for tests.

log2 with k bits (n = 2^k buckets per power of two):
  index 0: values below 0; index 1 + v for 0 <= v < n; past that, 1 + ((l + 1) << k) + x, where
  l + k is the position of v's leftmost 1 bit and x the k bits after it. The largest value,
  2^63 - 1, falls in index (64 - k) * n, so there are (64 - k) * n + 1 indexes.
lhist(min, max, step):
  index 0: below min; 1 + (v - min) / step inside; values above max share the last index with
  those of the last, partial, step: 1 + (max - min) / step.
"""

from __future__ import annotations

from typing import Sequence

from .values import Bucket, Histogram


def log2_bucket_count(bits: int) -> int:
    return ((64 - bits) << bits) + 1


def log2_index(value: int, bits: int = 0) -> int:
    if value < 0:
        return 0
    mask = (1 << bits) - 1
    if value <= mask:
        return value + 1
    shift = value.bit_length() - 1 - bits
    return ((shift + 1) << bits) + ((value >> shift) & mask) + 1


def _log2_upper(index: int, bits: int) -> int:
    """The bound above bucket ``index``: the lowest value of the next bucket."""
    if index <= 2 << bits:
        return index
    n = 1 << bits
    return (1 << ((index >> bits) - 1)) * (n + (index & (n - 1)))


def log2_histogram(counts: Sequence[int], bits: int = 0) -> Histogram:
    """A log2 histogram from its counts per index (shorter lists are padded with zeros)."""
    total = log2_bucket_count(bits)
    padded = list(counts) + [0] * (total - len(counts))
    buckets, lower = [], None
    for index, count in enumerate(padded):
        upper = _log2_upper(index, bits)
        buckets.append(Bucket(lower, upper, count))
        lower = upper
    return Histogram("log2", tuple(buckets), bits)


def linear_bucket_count(lo: int, hi: int, step: int) -> int:
    return (hi - lo) // step + 2


def linear_index(value: int, lo: int, hi: int, step: int) -> int:
    if value < lo:
        return 0
    if value > hi:
        return 1 + (hi - lo) // step
    return 1 + (value - lo) // step


def linear_histogram(counts: Sequence[int], lo: int, hi: int, step: int) -> Histogram:
    """An lhist(lo, hi, step) histogram from its counts per index."""
    total = linear_bucket_count(lo, hi, step)
    padded = list(counts) + [0] * (total - len(counts))
    buckets, lower = [], None
    for index, count in enumerate(padded):
        upper = lo + index * step
        if upper > hi:  # the last bucket: everything from its lower bound up
            buckets.append(Bucket(lower, None, count))
            break
        buckets.append(Bucket(lower, upper, count))
        lower = upper
    return Histogram("linear", tuple(buckets))


def log2_of(values: Sequence[int], bits: int = 0) -> Histogram:
    """hist(v, bits) called once for each of ``values``."""
    counts = [0] * log2_bucket_count(bits)
    for value in values:
        counts[log2_index(value, bits)] += 1
    return log2_histogram(counts, bits)


def linear_of(values: Sequence[int], lo: int, hi: int, step: int) -> Histogram:
    """lhist(v, lo, hi, step) called once for each of ``values``."""
    counts = [0] * linear_bucket_count(lo, hi, step)
    for value in values:
        counts[linear_index(value, lo, hi, step)] += 1
    return linear_histogram(counts, lo, hi, step)


__all__ = ["linear_bucket_count", "linear_histogram", "linear_index", "linear_of",
           "log2_bucket_count", "log2_histogram", "log2_index", "log2_of"]
