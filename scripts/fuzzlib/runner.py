"""Runs cases in worker processes, each under a time limit, and classifies every outcome as
accepted, refused (an exception the target is allowed to raise: tracer's CompileError) or a
failure (any other exception, a time limit passed, a worker that died).

Why processes rather than threads or ``signal.alarm``: compiling is CPU-bound, so two workers
use both cores; a compile that never ends can only be stopped by ending its process; and a crash
of the interpreter itself (a C stack overflow, the OOM killer) must cost one case, not the run.
The parent hands out one task at a time, so it always knows which case a dead or stuck worker
was on, and a fresh worker takes over the rest. Workers make their cases from the index
(``make_case``), so only small tuples and outcomes cross the pipes.

This module knows nothing of tracer: what a task does is a *target*, a callable on a case
(see ``targets``), which makes the runner testable with a target that is broken on purpose.
"""

from __future__ import annotations

import collections
import faulthandler
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Callable, Iterable, Optional

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
TRACER_DIR = os.path.join(REPO, "tracer") + os.sep


@dataclass
class Outcome:
    index: int
    mode: str  # which target ran: "compile", "clang" ...
    status: str  # "accepted", "refused" or "failure"
    source: str = ""  # which generator made the case
    cause: str = ""  # what failures are grouped by: the exception type and innermost frame
    detail: str = ""  # a failure's traceback, a refusal's first line
    seconds: float = 0.0
    extra: str = ""  # more to keep with a failure (the C that clang refused)


def frame_where(frames: list) -> str:
    """The innermost frame in tracer's own code (or, failing that, the innermost frame), as
    `tracer/check/checker.py:123 in _let`. frames: (filename, line, function) innermost last."""
    ours = [f for f in frames if os.path.realpath(f[0]).startswith(TRACER_DIR)]
    if not (ours or frames):
        return "?"
    filename, line, function = (ours or frames)[-1]
    return f"{os.path.relpath(os.path.realpath(filename), REPO)}:{line} in {function}"


def classify(err: BaseException) -> tuple[str, str]:
    """A failure's cause and detail."""
    if getattr(err, "fuzz_cause", None):  # a target's own wording (clang's first error)
        return err.fuzz_cause, str(err)
    frames = [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(err.__traceback__)]
    detail = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return f"{type(err).__name__} at {frame_where(frames)}", detail


DUMP_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def stuck_where(dump: str) -> str:
    """Where a timed-out compile was, by file and function (a loop is caught at a different line
    each time). From the worker's snapshot of its threads' whole stacks if it took one, else
    from faulthandler's dump (which shows only the innermost 100 frames of each thread, most
    recent first, the newest thread -- the compile's -- first)."""
    if "Snapshot" in dump:
        section = dump[dump.rfind("Snapshot"):]
        section = section.split("Timeout (")[0]  # faulthandler's dump may follow
        frames = list(reversed([m.groups() for m in DUMP_FRAME.finditer(section)]))
    else:
        section = dump[max(0, dump.rfind("Timeout (")):]
        section = section.split("\nThread ")[1] if "\nThread " in section else section
        frames = [m.groups() for m in DUMP_FRAME.finditer(section)]
    ours = [f for f in frames if os.path.realpath(f[0]).startswith(TRACER_DIR)] or frames
    if not ours:
        return "?"
    filename, _, function = ours[0]
    if filename.startswith("<"):
        return f"{filename} in {function}"
    return f"{os.path.relpath(os.path.realpath(filename), REPO)} in {function}"


def _snapshot(dump) -> None:
    """Every thread's whole stack into the dump, innermost frame last (a SIGALRM handler: it
    runs in the worker's main thread while the compile's own thread is stuck)."""
    lines = ["Snapshot (most recent call last):"]
    frames = sys._current_frames()
    if len(frames) > 1:  # the compile runs on a thread of its own: leave out this one
        frames.pop(threading.get_ident(), None)
    for ident, frame in frames.items():
        lines.append(f"Thread {ident}:")
        lines += [f'  File "{f.filename}", line {f.lineno} in {f.name}'
                  for f in traceback.extract_stack(frame)]
    dump.write("\n".join(lines) + "\n")
    dump.flush()


def run_one(case, mode: str, target: Callable, refusals: tuple) -> Outcome:
    start = time.monotonic()
    try:
        target(case)
        outcome = Outcome(case.index, mode, "accepted", case.source)
    except refusals as err:
        outcome = Outcome(case.index, mode, "refused", case.source,
                          detail=(str(err).splitlines() or [""])[0][:200])
    except Exception as err:  # everything else is what we are looking for
        cause, detail = classify(err)
        outcome = Outcome(case.index, mode, "failure", case.source, cause, detail,
                          extra=getattr(err, "fuzz_extra", ""))
    outcome.seconds = time.monotonic() - start
    return outcome


