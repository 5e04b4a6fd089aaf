"""tracer's Python API on the real kernel, through the pytest plugin a user's suite would use
(the ``tracing`` fixture, the ``tracer_needs`` marker): a run's maps, printf lines and exit
status as Python values, equal to the workload's exact counts; a background trace around the
test's own code; a timeout; what cannot run raises, located or explained."""

from __future__ import annotations

import os
import time

import pytest

from tracer.values import Histogram, Stats

pytestmark = [pytest.mark.kernel, pytest.mark.tracer_needs("tracepoint")]

COUNT_CALLS = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }"


def test_run_returns_the_commands_exact_count(tracing, workload):
    result = tracing.run(COUNT_CALLS, command=f"{workload('tk_loop')} 250")
    assert result.exit_status == 0 and result.maps == {"@": 250}
    assert result.lost == 0 and result.printed == []


def test_run_returns_keys_histograms_stats_printf_and_the_exit_status(tracing, workload):
    # Only the workload's own closes of these fds (the loader and -c's spawn close others).
    prog = ("tracepoint:syscalls:sys_enter_close /pid == cpid && comm == \"tk_close\" && "
            "args.fd >= 40/ { @fds[args.fd, comm] = count(); @h = hist(args.fd); "
            "@s = stats(args.fd); printf(\"close %d\\n\", args.fd); } END { exit(7); }")
    result = tracing.run(prog, command=f"{workload('tk_close')} 40 50 50 70")
    assert result.exit_status == 7
    assert result.maps["@fds"] == {(40, "tk_close"): 1, (50, "tk_close"): 2,
                                   (70, "tk_close"): 1}
    assert result.maps["@s"] == Stats(count=4, total=210)
    hist = result.maps["@h"]
    assert isinstance(hist, Histogram) and hist.total == 4
    assert {(b.lo, b.hi): b.count for b in hist.buckets if b.count} == {(32, 64): 3, (64, 128): 1}
    assert result.printed == ["close 40\n", "close 50\n", "close 50\n", "close 70\n"]


def test_trace_sees_what_the_block_does(tracing):
    prog = ("tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @ = count(); "
            "printf(\"call %d\\n\", @n++); }")
    with tracing.trace(prog, params=[os.getpid()]) as traced:
        for _ in range(37):
            os.getppid()
    assert traced.result.maps["@"] == 37
    assert traced.result.printed == [f"call {i}\n" for i in range(37)]


def test_trace_events_arrive_while_the_block_runs(tracing):
    # Each call is made only once the event of the one before has arrived.
    prog = "tracepoint:syscalls:sys_enter_getppid /pid == $1/ { printf(\"%d\\n\", @n++); }"
    seen = []
    with tracing.trace(prog, params=[os.getpid()]) as traced:
        os.getppid()
        for event in traced.events():
            seen.append(event.data)
            if len(seen) == 3:
                break
            os.getppid()
    assert seen == ["0\n", "1\n", "2\n"]
    assert traced.result.printed == seen


def test_run_stops_at_its_timeout(tracing):
    started = time.monotonic()
    result = tracing.run("tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @ = count(); }",
                        params=[os.getpid()], timeout=1.0)
    assert 1.0 <= time.monotonic() - started < 20
    # No call was made: the scalar count() reads 0, as bpftrace prints `@: 0`.
    assert result.exit_status == 0 and result.maps == {"@": 0}


def test_what_cannot_run_raises(tracing):
    with pytest.raises(tracing.CompileError) as err:
        tracing.run("BEGIN { @ = pidd; }", name="smoke.bt")
    assert (err.value.file, err.value.line, err.value.column) == ("smoke.bt", 1, 13)
    with pytest.raises(tracing.TracerError) as err:
        with tracing.trace("tracepoint:syscalls:sys_enter_getppid { @ = count(); }",
                          pid=2 ** 22 + 1):
            pass
    assert "no process" in str(err.value)
