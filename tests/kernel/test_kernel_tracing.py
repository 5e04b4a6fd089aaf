"""tracer on the real kernel, against workloads whose system calls are known exactly.

Each ``tracer`` run costs about 1.5 s (compiling with BCC), so several checks share one run where
they can. Outputs are compared whole wherever they are deterministic.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from outcomes import expect_output as _ok

pytestmark = pytest.mark.kernel

GETPPID = "tracepoint:syscalls:sys_enter_getppid"
COUNT_CHILD = GETPPID + " /pid == cpid/ { @ = count(); }"


def _process_gone(pid: int, timeout: float) -> bool:
    """True once ``pid`` no longer runs (it is gone, or a zombie about to be reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Counting a -c child's system calls


@pytest.mark.parametrize("n", [1000, 1, 0])
def test_count_getppid_of_child(run_tracer, workload, n):
    # n == 0: the probe never fires, and a scalar count map still prints "@: 0", as in bpftrace.
    proc = run_tracer("-c", f"{workload('tk_loop')} {n}", "-e", COUNT_CHILD)
    _ok(proc, f"\n\n@: {n}\n")


def test_args_fields_of_kill(run_tracer, workload):
    # sys_enter_kill has `pid_t pid` and `int sig`: the workload sends signal 0 to itself.
    prog = ("tracepoint:syscalls:sys_enter_kill /pid == cpid/ {"
            " @[args->pid == cpid, args->sig] = count(); @dot[args.sig] = count();"
            " @comm[comm] = count(); }")
    proc = run_tracer("-c", f"{workload('tk_kill')} 3", "-e", prog)
    _ok(proc, "\n\n@[true, 0]: 3\n@comm[tk_kill]: 3\n@dot[0]: 3\n")


def test_close_fd_signedness_and_event_order(run_tracer, workload):
    # The tracepoint's field is `unsigned int fd` (see .../sys_enter_close/format): like bpftrace,
    # %d of close(-1)'s fd prints -1, %u prints 4294967295, and as a map key it is 4294967295.
    # The predicate drops the closes the dynamic loader makes (fds 3, 4) and checks the
    # comparison is unsigned: -1 as an unsigned int is > 999. Events print in the order they
    # happened.
    prog = ("tracepoint:syscalls:sys_enter_close /pid == cpid && args->fd > 999/ {"
            ' printf("%d %u\\n", args->fd, args->fd); @[args->fd] = count(); }')
    proc = run_tracer("-c", f"{workload('tk_close')} 1000 1001 1001 -1 -1 -1", "-e", prog)
    _ok(proc, ""
              "1000 1000\n1001 1001\n1001 1001\n-1 4294967295\n-1 4294967295\n-1 4294967295\n"
              "\n\n@[1000]: 1\n@[1001]: 2\n@[4294967295]: 3\n")


def test_map_read_in_probe_prints_in_order(run_tracer, workload):
    # `@n = @n + 1` reads a map that is not yet set (0), as bpftrace allows.
    prog = GETPPID + ' /pid == cpid/ { @n = @n + 1; printf("call %d\\n", @n); }'
    proc = run_tracer("-c", f"{workload('tk_loop')} 5", "-e", prog)
    _ok(proc, ""
              "call 1\ncall 2\ncall 3\ncall 4\ncall 5\n\n\n@n: 5\n")


def test_wildcard_tracepoint(run_tracer, workload):
    # sys_enter_getpp* matches sys_enter_getppid only (getpid/getpgid/getpriority do not match).
    proc = run_tracer("-v", "-c", f"{workload('tk_loop')} 1000", "-e",
                      "tracepoint:syscalls:sys_enter_getpp* /pid == cpid/ { @ = count(); }")
    _ok(proc, "\n\n@: 1000\n")
    attached = [line for line in proc.stderr.splitlines() if "attached" in line]
    assert attached and all("sys_enter_getppid" in line for line in attached), proc.stderr


def test_two_probes_and_end(run_tracer, workload):
    # END's output comes first, then the maps in name order (not in the order of the program).
    prog = ("t:syscalls:sys_enter_kill /pid == cpid/ { @b = count(); }"
            ' END { printf("end\\n"); }'
            " tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @a = count(); }")
    proc = run_tracer("-c", f"{workload('tk_both')} 4 2", "-e", prog)
    _ok(proc, "end\n\n\n@a: 4\n@b: 2\n")


# ---------------------------------------------------------------------------------------------
# interval probes and exit()


def test_interval_exit(run_tracer):
    start = time.monotonic()
    proc = run_tracer("-e", 'BEGIN { printf("start\\n"); } interval:ms:200 { exit(); }',
                      timeout=30)
    _ok(proc, "start\n\n\n")
    assert time.monotonic() - start < 10


def test_interval_fires_repeatedly(run_tracer):
    # One timer counts while @n < 5, the other exits once @n == 5: whatever the timing, the
    # answer is exactly 5, and reaching it takes five firings of the first timer.
    proc = run_tracer("-e", "interval:ms:20 /@n < 5/ { @n = @n + 1; } "
                            "i:ms:20 /@n == 5/ { exit(); }", timeout=30)
    _ok(proc, "\n\n@n: 5\n")


def test_exit_in_probe_stops_tracing_and_ends_child(run_tracer, workload):
    prog = ('BEGIN { printf("child %d\\n", cpid); }'
            " tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); exit(); }")
    start = time.monotonic()
    proc = run_tracer("-c", workload("tk_forever"), "-e", prog, timeout=30)
    assert time.monotonic() - start < 10
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("Attached 2 probes\n"), proc.stderr
    child_line, tail = proc.stdout.split("\n", 1)
    assert child_line.startswith("child ") and tail == "\n\n@: 1\n", proc.stdout
    child = int(child_line.split()[1])
    assert child > 0
    assert _process_gone(child, 5), f"the -c child {child} still runs after tracer exited"


# ---------------------------------------------------------------------------------------------
# Signals and -p


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_stops_tracer(live, workload, sig):
    # SIGHUP too ends the run with END and the maps (bpftrace 0.17 dies of it, printing none).
    # The workload waits for a byte on stdin, so it only runs once the probes are attached
    # (BEGIN fires after attaching; "Attached" alone is printed before).
    wl = live([workload("tk_paused"), "7", "1000"], stdin=subprocess.PIPE)
    tr = live.tracer("-e", f'BEGIN {{ printf("ready\\n"); }} {GETPPID} /pid == {wl.proc.pid}/'
                           " { @ = count(); }")
    tr.wait_for_stdout("ready\n", 60)
    wl.proc.stdin.write(b"x")
    wl.proc.stdin.close()
    assert wl.proc.wait(timeout=30) == 0
    tr.proc.send_signal(sig)
    proc = tr.finish(30)
    _ok(proc, "ready\n\n\n@: 7\n")


def test_p_pid_exits_with_the_process(live, workload):
    wl = live([workload("tk_paused"), "200", "5000"], stdin=subprocess.PIPE)
    pid = wl.proc.pid
    tr = live.tracer("-p", pid, "-e",
                     f'BEGIN {{ printf("ready\\n"); }} {GETPPID} /pid == {pid}/ {{ @ = count(); }}')
    tr.wait_for_stdout("ready\n", 60)
    wl.proc.stdin.write(b"x")
    wl.proc.stdin.close()
    assert wl.proc.wait(timeout=30) == 0  # reaped: no zombie left for tracer to wait on
    proc = tr.finish(15)  # on its own: no signal is sent
    _ok(proc, "ready\n\n\n@: 200\n")


def test_p_pid_of_exited_unreaped_process(live, workload):
    # The process has exited but its parent (this test) has not reaped it: it is a zombie and
    # runs no more, so tracer stops at once, as bpftrace 0.17 does.
    wl = live([workload("tk_loop"), "1"])
    assert _process_gone(wl.proc.pid, 10)
    proc = live.tracer("-p", wl.proc.pid, "-e", 'BEGIN { printf("x\\n"); }').finish(15)
    _ok(proc, "x\n\n\n")


# ---------------------------------------------------------------------------------------------
# Where the program comes from


def test_program_from_file(run_tracer, workload, tmp_path):
    script = tmp_path / "count.bt"
    script.write_text(f"#!/usr/bin/env tracer\n// count the child's getppid calls\n{COUNT_CHILD}\n")
    proc = run_tracer("-c", f"{workload('tk_loop')} 12", str(script))
    _ok(proc, "\n\n@: 12\n")


def test_executable_script_with_positional_param(tmp_path):
    script = tmp_path / "hello.bt"
    script.write_text('#!/usr/bin/env tracer\nBEGIN { printf("hello %s\\n", str($1)); exit(); }\n')
    script.chmod(0o755)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", ""))
    proc = subprocess.run(["./hello.bt", "world"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    _ok(proc, "hello world\n\n\n")


def test_program_from_stdin(run_tracer, workload):
    proc = run_tracer("-c", f"{workload('tk_loop')} 13", "-", input=COUNT_CHILD + "\n")
    _ok(proc, "\n\n@: 13\n")


# ---------------------------------------------------------------------------------------------
# Errors that need the running kernel to find


def test_unknown_tracepoint(run_tracer):
    attach = "tracepoint:syscalls:sys_enter_getppidd"
    source = attach + " { @ = count(); }"
    proc = run_tracer("-e", source)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[:3] == [
        "stdin:1:1: error: tracepoint not found: syscalls:sys_enter_getppidd",
        source,
        "~" * len(attach),
    ], proc.stderr
    assert any(line.startswith("hint:") and "tracepoint:syscalls:sys_enter_getppid" in line
               for line in lines[3:]), proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_tracepoint_field(run_tracer):
    source = "tracepoint:syscalls:sys_enter_kill { @ = args->nosuch; }"
    proc = run_tracer("-e", source)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    col = source.index("args->nosuch")
    assert lines[0].startswith(f"stdin:1:{col + 1}: error: "), proc.stderr
    assert "nosuch" in lines[0], proc.stderr
    assert lines[1:3] == [source, " " * col + "~" * len("args->nosuch")], proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# -c commands that need a shell


def test_c_shell_command(run_tracer):
    proc = run_tracer("-c", "sh -c 'exit 0'", "-e", 'BEGIN { printf("go\\n"); }')
    _ok(proc, "go\n\n\n")


def test_c_shell_and_list(run_tracer, workload):
    # Run through /bin/sh, so cpid is the shell and the two tk_loop processes are its children:
    # count them by name (the shell's own getppid call, if any, is not counted).
    loop = workload("tk_loop")
    proc = run_tracer("-c", f"{loop} 3 && {loop} 4", "-e",
                      GETPPID + ' /comm == "tk_loop"/ { @ = count(); }')
    _ok(proc, "\n\n@: 7\n")


STUBBORN = r"""
#include <signal.h>
#include <unistd.h>
/* Ignores SIGTERM and calls getppid() every millisecond, forever. */
int main(void) { signal(SIGTERM, SIG_IGN); for (;;) { getppid(); usleep(1000); } }
"""


def test_child_that_ignores_sigterm_is_killed(run_tracer, build_workload):
    stubborn = build_workload("tk_stubborn", STUBBORN)
    start = time.monotonic()
    proc = run_tracer("-c", stubborn, "-e",
                      "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); exit(); }",
                      timeout=30)
    _ok(proc, "\n\n@: 1\n")
    assert time.monotonic() - start < 10
    assert subprocess.run(["pgrep", "-x", "tk_stubborn"]).returncode == 1, "the child survived"
