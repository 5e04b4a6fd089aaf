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

from operator import attrgetter, itemgetter
from typing import Any, Callable, Optional

from ..layout import Record
from .base import MapSnapshot
from .buckets import ShownHistogram, shown
from ..values import Buffer, Histogram, Pointer, Stack, Stats

_U64 = 1 << 64
_S64 = 1 << 63

# bpftrace sorts min() and max() maps on the values read as unsigned, even for signed ones, so a
# negative minimum sorts after every positive one.
_UNSIGNED_ORDER = frozenset({"min", "max"})

_COUNT = attrgetter("count")

# What an entry is ordered by, given the type of its value; a value of a type not listed here is
# ordered by its key alone.
_VALUE_ORDER: dict[type, Callable[[tuple], Any]] = {
    int: itemgetter(1),
    Histogram: lambda kv: sum(map(_COUNT, kv[1].buckets)),  # its total, counted fast
    Stats: lambda kv: kv[1].average,
}


def arrange(snapshot: MapSnapshot, top: int = 0, div: int = 1) -> list[tuple[Any, Any]]:
    """The entries of ``snapshot`` as bpftrace prints them: ordered, cut to ``top``, divided."""
    entries = list(snapshot.entries)
    _sort_by_key(entries)
    if entries:
        by_value = _VALUE_ORDER.get(type(entries[0][1]))
        if by_value is not None:
            if snapshot.aggregation in _UNSIGNED_ORDER:
                entries.sort(key=lambda kv: by_value(kv) % _U64)
            else:
                entries.sort(key=by_value)
    if top and len(entries) > top:
        entries = entries[len(entries) - top:]
    div = div or 1
    if div == 1 and set(map(type, map(itemgetter(1), entries))) <= _SHOWN_AS_THEY_ARE:
        return entries  # the common case, a big map of counts: nothing to convert
    return [(key, shown_value(value, div)) for key, value in entries]


def _sort_by_key(entries: list) -> None:
    """Sort entries by key, in place. The keys of one map are all of one kind, and then the
    kind's own order does without ``key_order``'s rank (and integers that are already signed
    64-bit numbers compare as they are). An empty map has no kind and nothing to sort."""
    keys = list(map(itemgetter(0), entries))
    kinds = set(map(type, keys))
    order = _KEY_KINDS.get(kinds.pop()) if len(kinds) == 1 else None
    if order is None:
        entries.sort(key=lambda kv: key_order(kv[0]))
    elif order is _KEY_KINDS[int] and -_S64 <= min(keys) and max(keys) < _S64:
        entries.sort(key=itemgetter(0))
    else:
        by_kind = order[1]
        entries.sort(key=lambda kv: by_kind(kv[0]))


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


# Values that print as they are when nothing divides them.
_SHOWN_AS_THEY_ARE = frozenset({int, bool, str, Stack, Buffer})

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


# Each kind of key: its rank, so that keys of different kinds (which one map never mixes) still
# compare without error, and its own order.
_KEY_KINDS: dict[type, tuple[int, Callable[[Any], Any]]] = {
    bool: (0, int),
    int: (1, _signed64),
    Pointer: (1, int),
    str: (2, _text_bytes),
    Buffer: (3, lambda k: k.data),
    Stack: (4, lambda k: tuple(_text_bytes(f) for f in k.frames)),
    tuple: (5, lambda k: tuple(key_order(part) for part in k)),
    Record: (5, lambda k: tuple(key_order(part) for part in k)),
}


def key_order(key: Optional[Any]) -> tuple:
    """A sort key for a map key, in bpftrace's order of keys."""
    if key is None:
        return ()
    kind = _KEY_KINDS.get(type(key))
    if kind is None:
        return (9, repr(key))
    rank, order = kind
    return (rank, order(key))


__all__ = ["arrange", "key_order", "shown_value", "ShownHistogram"]
