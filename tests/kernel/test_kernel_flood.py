"""More events than tracer can print: every event is either printed or counted as lost, and a
flood neither keeps tracer from stopping nor makes it grow.

As bpftrace 0.26 does, tracer reports lost events as they happen ("Lost N events" on stderr in
text, a lost_events record on stdout in JSON), then their total in a warning at the end. The
sum of the reports plus the lines printed is the number of events, and the total says the same
sum: that is what is checked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.kernel

FLOODING = 'tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { printf("%d\\n", 1); }'
SMALL_BUFFER = "config = { perf_rb_pages = 1 } "  # one page: a few hundred events at most
LOST_LINE = re.compile(r"Lost (\d+) events\n")

# getppid() as fast as it goes, until killed.
SPIN_SOURCE = r"""
#include <unistd.h>
int main(void) {
    for (;;) getppid();
}
"""


def text_counts(proc: subprocess.CompletedProcess) -> tuple[int, int]:
    """(lines printed, events reported lost) of a text run of FLOODING."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("\n\n"), proc.stdout[-100:]
    printed = proc.stdout[:-2]
    lines = printed.count("\n")
    assert printed == "1\n" * lines, "a printed line is not the one printf made"
    lost = sum(int(n) for n in LOST_LINE.findall(proc.stderr))
    total = f"WARNING: Total lost event count: {lost}\n" if lost else ""
    other = LOST_LINE.sub("", proc.stderr.replace("Attached 1 probe\n", "", 1))
    assert other == total, proc.stderr
    return lines, lost


def json_counts(proc: subprocess.CompletedProcess) -> tuple[int, int]:
    """(lines printed, events reported lost) of a JSON run of FLOODING."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    lines = lost = 0
    total = re.fullmatch(r"(?:WARNING: Total lost event count: (\d+)\n)?", proc.stderr)
    assert total, proc.stderr  # the total goes to stderr as text, whatever the format
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if record["type"] == "printf":
            assert record == {"type": "printf", "data": "1\n"}, line
            lines += 1
        elif record["type"] == "lost_events":
            count = record["data"]["events"]
            # bpftrace 0.26's bytes: the count twice, as "count" and as data.events.
            assert line == (f'{{"type": "lost_events", "count": {count}, '
                            f'"data": {{"events": {count}}}}}'), line
            lost += count
        else:
            assert record == {"type": "attached_probes", "count": 1, "data": {"probes": 1}}, line
    assert int(total.group(1) or 0) == lost, proc.stderr
    return lines, lost


def test_a_small_buffer_loses_events_and_says_how_many(run_tracer, workload, monkeypatch):
    monkeypatch.setenv("BPFTRACE_PERF_RB_PAGES", "1")
    proc = run_tracer("-c", f"{workload('tk_loop')} 200000", "-e", FLOODING)
    printed, lost = text_counts(proc)
    assert lost > 0 and printed > 0
    assert printed + lost == 200000, (printed, lost)


def test_lost_events_in_json(run_tracer, workload):
    proc = run_tracer("-f", "json", "-c", f"{workload('tk_loop')} 200000",
                      "-e", SMALL_BUFFER + FLOODING)
    printed, lost = json_counts(proc)
    assert lost > 0 and printed > 0
    assert printed + lost == 200000, (printed, lost)


def test_the_default_buffer_accounts_for_every_event(run_tracer, workload):
    proc = run_tracer("-c", f"{workload('tk_loop')} 20000", "-e", FLOODING)
    printed, lost = text_counts(proc)
    assert printed + lost == 20000, (printed, lost)


# ---- stopping during a flood -------------------------------------------------------------------


class Drain(threading.Thread):
    """Reads a pipe to its end, keeping only how much came and the last bytes."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.size, self.tail = pipe, 0, b""

    def run(self) -> None:
        while chunk := os.read(self.pipe.fileno(), 1 << 16):
            self.size += len(chunk)
            self.tail = (self.tail + chunk)[-64:]


def memory_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture
def spinner(build_workload):
    """A process calling getppid() without pause, for as long as the test runs."""
    proc = subprocess.Popen([build_workload("tk_spin", SPIN_SOURCE)], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_ctrl_c_during_a_flood_stops_at_once_and_memory_stays_flat(spinner):
    tracer = subprocess.Popen(
        [sys.executable, "-m", "tracer", "-e",
         'tracepoint:syscalls:sys_enter_getppid { printf("%d\\n", pid); }'],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    out, err = Drain(tracer.stdout), Drain(tracer.stderr)
    out.start()
    err.start()
    try:
        deadline = time.monotonic() + 30
        while out.size == 0:  # attached, and the flood is coming through
            assert tracer.poll() is None, err.tail
            assert time.monotonic() < deadline, "no output within 30 s"
            time.sleep(0.02)
        time.sleep(1)
        rss_at_1s = memory_kb(tracer.pid, "VmRSS")
        time.sleep(1)
        rss_at_2s = memory_kb(tracer.pid, "VmRSS")
        peak = memory_kb(tracer.pid, "VmHWM")
        printed_before_stop = out.size

        tracer.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        try:
            status = tracer.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("tracer was still running 5 s after SIGINT")
        took = time.monotonic() - signalled
    finally:
        if tracer.poll() is None:
            os.killpg(tracer.pid, signal.SIGKILL)
            tracer.wait()
        out.join(5)
        err.join(5)

    assert b"Traceback" not in err.tail, err.tail
    assert status == 0, err.tail
    # Stopping detaches at once, then prints what the ring buffer already held (up to 16 MiB,
    # about a million lines of this flood): measured 0.75 s on a 2-core VM (0.06-0.26 s on an
    # idle one), and 1.02 s while the rest of the suite loaded it. What this guards against is
    # waiting on the flood itself, which would take until the 5 s timeout above.
    assert took < 2.0, f"tracer took {took:.2f} s to stop after SIGINT"
    assert printed_before_stop > 100_000, "the flood did not reach the output"
    assert out.tail.endswith(b"\n\n\n"), out.tail  # the last event line, then the end of trace
    growth_kb = rss_at_2s - rss_at_1s
    assert growth_kb < 4096, f"memory grew by {growth_kb} kB in a second of flood"
    assert peak - rss_at_2s < 4096, (peak, rss_at_2s)
