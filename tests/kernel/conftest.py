"""Process helpers for the real-kernel tests (their workloads are in tests/workloads.py)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Sequence

import pytest


class LiveProcess:
    """A process started with Popen whose stdout is read incrementally, with deadlines."""

    def __init__(self, argv: Sequence[str], stdin=subprocess.DEVNULL) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.out = b""
        self.err = b""

    def _read_some(self, deadline: float) -> bool:
        """Read whatever is available before the deadline; False at EOF of both pipes."""
        fds = [f for f in (self.proc.stdout, self.proc.stderr) if f is not None and not f.closed]
        if not fds:
            return False
        ready, _, _ = select.select(fds, [], [], max(0.0, deadline - time.monotonic()))
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                f.close()
            elif f is self.proc.stdout:
                self.out += chunk
            else:
                self.err += chunk
        return True

    def wait_for_stdout(self, text: str, timeout: float) -> None:
        self._wait_for("stdout", text, timeout)

    def wait_for_stderr(self, text: str, timeout: float) -> None:
        self._wait_for("stderr", text, timeout)

    def _wait_for(self, stream: str, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        seen = lambda: self.out if stream == "stdout" else self.err  # noqa: E731
        while text.encode() not in seen():
            if time.monotonic() >= deadline or not self._read_some(deadline):
                self.kill()
                pytest.fail(f"{' '.join(self.argv)}: {text!r} did not appear on {stream} within "
                            f"{timeout}s\n--- stdout ---\n{self.out.decode(errors='replace')}"
                            f"\n--- stderr ---\n{self.err.decode(errors='replace')}",
                            pytrace=False)

    def finish(self, timeout: float) -> subprocess.CompletedProcess:
        """Wait for the process to exit by itself; fail (after killing it) if it does not."""
        deadline = time.monotonic() + timeout
        while self._read_some(deadline):
            if time.monotonic() >= deadline:
                self.kill()
                pytest.fail(f"{' '.join(self.argv)} did not exit within {timeout}s\n"
                            f"--- stdout ---\n{self.out.decode(errors='replace')}"
                            f"\n--- stderr ---\n{self.err.decode(errors='replace')}",
                            pytrace=False)
        rc = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        return subprocess.CompletedProcess(self.argv, rc, self.out.decode(errors="replace"),
                                           self.err.decode(errors="replace"))

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


@pytest.fixture
def live():
    """``live(argv, stdin=...) -> LiveProcess``; whatever is still running at the end is killed.

    ``live.tracer(*args)`` starts tracer the way the ``run_tracer`` fixture does.
    """
    started: list[LiveProcess] = []

    class Starter:
        def __call__(self, argv: Sequence[str], stdin=subprocess.DEVNULL) -> LiveProcess:
            p = LiveProcess(argv, stdin)
            started.append(p)
            return p

        def tracer(self, *args) -> LiveProcess:
            return self([sys.executable, "-m", "tracer", *map(str, args)])

    yield Starter()
    for p in reversed(started):
        p.kill()
