"""The maps of the live view (``live.py``): each map as a block of small tables, cut to the lines
it is given.

A block is made of sections (one per keyed histogram, one for any other map), each a header line
and rows. A block knows how many lines it would like and the fewest worth showing; when it gets
fewer than it would like it shows the rows most worth seeing (the largest values, the fullest
buckets) and says how many it left out. Rows are only formatted when drawn, so a map of 100,000
keys costs its ordering, not 100,000 formatted lines per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, Callable, Optional, Sequence

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from .base import MapSnapshot
from .buckets import ShownHistogram, text_label
from .order import arrange
from .terminal import smooth_bar
from .text import format_key, format_value
from ..values import Histogram, Stats

MORE = "…"  # starts the line that counts what was left out
_MIN_BAR = 4  # narrower than this, a bar says nothing: the column is left out


# ---- text of keys, values and rates ---------------------------------------------------------


def one_line(text: str) -> str:
    """A value's text on one line: a stack's frames (one per line in bpftrace's text) are
    joined with "; ", as a table row has one line."""
    if "\n" not in text:
        return text
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def key_text(key: Optional[Any]) -> str:
    """A key as the key column shows it: format_key's text without its brackets."""
    return one_line(format_key(key)[1:-1]) if key is not None else ""


def format_rate(rate: Optional[float]) -> str:
    """A per-second rate: whole numbers from 10 up ("30/s", "1,234/s"), one decimal below
    ("2.5/s", "0/s"); blank when there is no rate yet."""
    if rate is None:
        return ""
    if abs(rate) >= 10:
        return f"{rate:,.0f}/s"
    text = f"{rate:.1f}"
    text = text[:-2] if text.endswith(".0") else text
    return f"{'0' if text == '-0' else text}/s"


# What a value's rate measures, by the value's type; values of other types have no rate. Avg, min
# and max maps hold integers that do not accumulate, so a rate of them would mean nothing.
_MEASURES: dict[type, Callable[[Any], int]] = {
    int: lambda value: value,
    Histogram: attrgetter("total"),
}
_NO_RATE = frozenset({"avg", "min", "max"})


def _measure(snapshot: MapSnapshot) -> Optional[Callable[[Any], int]]:
    if not snapshot.entries or snapshot.aggregation in _NO_RATE:
        return None
    return _MEASURES.get(type(snapshot.entries[0][1]))


class Rates:
    """The previous frame's values, by map and key, to turn this frame's into rates."""

    def __init__(self) -> None:
        self._values: dict[str, dict[Any, int]] = {}
        self._now: Optional[float] = None
        self._elapsed = 0.0

    def start(self, now: float) -> None:
        """A frame drawn at ``now`` begins: rates are taken over the time since the last."""
        self._elapsed = now - self._now if self._now is not None else 0.0

    def rate(self, name: str, key: Any, value: int) -> Optional[float]:
        before = self._values.get(name, {}).get(key)
        if before is None or self._elapsed <= 0:
            return None
        return (value - before) / self._elapsed

    def remember(self, snapshots: Sequence[MapSnapshot], now: float) -> None:
        values = {}
        for snapshot in snapshots:
            measure = _measure(snapshot)
            if measure is not None:
                values[snapshot.name] = {key: measure(value) for key, value in snapshot.entries}
        self._values = values
        self._now = now


# ---- blocks and their cutting -----------------------------------------------------------------


@dataclass
class Section:
    """One table: a header line (or none) and ``size`` rows. ``build`` makes the table of the
    rows given (indexes, in their order) for a width."""

    head: int
    size: int
    build: Callable[[Sequence[int], int], Table]
    # Row indexes, the most worth showing first; None when the rows are in that order already.
    priority: Optional[Sequence[int]] = None

    def keep(self, count: int) -> Sequence[int]:
        if self.priority is None:
            return range(min(count, self.size))
        return sorted(self.priority[:count])


@dataclass
class Block:
    sections: list[Section]
    # What was left out, as words: (rows left out of shown sections, sections left out).
    more: Callable[[int, int], str]

    @property
    def wanted(self) -> int:
        return sum(s.head + s.size for s in self.sections)

    @property
    def minimum(self) -> int:
        """Its title, a row and the line counting the rest, if it has that many."""
        head = self.sections[0].head if self.sections else 0
        return min(self.wanted, head + 2)

    def draw(self, lines: int, width: int) -> list:
        if lines <= 0:
            return []
        if lines >= self.wanted:
            return [s.build(range(s.size), width) for s in self.sections]
        room = lines - 1  # the last line says what was left out
        drawn, hidden_rows, hidden_sections = [], 0, 0
        for section in self.sections:
            if room >= section.head + section.size:
                drawn.append(section.build(range(section.size), width))
                room -= section.head + section.size
            elif room >= section.head + 1:
                rows = section.keep(room - section.head)
                drawn.append(section.build(rows, width))
                hidden_rows += section.size - len(rows)
                room = 0
            else:
                hidden_sections += 1
        drawn.append(Text(f"{MORE} {self.more(hidden_rows, hidden_sections)}", style="dim"))
        return drawn


def _more_rows(rows: int, sections: int) -> str:
    return f"{rows + sections} more"


def _more_buckets(rows: int, sections: int) -> str:
    words = [f"{rows} more bucket{'s' if rows != 1 else ''}"] if rows else []
    if sections:
        words.append(f"{sections} more key{'s' if sections != 1 else ''}")
    return ", ".join(words)


# ---- tables -----------------------------------------------------------------------------------

_HEADER_STYLES = ("bold", "dim")  # the map's name, the other columns' names


def _table(width: int, header: Optional[list[str]], columns: list[tuple[list[str], str, str]],
           bars: Optional[Callable[[int], list[str]]] = None, bar_header: str = "") -> Table:
    """A table of text columns (cells, justify, style) and, in the room left, a column of bars
    (``bars`` gives the bar of each row for a width). The first column (keys) takes at most half
    the width, and the last text column what is left, so that every row is one line."""
    heads = header or [""] * len(columns)
    widths = [max(map(cell_len, [head, *cells]), default=0)
              for head, (cells, _, _) in zip(heads, columns)]
    widths[0] = min(widths[0], max(8, width // 2))
    over = sum(widths) + len(widths) - 1 - width
    if over > 0:
        widths[-1] = max(1, widths[-1] - over)
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False,
                  show_header=header is not None)
    for index, (head, (_, justify, style), column_width) in enumerate(zip(heads, columns,
                                                                          widths)):
        # Headers read from the left, whichever side their column's cells keep to.
        table.add_column(Text(head, justify="left"), header_style=_HEADER_STYLES[index > 0],
                         style=style, justify=justify, width=column_width, no_wrap=True,
                         overflow="ellipsis")
    room = width - sum(widths) - len(widths)
    bar_cells = bars(room) if bars is not None and room >= _MIN_BAR else None
    if bar_cells is not None:
        table.add_column(bar_header, header_style="dim", style="green", width=room, no_wrap=True,
                         overflow="crop")
    for row in zip(*(cells for cells, _, _ in columns), *([bar_cells] if bar_cells else [])):
        table.add_row(*row)
    return table


def _bars(values: list[int], largest: int) -> Optional[Callable[[int], list[str]]]:
    if largest <= 0 or any(v < 0 for v in values):
        return None
    return lambda width: [smooth_bar(v, largest, width) for v in values]


# ---- the blocks of each kind of map ---------------------------------------------------------


def _largest_first(snapshot: MapSnapshot, size: Callable[[Any], int]) -> list:
    """The entries as arrange shows them, the largest ``size`` first; equal ones stay in
    bpftrace's order of keys (a sort in reverse keeps equal items in their order)."""
    return sorted(arrange(snapshot), key=lambda kv: size(kv[1]), reverse=True)


def _total(hist: ShownHistogram) -> int:
    return sum(row.count for row in hist.rows)


def _numbers(snapshot: MapSnapshot, rates: Rates) -> Block:
    entries = _largest_first(snapshot, int)
    largest = max(v for _, v in entries)
    name = snapshot.name
    with_rate = _measure(snapshot) is not None

    def build(rows: Sequence[int], width: int) -> Table:
        shown = [entries[i] for i in rows]
        values = [v for _, v in shown]
        columns = [([key_text(k) if snapshot.keyed else name for k, _ in shown], "left", "cyan"),
                   ([str(v) for v in values], "right", "bold")]
        if with_rate:
            columns.append(([format_rate(rates.rate(name, k, v)) for k, v in shown], "right",
                            "magenta"))
        header = [name, snapshot.aggregation or "value", "rate"][:len(columns)]
        return _table(width, header if snapshot.keyed else None, columns,
                      _bars(values, largest))

    return Block([Section(int(snapshot.keyed), len(entries), build)], _more_rows)


def _stats(snapshot: MapSnapshot, rates: Rates) -> Block:
    # Shown as records (count, average, total); the largest average first.
    entries = _largest_first(snapshot, itemgetter(1))

    def build(rows: Sequence[int], width: int) -> Table:
        shown = [entries[i] for i in rows]
        columns = [([key_text(k) for k, _ in shown], "left", "cyan")]
        columns += [([str(record[i]) for _, record in shown], "right", "bold" if i == 1 else "")
                    for i in range(3)]
        return _table(width, [snapshot.name, "count", "avg", "total"], columns)

    return Block([Section(1, len(entries), build)], _more_rows)


def _histograms(snapshot: MapSnapshot, rates: Rates) -> Block:
    sections = [_histogram(snapshot, key, hist, rates)
                for key, hist in _largest_first(snapshot, _total)]
    return Block(sections, _more_buckets)


def _histogram(snapshot: MapSnapshot, key: Any, hist: ShownHistogram, rates: Rates) -> Section:
    total = _total(hist)
    rate = format_rate(rates.rate(snapshot.name, key, total))
    title = one_line(snapshot.name + format_key(key))
    summary = f"total {total}" + (f" · {rate}" if rate else "")

    def build(rows: Sequence[int], width: int) -> Table:
        shown = [hist.rows[i] for i in rows]
        counts = [row.count for row in shown]
        columns = [([text_label(row) for row in shown], "right", "cyan"),
                   ([str(c) for c in counts], "right", "bold")]
        return _table(width, [title, "count"], columns, _bars(counts, hist.largest), summary)

    # Cut short, a histogram keeps its fullest buckets, still in the order of their bounds.
    priority = sorted(range(len(hist.rows)), key=lambda i: -hist.rows[i].count)
    return Section(1, len(hist.rows), build, priority)


def _texts(snapshot: MapSnapshot, rates: Rates) -> Block:
    """Strings, stacks, tuples ...: each value's text, in bpftrace's order of keys."""
    entries = arrange(snapshot)

    def build(rows: Sequence[int], width: int) -> Table:
        shown = [entries[i] for i in rows]
        keys = [key_text(k) if snapshot.keyed else snapshot.name for k, _ in shown]
        values = [one_line(format_value(v)) for _, v in shown]
        return _table(width, [snapshot.name, ""] if snapshot.keyed else None,
                      [(keys, "left", "cyan"), (values, "left", "")])

    return Block([Section(int(snapshot.keyed), len(entries), build)], _more_rows)


# How a map is drawn, by the type of its values as decoded; any other type is shown as text.
_BLOCKS: dict[type, Callable[[MapSnapshot, Rates], Block]] = {
    int: _numbers,
    Stats: _stats,
    Histogram: _histograms,
}


def map_block(snapshot: MapSnapshot, rates: Rates) -> Block:
    kind = type(snapshot.entries[0][1]) if snapshot.entries else None
    return _BLOCKS.get(kind, _texts)(snapshot, rates)


def share(wanted: list[int], minimum: list[int], room: int) -> tuple[list[int], int]:
    """The lines each block gets out of ``room``, and how many blocks get none. Blocks get their
    minimum in order while it fits (the ones after are left out, and a line says so); then the
    lines left go one at a time to each block that wants more, in turn, so that one long map
    does not crowd out the others."""
    given: list[int] = []
    for least in minimum:
        if sum(given) + least > room:
            break
        given.append(least)
    left_out = len(wanted) - len(given)
    if left_out:
        while given and sum(given) + 1 > room:  # room for the line that says so
            given.pop()
            left_out += 1
        room -= 1
    room -= sum(given)
    while room > 0:
        hungry = [i for i, lines in enumerate(given) if lines < wanted[i]]
        if not hungry:
            break
        for i in hungry[:room]:
            given[i] += 1
        room -= min(room, len(hungry))
    return given, left_out


__all__ = ["Block", "MORE", "Rates", "format_rate", "key_text", "map_block", "one_line",
           "share"]
