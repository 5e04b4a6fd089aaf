"""The live view (``tracer --live``): frames drawn in place on the alternate screen."""

from __future__ import annotations

import os
import re
import tempfile

import pytest

from tracer.histograms import log2_of
from tracer.output import MapSnapshot, TerminalOutput
from tracer.output.buckets import shown, text_label
from tracer.output.live import KEPT_LINES, LiveOutput, LiveStatus, format_elapsed
from tracer.output.live_tables import format_rate, share
from tracer.values import Stack, Stats

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STATUS = LiveStatus(probes=3, lost=0, elapsed=1.0)


class View:
    """A LiveOutput writing to a temporary file, and what it wrote."""

    def __init__(self, width=80, height=24, **kwargs):
        self.file = tempfile.TemporaryFile(buffering=0)
        self.out = LiveOutput(self.file.fileno(), self.file.fileno(), width=width, height=height,
                              color_system=None, **kwargs)
        self.seen = 0

    def new_bytes(self) -> bytes:
        """What was written since the last call."""
        self.file.seek(self.seen)
        data = self.file.read()
        self.seen += len(data)
        return data

    def frame(self, snapshots=(), status=STATUS, now=1.0) -> list[str]:
        """The lines of the frame drawn by one redraw, escapes stripped."""
        self.new_bytes()
        self.out.redraw(list(snapshots), status, now)
        data = self.new_bytes().decode()
        # Cursor home, the lines, then the rest of the screen cleared.
        assert data.count("\x1b[H") == 1 and data.count("\x1b[J") == 1
        last_line = data.rfind("\r\n")
        assert data.index("\x1b[H") < data.index("\x1b[J") and last_line < data.index("\x1b[J")
        return ESCAPES.sub("", data).split("\r\n")


def opened(**kwargs) -> View:
    view = View(**kwargs)
    view.out.open()
    return view


