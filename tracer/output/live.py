"""``tracer --live``: the program's maps redrawn in place, on the terminal's alternate screen.

Only the drawing is here; the runtime reads the keys, keeps the time and calls ``redraw`` with
fresh snapshots. Between ``open`` and ``close`` whatever the program prints (printf, print(),
warnings, lost events) is kept, not written, and its last lines are shown at the bottom of the
view: written out, they would scroll the view away. Before ``open`` and after ``close`` this is
the terminal format, so the maps printed at exit look as they always do.

A frame is rendered with rich into a string and written with one os.write, cursor home first, so
the terminal repaints without flicker. It is rendered one column narrower than the terminal: a
line reaching the last column leaves the cursor waiting to wrap, and the erase that follows it
would then wipe that last character. It is never taller than the terminal, which would scroll.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import io
import os
import re
from typing import Optional

from rich.console import Console
from rich.ansi import AnsiDecoder
from rich.rule import Rule
from rich.text import Text

from .base import MapSnapshot, _write_all
from .live_tables import MORE, Rates, map_block, share
from .terminal import TerminalOutput

_ALT_SCREEN = "\x1b[?1049h\x1b[?25l"  # to the alternate screen, cursor hidden
_MAIN_SCREEN = "\x1b[?25h\x1b[?1049l"  # cursor shown, back to the screen as it was
# Terminals that know synchronized output (mode 2026) show the frame at once; others ignore it.
_FRAME_START = "\x1b[?2026h\x1b[H"
_FRAME_END = "\x1b[J\x1b[?2026l"
_CLEAR_LINE_END = "\x1b[K"  # after each line: what a longer line of the last frame left

KEPT_LINES = 200  # lines of the program's output kept for the view
_LONGEST_PARTIAL = 4096  # a text with no newline in sight is shown as a line from this length
_DEFAULT_SIZE = (80, 24)
_ROOM_FOR_OUTPUT = 6  # lines below the status line from which the output has lines of its own

# Bytes that would move the cursor or ring the bell if written out: controls other than the
# tab, newline, carriage return and escape (rich decodes what escapes do), and the stand-ins for
# bytes that were not UTF-8.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\ud800-\udfff]")
_REPLACEMENT = "\ufffd"

_STREAM_STYLES = {"out": "", "err": "yellow"}


@dataclass(frozen=True)
class LiveStatus:
    probes: int  # probes attached
    lost: int  # events lost so far
    elapsed: float  # seconds since tracing began
    maps_full: int = 0  # map updates refused because the map was full


def format_elapsed(seconds: float) -> str:
    """H:MM:SS, hours unbounded."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def status_counts(status: LiveStatus) -> str:
    """The status line's counts: "12 probes · 0 lost", then "· 3 dropped (maps full)" when a
    full map refused updates."""
    words = [f"{status.probes} probe{'s' if status.probes != 1 else ''}", f"{status.lost} lost"]
    if status.maps_full:
        words.append(f"{status.maps_full} dropped (maps full)")
    return " · ".join(words)


class _Tail:
    """The last lines the program printed, from both streams in the order they came. A text
    without its newline yet is held apart for each stream and shown as it is so far."""

    def __init__(self) -> None:
        self.lines: deque[tuple[str, str]] = deque(maxlen=KEPT_LINES)
        self._partial: dict[str, str] = {}

    def add(self, stream: str, text: str) -> None:
        *done, rest = (self._partial.pop(stream, "") + text).split("\n")
        self.lines.extend((stream, line) for line in done)
        if len(rest) >= _LONGEST_PARTIAL:
            self.lines.append((stream, rest))
        elif rest:
            self._partial[stream] = rest

    def recent(self, count: int) -> list[tuple[str, str]]:
        everything = list(self.lines) + list(self._partial.items())
        return everything[-count:] if count > 0 else []

    def __len__(self) -> int:
        return len(self.lines) + len(self._partial)


def _shown_line(stream: str, line: str) -> Text:
    """A line the program printed, as the view shows it: colours kept, other escapes and
    controls made harmless."""
    # A carriage return goes back to the line's start (rich keeps what follows the last one);
    # one that ends the line (CRLF) changes nothing.
    text = AnsiDecoder().decode_line(_UNPRINTABLE.sub(_REPLACEMENT, line.rstrip("\r")))
    if "\x1b" in text.plain:  # an escape rich did not recognise (same length: styles stay put)
        text.plain = text.plain.replace("\x1b", _REPLACEMENT)
    if _STREAM_STYLES[stream]:
        text.stylize(_STREAM_STYLES[stream])
    return text


