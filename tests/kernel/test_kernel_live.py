"""--live on the real kernel, in a real terminal (tmux): the view redraws with the workload's
exact count, `q` or Ctrl-C ends it, and the final maps are printed as they always are."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.kernel

CALLS = 4321
PROGRAM = ('tracepoint:syscalls:sys_enter_getppid /comm == "tk_loop"/ '
           '{ @calls[comm] = count(); @h = hist(7); }')


class Tmux:
    """One tmux server of the test's own (its socket named after the test process), with one
    window of a fixed size running ``command``."""

    def __init__(self, command: str, width: int = 100, height: int = 40):
        self.socket = f"tracer-test-{os.getpid()}"
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "live", "-x", str(width),
                   "-y", str(height), command)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, f"tmux {' '.join(args)}: {done.stderr}"
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "live")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "live", *keys)

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """The screen once ``pattern`` (a regular expression) is on it."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if re.search(pattern, screen, re.M):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"{pattern!r} did not appear on the screen within {timeout}s; "
                            f"it shows:\n{screen}", pytrace=False)
            time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed; scripts/test installs it "
                    "(scripts/setup with TRACER_SETUP_TESTS=1)", pytrace=False)
    started: list[Tmux] = []

    def start(command: str) -> Tmux:
        started.append(Tmux(command))
        return started[-1]

    yield start
    for t in started:
        t.kill()


@pytest.mark.parametrize("quit_key", ["q", "C-c"])
def test_the_live_view_shows_the_count_and_quitting_prints_the_final_maps(tmux, workload,
                                                                         quit_key):
    tracer = shlex.join([sys.executable, "-m", "tracer", "--live=300ms", "-e", PROGRAM])
    # The shell stays after tracer ends, so that the screen keeps what it printed last.
    term = tmux(f"{tracer}; echo TRACER-EXITED=$?; sleep 600")
    term.wait_for(r"q quits")
    subprocess.run([workload("tk_loop"), str(CALLS)], check=True, timeout=60)
    # A redraw after the workload: its count, on the line of its key.
    term.wait_for(rf"tk_loop\b.*\b{CALLS}\b")

    term.keys(quit_key)
    screen = term.wait_for(r"TRACER-EXITED=\d+")
    assert "TRACER-EXITED=0" in screen, screen
    assert "q quits" not in screen, screen  # the view is gone: the terminal is back
    # The final maps, printed as a run without --live prints them on a terminal.
    assert re.search(rf"^@calls\[tk_loop\]:\s+{CALLS}\b", screen, re.M), screen
    assert re.search(rf"^\s*\[4, 8\)\s+{CALLS}\b", screen, re.M), screen
