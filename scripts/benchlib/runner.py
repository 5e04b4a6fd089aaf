"""One invocation of a tool: its wall time, its peak memory, both its streams and the moment it
exited, under a timeout so that a hang costs one row, not the bench.

Both streams go to pipes that threads drain while the tool runs (a tool blocked on a full pipe
would be measuring the bench, not itself); the main thread waits with wait4(2), whose rusage
gives the peak resident set, and notes CLOCK_MONOTONIC the moment the tool is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Optional

DEFAULT_TIMEOUT = 120.0
# After the tool exits, how long its pipes may stay open (held by a straggling child) before
# the bench ends the whole process group.
PIPE_GRACE = 10.0


@dataclass(frozen=True)
class Tool:
    """A tool under test. ``has_cache``: it keeps compiled programs between runs (tracer), so
    its first and cached runs are measured apart."""
    name: str
    argv: tuple
    has_cache: bool


def find_tools() -> dict:
    """tracer beside this interpreter (the venv's), bpftrace on PATH; exits if either is missing."""
    tracer = os.path.join(os.path.dirname(sys.executable), "tracer")
    bpftrace = shutil.which("bpftrace")
    if not os.access(tracer, os.X_OK):
        sys.exit(f"bench: {tracer} is missing (scripts/setup installs it)")
    if bpftrace is None:
        sys.exit("bench: bpftrace is not installed (scripts/setup installs it)")
    return {"tracer": Tool("tracer", (tracer,), True),
            "bpftrace": Tool("bpftrace", (bpftrace,), False)}


@dataclass
class Run:
    argv: list
    wall: float          # seconds from start to exit
    rss_mib: float       # peak resident set of the tool (and its waited-for children)
    stdout: str
    stderr: str
    exit_code: Optional[int]
    timed_out: bool
    exit_ns: int         # CLOCK_MONOTONIC when wait4 returned, comparable to the workload's

    def failure(self) -> Optional[str]:
        """Why the run does not count, or None if it ran to a clean exit."""
        if self.timed_out:
            return f"timed out after {self.wall:.0f} s"
        if self.exit_code != 0:
            return f"exit code {self.exit_code}: {last_line(self.stderr) or 'no message'}"
        return None


def last_line(text: str) -> str:
    """The last non-blank line of ``text``, shortened for a table note. bpftrace's harmless
    RLIMIT_MEMLOCK warning is passed over so the real error shows."""
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and "RLIMIT_MEMLOCK" not in line]
    return lines[-1][:160] if lines else ""


def run(argv, env: Optional[dict] = None, timeout: float = DEFAULT_TIMEOUT) -> Run:
    """Run ``argv`` to its end (or kill it after ``timeout`` seconds) and measure it."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    chunks = {"out": [], "err": []}
    readers = [threading.Thread(target=_drain, args=(stream, chunks[key]), daemon=True)
               for key, stream in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    exit_ns = time.monotonic_ns()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    for reader in readers:
        reader.join(PIPE_GRACE)
    if any(reader.is_alive() for reader in readers):
        _kill_group(proc.pid)
        for reader in readers:
            reader.join()
    return Run(list(argv), wall, usage.ru_maxrss / 1024, _text(chunks["out"]),
               _text(chunks["err"]), proc.returncode, timed_out.is_set(), exit_ns)


def _drain(stream, chunks: list) -> None:
    with stream:
        for chunk in iter(lambda: stream.read1(1 << 16), b""):
            chunks.append(chunk)


def _text(chunks: list) -> str:
    return b"".join(chunks).decode("utf-8", errors="replace")


def _kill_group(pid: int) -> None:
    """The tool and its -c child share a session of their own: end them together."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class CacheDirs:
    """Cache directories for tracer, inside its cache root (TRACER_CACHE_DIR, else
    /var/cache/tracer), which tracer requires to be root-owned and closed to group and others.

    ``fresh()`` gives a brand-new directory (mode 0700) with no compiled program in it, so a
    run finds nothing built before it: a first run. A directory passed to several runs in a
    row makes them cached runs. The merged kernel-headers tree (built once per machine, not
    per program, and ~8 s to build) is linked in from the real cache, so a first run measures
    compiling the program, as a user's first run of a new script does.
    Everything made here is removed by ``cleanup()``.
    """

    def __init__(self, root: Optional[str] = None):
        if root is None:
            from tracer.paths import cache_dir
            root = cache_dir()
        self.root = root
        self._made: list = []

    def fresh(self) -> str:
        os.makedirs(self.root, mode=0o755, exist_ok=True)
        path = tempfile.mkdtemp(prefix="bench-", dir=self.root)  # mkdtemp makes it 0700
        self._made.append(path)
        headers = os.path.join(self.root, "kernel-headers")
        if os.path.isdir(headers):
            os.symlink(headers, os.path.join(path, "kernel-headers"))
        return path

    def remove(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
        if path in self._made:
            self._made.remove(path)

    def cleanup(self) -> None:
        for path in list(self._made):
            self.remove(path)


def tool_env(tool: Tool, cache: Optional[str] = None, extra: Optional[dict] = None) -> dict:
    """The environment of one run: the bench's own, with tracer's cache pointed at ``cache``
    (never switched off: the bench measures the cache, so TRACER_NO_CACHE is dropped) and the
    BPFTRACE_* settings of the row, which both tools read."""
    env = dict(os.environ)
    env.pop("TRACER_NO_CACHE", None)
    if tool.has_cache and cache is not None:
        env["TRACER_CACHE_DIR"] = cache
    env.update(extra or {})
    return env
