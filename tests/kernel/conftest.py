"""Workloads and process helpers for the real-kernel tests.

Every workload is a tiny C program whose system calls are known exactly, so each test can assert
an exact count. Their names start with ``tk_`` so that a ``comm == "tk_..."`` predicate does not
match some other program running on the machine at the same time.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Sequence

import pytest

WORKLOAD_SOURCES = {
    # tk_loop N: getppid() N times.
    "tk_loop": r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    for (long i = 0; i < n; i++) getppid();
    return 0;
}
""",
    # tk_kill N: kill(getpid(), 0) N times (signal 0 only checks that the process exists).
    "tk_kill": r"""
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    for (long i = 0; i < n; i++) kill(getpid(), 0);
    return 0;
}
""",
    # tk_close FD...: close(FD) for each argument, in order (negative and unopened fds fail
    # with EBADF, which is all we want: the syscall is entered with that fd).
    "tk_close": r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) close(atoi(argv[i]));
    return 0;
}
""",
    # tk_both N M: getppid() N times, then kill(getpid(), 0) M times.
    "tk_both": r"""
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]), m = atol(argv[2]);
    for (long i = 0; i < n; i++) getppid();
    for (long i = 0; i < m; i++) kill(getpid(), 0);
    return 0;
}
""",
    # tk_forever: getppid() every millisecond, never exits by itself.
    "tk_forever": r"""
#include <unistd.h>
int main(void) {
    for (;;) { getppid(); usleep(1000); }
}
""",
    # tk_paused N US: waits for one byte on stdin, then getppid() N times, sleeping US
    # microseconds after each call; then exits.
    "tk_paused": r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]), us = atol(argv[2]);
    char c;
    if (read(0, &c, 1) != 1) return 1;
    for (long i = 0; i < n; i++) { getppid(); usleep(us); }
    return 0;
}
""",
}


@pytest.fixture(scope="session")
def workload(build_workload):
    """``workload(name) -> path`` of one of WORKLOAD_SOURCES, compiled once per session."""

    def get(name: str) -> str:
        return build_workload(name, WORKLOAD_SOURCES[name])

    return get


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
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            if time.monotonic() >= deadline or not self._read_some(deadline):
                self.kill()
                pytest.fail(f"{' '.join(self.argv)}: {text!r} did not appear on stdout within "
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
