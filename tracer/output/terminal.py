"""The text format drawn for a person at a terminal, with colour.

Only maps change: histograms get aligned columns, a smooth bar scaled to the terminal and each
bucket's share of the total; keyed maps of numbers get their values in a column with a bar. All
else (printf, print(), stacks, maps of strings or stats ...) is bpftrace's text exactly. This
format is chosen only for a terminal (``make_output``), so that piped output keeps bpftrace's
bytes.
"""

from __future__ import annotations

import io
import os
from typing import Any, Callable, Optional

from rich.console import Console
from rich.text import Text

from .base import MapSnapshot
from .buckets import ShownHistogram, text_label
from .order import arrange
from .text import TextOutput, format_entry, format_key

_EIGHTHS = " ▏▎▍▌▋▊▉"  # partial blocks, 0/8 to 7/8 of a cell
_FULL = "█"
_MAX_BAR = 52
_MIN_BAR = 10


def smooth_bar(value: int, largest: int, width: int) -> str:
    """A bar of ``width`` cells for the largest value, drawn to an eighth of a cell."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, part = divmod(eighths, 8)
    return _FULL * full + (_EIGHTHS[part] if part else "")


def _terminal_width(fd: int) -> int:
    try:
        return os.get_terminal_size(fd).columns
    except OSError:
        return 80


class TerminalOutput(TextOutput):
    def __init__(self, fd: int, err_fd: int = 2, *, width: Optional[int] = None,
                 color_system: Optional[str] = "auto"):
        super().__init__(fd, err_fd)
        self.width = width or _terminal_width(fd)
        self.color_system = color_system

    def map(self, snapshot: MapSnapshot, top: int = 0, div: int = 1) -> None:
        entries = arrange(snapshot, top, div)
        draw = _DRAWERS.get(type(entries[0][1])) if entries else None
        lines = draw(self, snapshot, entries) if draw is not None else None
        if lines is None:
            self.write("".join(format_entry(snapshot.name + format_key(k), v)
                               for k, v in entries))
            return
        self.write(self._render(lines))

    def _render(self, lines: list[Text]) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=self.width, force_terminal=True,
                          color_system=self.color_system, highlight=False, markup=False,
                          emoji=False)
        for line in lines:
            console.print(line, soft_wrap=True)
        return buffer.getvalue()

    def _bar_room(self, used: int) -> int:
        return max(_MIN_BAR, min(_MAX_BAR, self.width - used))

    # ---- histograms -----------------------------------------------------------------------

    def _histograms(self, snapshot: MapSnapshot, entries: list) -> list[Text]:
        lines: list[Text] = []
        for key, hist in entries:
            lines.append(Text(f"{snapshot.name}{format_key(key)}:", style="bold"))
            lines.extend(self._histogram_rows(hist))
            lines.append(Text(""))
        return lines

    def _histogram_rows(self, hist: ShownHistogram) -> list[Text]:
        if not hist.rows:
            return []
        labels = [text_label(row) for row in hist.rows]
        counts = [str(row.count) for row in hist.rows]
        label_w = max(map(len, labels))
        count_w = max(map(len, counts))
        total = sum(row.count for row in hist.rows)
        bar_w = self._bar_room(label_w + count_w + 14)  # spaces, two rules, a percentage
        largest = hist.largest
        lines = []
        for row, label, count in zip(hist.rows, labels, counts):
            share = f"{100 * row.count / total:5.1f}%" if total else ""
            line = Text()
            line.append(f"{label:>{label_w}} ", style="cyan")
            line.append(f"{count:>{count_w}} ", style="bold" if row.count == largest else "")
            line.append("│", style="dim")
            line.append(f"{smooth_bar(row.count, largest, bar_w):<{bar_w}}", style="green")
            line.append("│ ", style="dim")
            line.append(share, style="dim")
            lines.append(line)
        return lines

    # ---- maps of numbers ------------------------------------------------------------------

    def _numbers(self, snapshot: MapSnapshot, entries: list) -> Optional[list[Text]]:
        heads = [snapshot.name + format_key(k) for k, _ in entries]
        # A scalar needs no column; a key over several lines (a stack) breaks one.
        if not snapshot.keyed or any("\n" in head for head in heads):
            return None
        values = [str(v) for _, v in entries]
        head_w = max(map(len, heads)) + 1
        value_w = max(map(len, values))
        largest = max(v for _, v in entries)
        show_bars = largest > 0 and all(v >= 0 for _, v in entries)
        bar_w = self._bar_room(head_w + value_w + 2)
        lines = []
        for head, text, (_, v) in zip(heads, values, entries):
            line = Text()
            line.append(f"{head + ':':<{head_w}} ", style="cyan")
            line.append(f"{text:>{value_w}}", style="bold")
            if show_bars:
                line.append(" ")
                line.append(smooth_bar(v, largest, bar_w), style="green")
            lines.append(line)
        return lines


_DRAWERS: dict[type, Callable[[TerminalOutput, MapSnapshot, list], Optional[list[Any]]]] = {
    ShownHistogram: TerminalOutput._histograms,
    int: TerminalOutput._numbers,
}


__all__ = ["TerminalOutput", "smooth_bar"]
