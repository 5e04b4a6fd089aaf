"""A run's life on the real kernel: --dry-run, every way a run ends leaving nothing loaded,
stop signals before tracing starts, the -c command dying with tracer, and `tracer doctor`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import leaks

from tracer.diagnostics import EXIT_KERNEL_REFUSED
from tracer.host import pmu

pytestmark = pytest.mark.kernel

GETPPID = "tracepoint:syscalls:sys_enter_getppid"


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _children(pid: int) -> dict[int, str]:
    """The child processes of ``pid``: pid -> command line."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found[int(entry)] = cmdline
    return found


def _programs_held_by(pid: int) -> set[int]:
    return {prog for prog, pids in leaks.holders().items() if pid in pids}


# ---------------------------------------------------------------------------------------------
# --dry-run


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_dry_run_attaches_then_exits_running_and_printing_nothing(run_tracer, tmp_path, fmt):
    ran = tmp_path / "ran"
    program = ('BEGIN { printf("begin\\n"); @b = 1; } ' + GETPPID + " { @n = count(); }"
               ' END { printf("end\\n"); }')
    proc = run_tracer("--dry-run", "-f", fmt, "-c", f"touch {ran}", "-e", program)
    # bpftrace 0.26 stops its dry run right after attaching: no "Attached N probes", no
    # BEGIN or END output, no maps, and the command never runs.
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert not ran.exists(), "the -c command ran in a dry run"


def test_dry_run_still_refuses_what_the_kernel_cannot_attach(run_tracer):
    if pmu.has_hardware_counters():
        pytest.skip("this machine has hardware counters, so hardware: probes attach")
    proc = run_tracer("--dry-run", "-e", "hardware:cycles:1000000 { @ = count(); }")
    assert (proc.returncode, proc.stdout) == (EXIT_KERNEL_REFUSED, "")
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("stdin:1:1: error: cannot attach hardware:cpu-cycles:1000000: ")
    assert lines[2] == "~" * len("hardware:cycles:1000000")
    assert lines[3].startswith("hint: ")


def test_dry_run_fails_with_the_attach_error(run_tracer):
    # A sampling frequency above kernel.perf_event_max_sample_rate: the program loads, and
    # the kernel refuses the event when it is attached.
    with open("/proc/sys/kernel/perf_event_max_sample_rate") as f:
        assert int(f.read()) < 1_000_000_000
    proc = run_tracer("--dry-run", "-e", "profile:hz:1000000000 { @ = count(); }")
    assert (proc.returncode, proc.stdout) == (EXIT_KERNEL_REFUSED, "")
    assert proc.stderr.startswith("tracer: error: cannot attach profile:hz:1000000000: "
                                  "Invalid argument\nhint: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_dry_run_leaves_the_mounts_as_they_were():
    # In a mount namespace of its own without tracefs: the dry run expands and attaches the
    # tracepoint through a private mount, and the namespace still has no tracefs after it.
    python = f"{sys.executable} -m tracer"
    script = ("umount /sys/kernel/debug/tracing /sys/kernel/debug /sys/kernel/tracing "
              "2>/dev/null; grep -c -E ' (tracefs|debugfs) ' /proc/mounts; "
              f"{python} --dry-run -e '{GETPPID} {{ @ = count(); }}' && echo dry-run-ok; "
              "grep -c -E ' (tracefs|debugfs) ' /proc/mounts; true")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           script], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.stdout == "0\ndry-run-ok\n0\n", proc.stderr


# ---------------------------------------------------------------------------------------------
# Every way a run ends detaches everything


ENDINGS = ["exit()", "SIGINT", "SIGTERM", "SIGHUP", "the -c command ends", "the -p process ends"]


@pytest.mark.parametrize("ending", ENDINGS)
def test_every_way_a_run_ends_leaves_nothing_loaded(live, workload, ending):
    before = leaks.Snapshot(os.environ[leaks.RUN_MARK])
    paused = [workload("tk_paused"), "3", "1000"]  # waits for a byte on stdin, then 3 calls
    if ending == "the -c command ends":
        # The command reads tracer's stdin, so the test releases it through tracer's.
        target, args = None, ["-c", " ".join(paused)]
        who = "cpid"
    else:
        target = live(paused, stdin=subprocess.PIPE)
        args = ["-p", str(target.proc.pid)] if ending == "the -p process ends" else []
        who = str(target.proc.pid)
    program = (f'BEGIN {{ printf("ready\\n"); }} {GETPPID} /pid == {who}/ {{ @ = count(); }}'
               " interval:ms:50 { @ticks = count(); }")
    if ending == "exit()":
        program += f" tracepoint:syscalls:sys_exit_getppid /pid == {who}/ {{ exit(); }}"
    tr = live([sys.executable, "-m", "tracer", *args, "-e", program], stdin=subprocess.PIPE)
    tr.wait_for_stdout("ready\n", 60)
    assert len(_programs_held_by(tr.proc.pid)) >= 3, "tracer's programs are not seen loaded"
    release = target.proc.stdin if target is not None else tr.proc.stdin
    release.write(b"x")
    release.close()
    if ending.startswith("SIG"):
        if target is not None:
            assert target.proc.wait(timeout=30) == 0
        tr.proc.send_signal(getattr(signal, ending))
    proc = tr.finish(30)
    assert proc.returncode == 0, proc.stderr
    assert "\n\n@" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    assert before.leaks() == []


