"""The command line on the real kernel when its standard streams misbehave: closed, full, or a
pipe whose reader goes away (| head). None may end in an internal error or a traceback.

bpftrace 0.17, for the record: it exits 0 and says nothing when stdout is closed or full (the
output is lost), reads a closed stdin as an empty program (a syntax error, status 1), and is
killed by SIGPIPE (status 141) when its reader goes away. tracer says what is wrong and exits 1,
and ends a closed pipe quietly with status 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.kernel

MAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEGIN_X = 'BEGIN { printf("x\\n"); exit(); }'
ATTACHED = "Attached 1 probe\n"


def shell_tracer(redirect: str, *args: str) -> subprocess.CompletedProcess:
    """`tracer ARGS REDIRECT` as sh runs it (REDIRECT: `>&-`, `> /dev/full`, `<&-`)."""
    argv = ["/bin/sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-m", "tracer", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=MAIN,
                          stdin=subprocess.DEVNULL)


def assert_no_crash(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "internal error" not in stderr, stderr


def test_stdout_closed():
    proc = shell_tracer(">&-", "-e", BEGIN_X)
    assert_no_crash(proc.stderr)
    assert (proc.returncode, proc.stderr) == (
        1, "tracer: error: standard output is closed, so there is nowhere to print to\n"
           "hint: redirect it instead (> FILE, or > /dev/null to discard it); -o FILE takes "
           "the trace output\n")


@pytest.mark.parametrize("args, where", [
    ((), "standard output (/dev/full)"),
    (("-o", "/dev/full"), "/dev/full"),
])
def test_output_on_a_full_device(args, where):
    proc = shell_tracer("> /dev/full", *args, "-e", BEGIN_X)
    assert_no_crash(proc.stderr)
    assert (proc.returncode, proc.stderr) == (
        1, f"{ATTACHED}tracer: error: cannot write to {where}: No space left on device\n")


def test_program_from_closed_stdin():
    proc = shell_tracer("<&-", "-")
    assert_no_crash(proc.stderr)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1, "", "tracer: error: cannot read the program from standard input (-): it is closed\n"
               "hint: give the program with -e PROGRAM or as a FILE, or redirect standard "
               "input (< FILE)\n")


def test_stderr_closed_still_traces():
    # Nothing tracer opens may take descriptor 2's place, and what goes there is dropped.
    proc = shell_tracer("2>&-", "-e", BEGIN_X)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "x\n\n\n", "")


# ---------------------------------------------------------------------------------------------
# The reader goes away (| head -1)


def _close_reader_after_first_line(live, program: str) -> tuple[subprocess.CompletedProcess,
                                                                  float]:
    """Run tracer, read until its first line, close the pipe; (the run, seconds it took to
    end after that)."""
    tracer = live.tracer("-e", program)
    tracer.wait_for_stdout("\n", timeout=20)
    tracer.proc.stdout.close()
    closed = time.monotonic()
    proc = tracer.finish(timeout=10)
    return proc, time.monotonic() - closed


def test_reader_goes_away_at_a_low_event_rate(live):
    proc, took = _close_reader_after_first_line(live, 'interval:ms:50 { printf("tick\\n"); }')
    assert (proc.returncode, proc.stderr) == (0, ATTACHED)
    assert took < 3, took


def test_reader_goes_away_during_a_flood(live):
    # dd makes two system calls per byte, far more events than tracer can print; its own
    # writes add more. Without a way out of the poll, tracer would trace as long as dd runs.
    flood = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1"],
                             stderr=subprocess.DEVNULL)
    try:
        proc, took = _close_reader_after_first_line(
            live, 'tracepoint:raw_syscalls:sys_enter { printf("%d\\n", pid); }')
    finally:
        flood.kill()
        flood.wait()
    assert (proc.returncode, proc.stderr) == (0, ATTACHED)
    assert took < 2.5, took
