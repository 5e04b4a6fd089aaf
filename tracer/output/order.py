"""Which entries of a map are printed, in which order, and with which values.

bpftrace's rules (0.26, ``types_format.cpp``), for the maps printed at exit and for
``print(@m, top, div)``:

* order: integer values (count, sum, min, max, plain integers) ascending by value; avg and stats by
  their average; hist and lhist by the sum of their buckets; every other value (strings, tuples,
  bools, stacks ...) by key. bpftrace leaves the order of equal values to its hash table; here they
  go by key, so that a run's output is the same every time;
* keys compare as bpftrace compares them: integers as signed 64-bit numbers, strings byte by byte,
  several keys one after the other;
* ``top`` keeps the last ``top`` entries of that order (the largest), 0 keeps all;
* ``div`` divides integer values, the integers inside tuples and records, the average of stats
  (not its count or total) and the counts of a log2 histogram; a linear histogram is left alone.
  The division truncates toward zero, as C's does. 0 counts as 1.

The values an output receives from here are the ones it prints: stats become the record bpftrace
0.26 prints (count, average, total) and histograms their shown rows (``buckets.ShownHistogram``).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..layout import Record
from .base import MapSnapshot
from .buckets import ShownHistogram, shown
from ..values import Buffer, Histogram, Stack, Stats

_U64 = 1 << 64
_S64 = 1 << 63

# bpftrace sorts min() and max() maps on the values read as unsigned, even for signed ones, so a
# negative minimum sorts after every positive one.
_UNSIGNED_ORDER = frozenset({"min", "max"})

# What a value is ordered by; a value of a type not listed here is ordered by its key alone.
_VALUE_ORDER: dict[type, Callable[[Any], int]] = {
    int: lambda v: v,
    Histogram: lambda h: h.total,
    Stats: lambda s: s.average,
}


def arrange(snapshot: MapSnapshot, top: int = 0, div: int = 1) -> list[tuple[Any, Any]]:
    """The entries of ``snapshot`` as bpftrace prints them: ordered, cut to ``top``, divided."""
    entries = sorted(snapshot.entries, key=lambda kv: key_order(kv[0]))
    if entries:
        by_value = _VALUE_ORDER.get(type(entries[0][1]))
        if by_value is not None:
            if snapshot.aggregation in _UNSIGNED_ORDER:
                entries.sort(key=lambda kv: by_value(kv[1]) % _U64)
            else:
                entries.sort(key=lambda kv: by_value(kv[1]))
    if top and len(entries) > top:
        entries = entries[len(entries) - top:]
    div = div or 1
    return [(key, shown_value(value, div)) for key, value in entries]


def _truncating_div(value: int, div: int) -> int:
    quotient = abs(value) // div
    return quotient if value >= 0 else -quotient


def _stats_record(stats: Stats, div: int) -> Record:
    return Record(("count", "average", "total"),
                  (stats.count, _truncating_div(stats.average, div), stats.total))


def _divide_each(values: tuple, div: int) -> tuple:
    divided = [shown_value(v, div) for v in values]
    if isinstance(values, Record):
        return Record(values.names, divided)
    return tuple(divided)


_SHOWN: dict[type, Callable[[Any, int], Any]] = {
    int: _truncating_div,
    Stats: _stats_record,
    Histogram: lambda hist, div: shown(hist, div),
    tuple: _divide_each,
    Record: _divide_each,
}


def shown_value(value: Any, div: int = 1) -> Any:
    """A decoded value as it is printed: divided by ``div`` where bpftrace divides, stats as a
    record, a histogram as its rows. Values of other types are printed as they are."""
    convert = _SHOWN.get(type(value))
    return convert(value, div) if convert is not None else value


# ---- keys ---------------------------------------------------------------------------------------


def _signed64(value: int) -> int:
    value %= _U64
    return value - _U64 if value >= _S64 else value


def _text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# Each kind of key gets a rank first, so that keys of different kinds (which one map never mixes)
# still compare without error.
_KEY_ORDER: dict[type, Callable[[Any], tuple]] = {
    bool: lambda k: (0, int(k)),
    int: lambda k: (1, _signed64(k)),
    str: lambda k: (2, _text_bytes(k)),
    Buffer: lambda k: (3, k.data),
    Stack: lambda k: (4, tuple(_text_bytes(f) for f in k.frames)),
    tuple: lambda k: (5, tuple(key_order(part) for part in k)),
    Record: lambda k: (5, tuple(key_order(part) for part in k)),
}


def key_order(key: Optional[Any]) -> tuple:
    """A sort key for a map key, in bpftrace's order of keys."""
    if key is None:
        return ()
    order = _KEY_ORDER.get(type(key))
    return order(key) if order is not None else (9, repr(key))


__all__ = ["arrange", "key_order", "shown_value", "ShownHistogram"]