# ---------------------------------------------------------------------------------------------
# Before tracing starts, and when tracer is killed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_stop_signal_while_compiling_abandons_the_run_cleanly(live, workload, sig):
    tr = live.tracer("--no-cache", "-c", workload("tk_forever"), "-e",
                     GETPPID + " /pid == cpid/ { @ = count(); }")
    found: dict[int, str] = {}
    assert _wait_until(lambda: found.update(_children(tr.proc.pid)) or any(
        "compile_worker" in c for c in found.values()), 30), "no compiler was started"
    command = next(pid for pid, cmdline in found.items() if "compile_worker" not in cmdline)
    tr.proc.send_signal(sig)
    proc = tr.finish(30)
    # Abandoned as Ctrl-C abandons it then, with the status of death by that signal; the
    # compiler and the -c command (which had not started) are gone.
    assert (proc.returncode, proc.stdout, proc.stderr) == (128 + sig, "", "")
    assert _children(tr.proc.pid) == {}
    assert _wait_until(lambda: not _running(command), 5)


def test_sigkill_of_tracer_kills_the_c_command(live, workload):
    forever = workload("tk_forever")
    tr = live.tracer("-c", forever, "-e",
                     'BEGIN { printf("child %d\\n", cpid); } ' + GETPPID +
                     " /pid == cpid/ { @ = count(); }")
    tr.wait_for_stdout("\n", 60)
    child = int(tr.out.decode().split()[1])

    def running_the_command() -> bool:
        try:
            with open(f"/proc/{child}/comm") as f:
                return f.read().strip() == os.path.basename(forever)
        except OSError:
            return False
    assert _wait_until(running_the_command, 10), "the -c command did not start"
    os.kill(tr.proc.pid, signal.SIGKILL)  # tracer alone, not its process group
    tr.proc.wait(timeout=10)
    try:
        assert _wait_until(lambda: not _running(child), 1.0), \
            f"the -c command {child} still runs after tracer was killed"
    finally:  # nothing else would end it: its parent, and `live`'s, is gone
        if _running(child):
            os.kill(child, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# tracer doctor


ROW = re.compile(r"^(?P<name>\S.*?)  +(?P<state>ok|missing)  +(?P<why>\S.*)$")


def _doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracer", "doctor", *args], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_doctor_reports_this_machine():
    proc = _doctor()
    assert proc.returncode == 0, proc.stdout + proc.stderr  # tracepoints work on this machine
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"tracer 0.1.0 on Linux {os.uname().release} ")
    assert lines[-1] == "tracer can trace tracepoints here"
    matches = [ROW.match(line) for line in lines[1:-1]]
    assert all(matches), "a line is not `name  ok|missing  why`"
    assert len({m.start("state") for m in matches}) == 1, "the states are not aligned"
    rows = {m["name"]: m for m in matches}
    for name in ("root", "bpf() syscall", "tracefs", "ring buffer", "kernel headers", "BCC",
                 "libbpf", "BEGIN:", "tracepoint:"):
        assert rows[name]["state"] == "ok", rows[name].string
    if pmu.pmu_type("kprobe") is None:  # this project's VMs: kprobes are compiled out
        assert rows["kprobe:"]["state"] == "missing"
        assert "CONFIG_KPROBES" in rows["kprobe:"]["why"] and "hint: " in rows["kprobe:"]["why"]


def test_doctor_takes_less_than_a_second():
    # Timed inside one process, so that Python's own start-up does not count.
    code = ("import time; t = time.monotonic(); from tracer import doctor; doctor.rows(); "
            "print(time.monotonic() - t)")
    took = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=60).stdout)
    assert took < 1.0


def test_doctor_json_agrees_with_the_text():
    text, proc = _doctor().stdout, _doctor("--json")
    report = json.loads(proc.stdout)
    assert report["ready"] is True and proc.returncode == 0
    assert [(f["name"], "ok" if f["ok"] else "missing") for f in report["features"]] == \
        [(m["name"], m["state"]) for m in map(ROW.match, text.splitlines()[1:-1])]


def test_a_file_named_doctor_runs_as_dot_slash_doctor(tmp_path):
    (tmp_path / "doctor").write_text('BEGIN { printf("a script\\n"); exit(); }\n')
    run = [sys.executable, "-m", "tracer"]
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    script = subprocess.run([*run, "./doctor"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert (script.returncode, script.stdout) == (0, "a script\n\n\n"), script.stderr
    report = subprocess.run([*run, "doctor"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert report.stdout.startswith("tracer "), report.stderr
