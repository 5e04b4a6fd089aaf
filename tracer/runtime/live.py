"""``--live[=INTERVAL]``: the clock and the keyboard of the live view.

The view itself (``output.live.LiveOutput``) only draws. This side decides when: every
INTERVAL it reads every map from the kernel, with the same batched lookups the exit print uses,
and hands them over with the run's health. It also listens to the keyboard: standard input is
put in cbreak mode (keys arrive one by one, unechoed; Ctrl-C still interrupts), and ``q`` ends
tracing as Ctrl-C does, after which the session prints the final maps as usual.

The session asks ``tick`` between its polls for events, so a redraw never waits on a flood and
never interrupts the reading of a batch.
"""

from __future__ import annotations

import os
import re
import select
import termios
import time
import tty
from typing import Callable, Optional

from ..diagnostics import TracerError

DEFAULT_INTERVAL = 1.0
QUIT_KEYS = frozenset(b"qQ")
# The shortest redraw interval: the session polls for events every 0.1 s, and no terminal
# shows anything faster to a person anyway.
SHORTEST = 0.1
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "": 1.0}


_INTERVAL = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|)\s*")


def looks_like_interval(text: str) -> bool:
    return _INTERVAL.fullmatch(text) is not None


def parse_interval(text: str) -> float:
    """``1s``, ``500ms``, ``2`` (seconds), ``1m``: seconds between redraws."""
    found = _INTERVAL.fullmatch(text or "")
    seconds = float(found.group(1)) * _UNITS[found.group(2)] if found else 0.0
    if seconds < SHORTEST:
        raise TracerError(f"--live={text}: the interval must be a duration of at least 100ms",
                          hint="for example --live=2s or --live=500ms")
    return seconds


class LiveDriver:
    """Redraws ``view`` every ``interval`` seconds with what ``read_maps`` returns, and tells
    the session (through ``tick``) when the person asked to stop."""

    def __init__(self, view, interval: float, read_maps: Callable[[], list],
                 status: Callable[[float], object], key_fd: Optional[int] = 0):
        self.view, self.interval, self.read_maps, self.status = view, interval, read_maps, status
        self.key_fd = key_fd if key_fd is not None and os.isatty(key_fd) else None
        self._saved_mode: Optional[list] = None
        self._started = self._next = 0.0

    def open(self, wake_on: Callable[[int], None]) -> None:
        """Take over the screen and the keyboard; ``wake_on`` lets a key press end the
        session's wait for events at once."""
        if self.key_fd is not None:
            self._saved_mode = termios.tcgetattr(self.key_fd)
            tty.setcbreak(self.key_fd)
            wake_on(self.key_fd)
        self.view.open()
        self._started = time.monotonic()
        self._next = self._started  # the first frame at once: the maps as BEGIN left them

    def tick(self) -> bool:
        """Between two polls: redraw when it is time; True when the person asked to stop."""
        if self._quit_pressed():
            return True
        now = time.monotonic()
        if now >= self._next:
            self.view.redraw(self.read_maps(), self.status(now - self._started), now)
            # Keep to the interval's grid, but never try to catch up frames a slow read missed.
            self._next = max(self._next + self.interval, now + self.interval / 2)
        return False

    def close(self, forget: Callable[[int], None]) -> None:
        """Give the screen and the keyboard back (idempotent)."""
        self.view.close()
        if self._saved_mode is not None:
            termios.tcsetattr(self.key_fd, termios.TCSADRAIN, self._saved_mode)
            self._saved_mode = None
            forget(self.key_fd)

    def _quit_pressed(self) -> bool:
        if self._saved_mode is None:
            return False
        # Only read what is there: the terminal is shared with the shell, so it stays blocking.
        try:
            if not select.select([self.key_fd], [], [], 0)[0]:
                return False
            keys = os.read(self.key_fd, 64)
        except OSError:  # the terminal went away: SIGHUP ends the run
            return False
        return any(key in QUIT_KEYS for key in keys)