class LiveOutput(TerminalOutput):
    def __init__(self, fd: int, err_fd: int = 2, *, width: Optional[int] = None,
                 height: Optional[int] = None, color_system: Optional[str] = "auto"):
        super().__init__(fd, err_fd, width=width, color_system=color_system)
        self._fixed_size = (width, height)
        self._tail = _Tail()
        self._rates = Rates()
        self._open = False

    # ---- the view's life ----------------------------------------------------------------------

    def open(self) -> None:
        if self._open:
            return
        self.flush()  # what was printed before the view stays on the main screen
        _write_all(self.fd, _ALT_SCREEN.encode())
        self._open = True

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._tail = _Tail()  # not replayed: the final maps follow
        _write_all(self.fd, _MAIN_SCREEN.encode())

    # ---- what the program prints, while the view is open -------------------------------------

    def write(self, text: str) -> None:
        if self._open:
            self._tail.add("out", text)
        else:
            super().write(text)

    def write_err(self, text: str) -> None:
        if self._open:
            self._tail.add("err", text)
        else:
            super().write_err(text)

    # ---- frames -------------------------------------------------------------------------------

    def redraw(self, snapshots: list[MapSnapshot], status: LiveStatus, now: float) -> None:
        """Draw one frame over the last. Nothing is drawn unless the view is open: a frame on
        the main screen would stay in the scrollback."""
        if not self._open:
            return
        width, height = self._size()
        if self._fixed_size[0] is None:
            self.width = width  # so that the maps printed after the view fit the terminal too
        self._rates.start(now)
        lines = self._frame(snapshots, status, max(1, width - 1), height)
        self._rates.remember(snapshots, now)
        body = "\r\n".join(line + _CLEAR_LINE_END for line in lines)
        _write_all(self.fd, (_FRAME_START + body + _FRAME_END).encode("utf-8", "surrogateescape"))

    def _size(self) -> tuple[int, int]:
        width, height = self._fixed_size
        if width is None or height is None:
            try:
                columns, rows = os.get_terminal_size(self.fd)
            except OSError:
                columns, rows = _DEFAULT_SIZE
            width = width or columns or _DEFAULT_SIZE[0]
            height = height or rows or _DEFAULT_SIZE[1]
        return width, height

    def _frame(self, snapshots: list[MapSnapshot], status: LiveStatus, width: int,
               height: int) -> list[str]:
        """The frame's lines: the status, the maps, the program's output at the bottom."""
        room = height - 1  # below the status line
        tail_wanted = 1 + len(self._tail) if len(self._tail) else 0  # a rule, then the lines
        # The output gets at least a few lines (on a tiny terminal, none: maps first), the maps
        # what they need of the rest, and the output what the maps leave.
        tail_least = min(tail_wanted, max(2, room // 4)) if room >= _ROOM_FOR_OUTPUT else 0
        blocks = [map_block(snapshot, self._rates) for snapshot in snapshots]
        given, left_out = share([b.wanted for b in blocks], [b.minimum for b in blocks],
                                room - tail_least)
        maps_used = sum(given) + (1 if left_out and sum(given) < room - tail_least else 0)
        tail_lines = min(tail_wanted, room - maps_used)

        parts: list = [self._status_line(status, width)]
        for block, lines in zip(blocks, given):
            parts.extend(block.draw(lines, width))
        if maps_used > sum(given):
            parts.append(Text(f"{MORE} {left_out} more map{'s' if left_out != 1 else ''}",
                              style="dim"))
        if tail_lines >= 2:
            parts.append(Rule("output", align="left", style="dim"))
            parts.extend(_shown_line(*line) for line in self._tail.recent(tail_lines - 1))
        return self._render_frame(parts, width, height)

    def _status_line(self, status: LiveStatus, width: int) -> Text:
        """The counts on the left, the time and "q quits" on the right. On a narrow terminal
        the counts are cut, not the time."""
        left = Text(" " + status_counts(status))
        right = Text(f"{format_elapsed(status.elapsed)}  q quits ")
        left.truncate(max(0, width - right.cell_len - 1), overflow="ellipsis")
        gap = max(1, width - left.cell_len - right.cell_len)
        return Text.assemble(left, " " * gap, right, style="reverse")

    def _render_frame(self, parts: list, width: int, height: int) -> list[str]:
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, height=height, force_terminal=True,
                          color_system=self.color_system, highlight=False, markup=False,
                          emoji=False, legacy_windows=False)
        for part in parts:
            # Every part is laid out to one line a row; nothing may wrap, or the frame grows.
            console.print(part, no_wrap=True, overflow="ellipsis", crop=True)
        lines = buffer.getvalue().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines[:height]


__all__ = ["KEPT_LINES", "LiveOutput", "LiveStatus", "format_elapsed", "status_counts"]