def _worker_main(conn, make_case, targets, refusals, limits, dump_path) -> None:
    dump = open(dump_path, "w+")
    faulthandler.enable(file=dump)  # a fatal signal leaves its traceback for the parent
    signal.signal(signal.SIGALRM, lambda signum, frame: _snapshot(dump))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle: it ends us
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        mode, index = task
        if os.fstat(dump.fileno()).st_size:
            dump.truncate(0)
            dump.seek(0)
        # Before the parent gives up on us: where the compile is stuck, for its report. The
        # snapshot shows whole stacks; faulthandler's dump is for a compile stuck in C code,
        # where a Python signal handler cannot run.
        signal.setitimer(signal.ITIMER_REAL, limits[mode] * 0.8)
        faulthandler.dump_traceback_later(limits[mode] * 0.9, file=dump)
        try:
            outcome = run_one(make_case(index), mode, targets[mode], refusals)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            faulthandler.cancel_dump_traceback_later()
        if outcome.status != "failure" and outcome.seconds > limits[mode]:
            outcome.status, outcome.cause = "failure", f"Timeout (slow, {limits[mode]:g} s)"
        conn.send(outcome)


class _Worker:
    def __init__(self, runner: "Runner", number: int):
        self.dump_path = os.path.join(runner.tmp, f"worker-{number}.dump")
        self.conn, child = multiprocessing.Pipe()
        self.proc = runner.context.Process(
            target=_worker_main, daemon=True,
            args=(child, runner.make_case, runner.targets, runner.refusals, runner.limits,
                  self.dump_path))
        self.proc.start()
        child.close()
        self.task: Optional[tuple] = None
        self.deadline = 0.0

    def read_dump(self) -> str:
        try:
            with open(self.dump_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Runner:
    """``run`` takes (mode, index) tasks and gives their outcomes in task order.

    make_case: index -> case (with .index and .source); targets: mode -> callable(case);
    refusals: exception types that mean "refused"; limits: mode -> seconds (default 5)."""

    def __init__(self, make_case: Callable, targets: dict, refusals: tuple = (),
                 jobs: int = 2, limits: Optional[dict] = None,
                 progress: Optional[Callable[[Outcome], None]] = None):
        self.make_case, self.targets, self.refusals = make_case, targets, tuple(refusals)
        self.jobs = jobs
        self.limits = {mode: 5.0 for mode in targets} | (limits or {})
        self.progress = progress or (lambda outcome: None)
        self.context = multiprocessing.get_context("fork")
        self.tmp = ""
        self.started = 0

    def run(self, tasks: Iterable[tuple[str, int]]) -> list[Outcome]:
        tasks = list(tasks)
        if self.jobs <= 0:  # in this process, no time limit: for a debugger
            return [self._report(run_one(self.make_case(i), mode, self.targets[mode],
                                         self.refusals)) for mode, i in tasks]
        self.tmp = tempfile.mkdtemp(prefix="tracer-fuzz-")
        results: dict[tuple, Outcome] = {}
        workers: list[_Worker] = []
        try:
            workers = [self._spawn() for _ in range(min(self.jobs, len(tasks)))]
            self._loop(collections.deque(tasks), workers, results)
        finally:
            for worker in workers:
                worker.stop(kill=worker.task is not None)
            shutil.rmtree(self.tmp, ignore_errors=True)
        return [results[task] for task in tasks]

    def _spawn(self) -> _Worker:
        self.started += 1
        return _Worker(self, self.started)

    def _report(self, outcome: Outcome) -> Outcome:
        self.progress(outcome)
        return outcome

    def _loop(self, todo: collections.deque, workers: list, results: dict) -> None:
        while todo or any(w.task for w in workers):
            for worker in workers:
                if worker.task is None and todo:
                    worker.task = todo.popleft()
                    worker.deadline = time.monotonic() + self.limits[worker.task[0]]
                    worker.conn.send(worker.task)
            busy = [w for w in workers if w.task is not None]
            nearest = min(w.deadline for w in busy)
            ready = wait([w.conn for w in busy], timeout=max(0.0, nearest - time.monotonic()))
            for worker in busy:
                task = worker.task
                if worker.conn in ready:
                    try:
                        outcome = worker.conn.recv()
                    except (EOFError, OSError):
                        outcome = self._lost(worker, "died")
                elif time.monotonic() > worker.deadline:
                    outcome = self._lost(worker, "timeout")
                else:
                    continue
                results[task] = self._report(outcome)
                worker.task = None
                if not worker.proc.is_alive():  # ended for its time, or died: replace it
                    workers[workers.index(worker)] = self._spawn()
                    worker.stop(kill=True)

    def _lost(self, worker: _Worker, how: str) -> Outcome:
        """The outcome of a task whose worker never answered: it ran out of time, or died."""
        mode, index = worker.task
        if how == "timeout":
            worker.proc.kill()
            worker.proc.join()
        else:
            worker.proc.join(5)
        dump = worker.read_dump()
        source = self.make_case(index).source
        if how == "timeout":
            cause = f"Timeout (>{self.limits[mode]:g} s) at {stuck_where(dump)}"
        else:
            cause = f"WorkerDied (exit {worker.proc.exitcode}) at {stuck_where(dump)}"
        return Outcome(index, mode, "failure", source, cause, dump or "(no traceback)",
                       seconds=self.limits[mode] if how == "timeout" else 0.0)
