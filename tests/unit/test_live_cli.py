"""--live on the command line: where it may not draw, it says so before compiling anything; its
interval's spellings; and the keyboard and clock of its driver (tracer/runtime/live.py)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from tracer.diagnostics import TracerError
from tracer.runtime.live import LiveDriver, looks_like_interval, parse_interval

MAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tracer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True,
                          text=True, timeout=60, cwd=MAIN, stdin=subprocess.DEVNULL)


def test_live_refuses_a_pipe_and_says_why():
    proc = _tracer("--live", "-e", "BEGIN { exit(); }")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(
        "tracer: error: --live draws on a terminal, and standard output is not one\n")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("other, named", [(("-f", "json"), "-f json"),
                                          (("-o", "/dev/null"), "-o FILE")])
def test_live_refuses_other_outputs(other, named):
    proc = _tracer("--live=2s", *other, "-e", "BEGIN { exit(); }")
    assert proc.returncode == 2
    assert f"--live draws the maps on the terminal: it cannot be used with {named}" \
        in proc.stderr


def test_a_bare_live_leaves_the_script_file_alone(tmp_path):
    """click hands a bare --live the next word; a file name there is the program, not an
    interval (the error is then the terminal's, not a bad interval's)."""
    script = tmp_path / "count.bt"
    script.write_text("BEGIN { exit(); }\n")
    proc = _tracer("--live", str(script))
    assert "standard output is not one" in proc.stderr, proc.stderr


@pytest.mark.parametrize("text, seconds", [("1s", 1.0), ("500ms", 0.5), ("2", 2.0),
                                           ("1.5s", 1.5), ("1m", 60.0)])
def test_intervals(text, seconds):
    assert looks_like_interval(text)
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["0", "50ms", "0s"])
def test_too_short_intervals(text):
    with pytest.raises(TracerError, match="at least 100ms"):
        parse_interval(text)


def test_words_that_are_not_intervals():
    assert not looks_like_interval("script.bt")
    assert not looks_like_interval("-")


class _View:
    def __init__(self):
        self.frames, self.opened, self.closed = [], 0, 0

    def open(self):
        self.opened += 1

    def redraw(self, snapshots, status, now):
        self.frames.append((snapshots, status))

    def close(self):
        self.closed += 1


def test_the_driver_draws_at_once_then_each_interval_and_q_stops_it():
    main, other = pty.openpty()
    try:
        view, watched = _View(), []
        driver = LiveDriver(view, 3600.0, lambda: ["maps"], lambda elapsed: elapsed,
                            key_fd=other)
        driver.open(watched.append)
        assert watched == [other] and view.opened == 1
        assert driver.tick() is False and len(view.frames) == 1  # the first frame at once
        assert driver.tick() is False and len(view.frames) == 1  # not before the interval
        os.write(main, b"x")  # another key does nothing
        assert driver.tick() is False
        os.write(main, b"q")
        assert driver.tick() is True
        forgotten = []
        driver.close(forgotten.append)
        assert forgotten == [other] and view.closed == 1
    finally:
        os.close(main)
        os.close(other)


def test_without_a_terminal_for_keys_only_the_clock_runs():
    view = _View()
    driver = LiveDriver(view, 0.1, lambda: [], lambda elapsed: elapsed, key_fd=None)
    watched = []
    driver.open(watched.append)
    assert watched == [] and driver.tick() is False and len(view.frames) == 1
    driver.close(watched.append)
    assert view.closed == 1
