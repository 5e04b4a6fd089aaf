"""The terminal format, and the choice of format: colour only for a person at a terminal."""

from __future__ import annotations

import re
import tempfile

import pytest

from tracer.output import (JsonOutput, MapSnapshot, TerminalOutput, TextOutput, make_output,
                           wants_colour)
from tracer.histograms import log2_of
from tracer.output.terminal import smooth_bar
from tracer.values import Stack, Stats

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def rendered(call, *, width=100, color_system="standard"):
    """(text with colour codes, the same text without them) of what ``call`` printed."""
    f = tempfile.TemporaryFile(buffering=0)
    out = TerminalOutput(f.fileno(), f.fileno(), width=width, color_system=color_system)
    call(out)
    out.flush()
    f.seek(0)
    text = f.read().decode()
    return text, ANSI.sub("", text)


def text_bytes(call) -> bytes:
    f = tempfile.TemporaryFile(buffering=0)
    out = TextOutput(f.fileno(), f.fileno())
    call(out)
    out.flush()
    f.seek(0)
    return f.read()


# ---- choosing the format ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt, isatty, environ, cls", [
    ("text", True, {}, TerminalOutput),
    ("text", False, {}, TextOutput),
    ("text", True, {"NO_COLOR": "1"}, TextOutput),
    ("text", True, {"NO_COLOR": ""}, TerminalOutput),  # empty counts as unset (no-color.org)
    ("json", True, {}, JsonOutput),
    ("json", False, {}, JsonOutput),
])
def test_make_output_picks_the_class(fmt, isatty, environ, cls):
    assert type(make_output(fmt, 1, isatty=isatty, environ=environ)) is cls


def test_make_output_rejects_unknown_formats():
    with pytest.raises(ValueError, match="jsonx"):
        make_output("jsonx", 1, isatty=False, environ={})


def test_wants_colour():
    assert wants_colour(True, {"TERM": "xterm"})
    assert not wants_colour(False, {})
    assert not wants_colour(True, {"NO_COLOR": "yes"})


# ---- what it draws ----------------------------------------------------------------------------


def test_histogram_is_aligned_with_colour_bars_and_shares():
    snap = MapSnapshot("@h", True, [("k", log2_of([1, 5, 5, 5, 100]))], "hist")
    coloured, plain = rendered(lambda out: out.map(snap))
    assert ANSI.search(coloured)  # colour was used
    lines = plain.splitlines()
    assert lines[0] == "@h[k]:"
    rows = lines[1:-1]
    assert lines[-1] == ""
    # Labels right-aligned to the widest one, so the bars start in the same column.
    bars_start = {row.index("│") for row in rows}
    assert len(bars_start) == 1
    assert rows[0].startswith("      [1] 1 │")  # as wide as "[64, 128)"
    assert rows[2].startswith("   [4, 8) 3 │" + "█" * 52 + "│")
    assert rows[2].endswith("60.0%")
    assert rows[-1].startswith("[64, 128) 1 │")


def test_histogram_bar_narrows_to_the_terminal():
    snap = MapSnapshot("@h", False, [(None, log2_of([5, 5]))], "hist")
    _, plain = rendered(lambda out: out.map(snap), width=40)
    row = plain.splitlines()[1]
    assert len(row) <= 40 and "█" * 10 in row


def test_keyed_numbers_get_a_value_column_and_bars():
    snap = MapSnapshot("@c", True, [("bash", 10), ("sshd", 3), ("systemd-journal", 5)], "count")
    _, plain = rendered(lambda out: out.map(snap))
    lines = plain.splitlines()
    assert [line.split(":")[0] for line in lines] == ["@c[sshd]", "@c[systemd-journal]",
                                                      "@c[bash]"]
    values_end = {len(line.split(" █")[0].rstrip("▏▎▍▌▋▊▉ ")) for line in lines}
    assert len(values_end) == 1  # values right-aligned in one column
    assert lines[2].endswith("█" * 52)


@pytest.mark.parametrize("snapshot", [
    MapSnapshot("@x", False, [(None, 5)]),
    MapSnapshot("@s", True, [("a", "str")]),
    MapSnapshot("@s", False, [(None, Stats(2, 4))], "stats"),
    MapSnapshot("@k", True, [(Stack(("f1",)), 2)], "count"),
    MapSnapshot("@e", True, []),
])
def test_other_maps_are_printed_as_text(snapshot):
    _, plain = rendered(lambda out: out.map(snapshot))
    assert plain.encode() == text_bytes(lambda out: out.map(snapshot))


def test_everything_but_maps_is_text():
    def calls(out):
        out.printf("a %d\n")
        out.value((1, "x"))
        out.join("a b")
        out.end_of_trace()
    coloured, _ = rendered(calls)
    assert coloured.encode() == text_bytes(calls)


@pytest.mark.parametrize("value, largest, width, expected", [
    (0, 10, 8, ""), (10, 10, 8, "█" * 8), (5, 10, 8, "████"), (1, 16, 8, "▌"),
    (1, 1000, 8, "▏"),  # never invisible for a non-zero value
])
def test_smooth_bar(value, largest, width, expected):
    assert smooth_bar(value, largest, width) == expected