def row(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert len(found) == 1, (start, lines)
    return found[0]


def counts(name="@calls", entries=(), aggregation="count") -> MapSnapshot:
    return MapSnapshot(name, True, list(entries), aggregation)


# ---- the screen -------------------------------------------------------------------------------


def test_open_enters_the_alternate_screen_and_close_leaves_it():
    view = View()
    view.out.open()
    entered = view.new_bytes()
    assert b"\x1b[?1049h" in entered and b"\x1b[?25l" in entered
    view.out.close()
    left = view.new_bytes()
    assert b"\x1b[?1049l" in left and b"\x1b[?25h" in left
    view.out.close()  # idempotent
    assert view.new_bytes() == b""


def test_output_before_open_is_written_first_and_stays_on_the_main_screen():
    view = View()
    view.out.printf("before\n")
    view.out.open()
    data = view.new_bytes()
    assert data.index(b"before\n") < data.index(b"\x1b[?1049h")


def test_redraw_draws_nothing_unless_open():
    view = View()
    view.out.redraw([counts(entries=[("a", 1)])], STATUS, 1.0)
    assert view.new_bytes() == b""
    view.out.open()
    view.out.close()
    view.new_bytes()
    view.out.redraw([counts(entries=[("a", 1)])], STATUS, 2.0)
    assert view.new_bytes() == b""


# ---- what the program prints meanwhile -----------------------------------------------------


def test_printf_while_open_goes_to_the_output_area_not_the_terminal():
    view = opened()
    view.out.printf("hello from printf\n")
    view.out.printf("no newline yet")
    view.out.lost_events(7)
    view.out.flush()
    assert b"hello" not in view.new_bytes()
    lines = view.frame([counts(entries=[("a", 1)])])
    assert "hello from printf" in lines
    assert "no newline yet" in lines  # a partial line is shown as it is so far
    assert "Lost 7 events" in lines
    assert lines.index("hello from printf") > lines.index(row(lines, "a "))  # below the maps


def test_a_partial_line_is_completed_by_the_next_printf():
    view = opened()
    view.out.printf("abc")
    view.out.printf("def\nghi")
    lines = view.frame()
    assert "abcdef" in lines and "ghi" in lines and "abc" not in lines


def test_only_the_most_recent_lines_are_kept():
    view = opened(height=200)
    view.out.printf("".join(f"line {i}\n" for i in range(KEPT_LINES + 50)))
    lines = view.frame()
    assert f"line {KEPT_LINES + 49}" in lines
    assert "line 49" not in lines and "line 0" not in lines


def test_output_lines_are_not_replayed_after_close():
    view = opened()
    view.out.printf("during the view\n")
    view.out.close()
    view.out.printf("after\n")
    view.out.flush()
    data = view.new_bytes()
    assert b"during the view" not in data and b"after\n" in data


def test_escapes_the_program_prints_cannot_move_the_cursor():
    view = opened()
    view.out.printf("a\x1b[2Jb\x07c\n")
    view.new_bytes()
    view.out.redraw([], STATUS, 1.0)
    data = view.new_bytes()
    assert b"\x1b[2J" not in data and b"\x07" not in data
    assert "ab\ufffdc" in ESCAPES.sub("", data.decode())


# ---- maps ---------------------------------------------------------------------------------------


def test_a_keyed_count_map_is_sorted_largest_first():
    view = opened()
    lines = view.frame([counts(entries=[(("tk_loop", 123), 5), (("idle", 1), 500),
                                        (("read", 7), 50)])])
    rows = [row(lines, key) for key in ("idle, 1", "read, 7", "tk_loop, 123")]
    assert [lines.index(r) for r in rows] == sorted(lines.index(r) for r in rows)
    assert rows[0].split()[2] == "500"
    assert row(lines, "@calls")  # the title
    # Bars follow the values: the largest is the longest.
    bars = [r.count("█") for r in rows]
    assert bars[0] > bars[1] > bars[2]


def test_rates_appear_from_the_second_frame():
    view = opened()
    first = view.frame([counts(entries=[("a", 10)])], now=1.0)
    assert "/s" not in row(first, "a ")
    second = view.frame([counts(entries=[("a", 40), ("new", 3)])], now=2.0)
    assert row(second, "a ").split()[:3] == ["a", "40", "30/s"]
    assert "/s" not in row(second, "new ")  # no earlier value to compare with
    third = view.frame([counts(entries=[("a", 50), ("new", 3)])], now=6.0)
    assert row(third, "a ").split()[2] == "2.5/s"
    assert row(third, "new ").split()[2] == "0/s"


def test_averages_have_no_rate():
    view = opened()
    view.frame([counts("@avg", [("a", 10)], "avg")], now=1.0)
    lines = view.frame([counts("@avg", [("a", 40)], "avg")], now=2.0)
    assert "/s" not in row(lines, "a ")


@pytest.mark.parametrize("rate, text", [(None, ""), (30.0, "30/s"), (2.5, "2.5/s"), (0.0, "0/s"),
                                        (12345.4, "12,345/s"), (-3.0, "-3/s")])
def test_format_rate(rate, text):
    assert format_rate(rate) == text


def test_a_scalar_map_is_one_row():
    view = opened()
    lines = view.frame([MapSnapshot("@total", False, [(None, 1234)], "sum")])
    assert row(lines, "@total").split()[:2] == ["@total", "1234"]


def test_a_map_too_long_is_cut_to_the_height():
    view = opened(width=80, height=24)
    entries = [(f"key{i}", i) for i in range(100)]
    lines = view.frame([counts(entries=entries)])
    assert len(lines) <= 24
    rows = [line for line in lines if line.startswith("key")]
    assert rows[0].startswith("key99 ")  # the largest are kept
    assert row(lines, "…") == f"… {100 - len(rows)} more"


def test_a_tiny_terminal():
    view = opened(width=40, height=8)
    view.out.printf("".join(f"printed {i}\n" for i in range(20)))
    maps = [counts(entries=[(f"a_rather_long_key_name_{i}", i) for i in range(50)]),
            MapSnapshot("@h", True, [("k", log2_of([1, 2, 4, 8, 16, 32]))], "hist"),
            counts("@third", [("x", 1)])]
    lines = view.frame(maps)
    assert len(lines) <= 8
    assert all(len(line) <= 40 for line in lines)
    assert any(line.startswith("a_rather") and "…" in line for line in lines)  # a cut key
    assert "printed 19" in lines


def test_maps_share_the_height():
    view = opened(width=80, height=24)
    maps = [counts(name, [(f"{name}{i}", i) for i in range(50)]) for name in ("@a", "@b")]
    lines = view.frame(maps)
    assert len(lines) <= 24
    assert row(lines, "@a ") and row(lines, "@b ")
    shown_a = sum(line.startswith("@a") for line in lines)
    shown_b = sum(line.startswith("@b") for line in lines)
    assert abs(shown_a - shown_b) <= 1


def test_share():
    assert share([10, 10], [3, 3], 30) == ([10, 10], 0)
    assert share([10, 2], [3, 2], 8) == ([6, 2], 0)
    given, left_out = share([10, 10, 10], [3, 3, 3], 7)
    assert given == [3, 3] and left_out == 1  # and a line says so


def test_histograms_show_their_buckets():
    hist = log2_of([1, 5, 5, 5, 100])
    view = opened()
    lines = view.frame([MapSnapshot("@lat", True, [("read", hist)], "hist")])
    assert row(lines, "@lat[read]")
    for bucket in shown(hist).rows:
        shown_row = row([line.strip() for line in lines], text_label(bucket) + " ")
        assert shown_row.split()[len(text_label(bucket).split())] == str(bucket.count)


def test_a_histogram_cut_short_keeps_its_fullest_buckets():
    hist = log2_of([1] * 9 + [2 ** i for i in range(2, 20)])
    view = opened(height=8)
    lines = view.frame([MapSnapshot("@lat", False, [(None, hist)], "hist")])
    assert len(lines) <= 8
    assert any(line.strip().startswith("[1] ") for line in lines)  # the bucket of 9
    assert any(line.startswith("… ") and "more buckets" in line for line in lines)


def test_keyed_histograms_are_titled_by_key_largest_first():
    view = opened()
    lines = view.frame([MapSnapshot("@h", True, [("small", log2_of([1])),
                                                  ("big", log2_of([1, 2, 3]))], "hist")])
    assert lines.index(row(lines, "@h[big]")) < lines.index(row(lines, "@h[small]"))
    assert "total 3" in row(lines, "@h[big]")


def test_stats_show_count_average_and_total():
    view = opened()
    lines = view.frame([MapSnapshot("@s", True, [("a", Stats(4, 100))], "stats")])
    assert row(lines, "@s").split() == ["@s", "count", "avg", "total"]
    assert row(lines, "a ").split() == ["a", "4", "25", "100"]


def test_other_values_are_shown_as_their_text():
    view = opened()
    lines = view.frame([MapSnapshot("@who", True, [(1, "bash"), (2, Stack(("f1", "f2")))])])
    assert row(lines, "1 ").split() == ["1", "bash"]
    assert row(lines, "2 ").split() == ["2", "f1;", "f2"]


# ---- the status line -------------------------------------------------------------------------


def test_the_status_line():
    view = opened()
    lines = view.frame(status=LiveStatus(probes=12, lost=4, elapsed=3725.0))
    status = lines[0]
    assert "12 probes" in status and "4 lost" in status and "1:02:05" in status
    assert "q quits" in status and "full" not in status
    full = view.frame(status=LiveStatus(probes=1, lost=0, elapsed=0, maps_full=9))[0]
    assert "1 probe " in full and "9 dropped (maps full)" in full and "0:00:00" in full


@pytest.mark.parametrize("seconds, text", [(0, "0:00:00"), (59.9, "0:00:59"),
                                           (3725, "1:02:05"), (360000, "100:00:00")])
def test_format_elapsed(seconds, text):
    assert format_elapsed(seconds) == text


def test_the_size_is_read_again_at_every_frame(monkeypatch):
    view = opened(width=None, height=None)
    size = os.terminal_size((50, 10))
    monkeypatch.setattr(os, "get_terminal_size", lambda fd: size)
    entries = [(f"k{i}", i) for i in range(100)]
    lines = view.frame([counts(entries=entries)])
    assert len(lines) <= 10 and max(map(len, lines)) <= 50 and len(lines) >= 8
    size = os.terminal_size((30, 5))
    lines = view.frame([counts(entries=entries)])
    assert len(lines) <= 5 and max(map(len, lines)) <= 30


# ---- after the view -------------------------------------------------------------------------


def test_after_close_maps_print_as_in_the_terminal_format():
    snapshot = counts(entries=[("a", 3), ("b", 30)])
    view = opened(width=70)
    view.frame([snapshot])
    view.out.close()
    view.new_bytes()
    view.out.map(snapshot)
    view.out.flush()
    after = view.new_bytes()

    f = tempfile.TemporaryFile(buffering=0)
    terminal = TerminalOutput(f.fileno(), f.fileno(), width=70, color_system=None)
    terminal.map(snapshot)
    terminal.flush()
    f.seek(0)
    assert after == f.read() and b"@calls[b]" in after
