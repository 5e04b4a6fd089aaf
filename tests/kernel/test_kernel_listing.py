"""`tracer -l` and `-lv` on the real kernel: what it lists is what tracefs holds, what it lists
can be attached to, and listing leaves no mount behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel

MAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tracer(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=MAIN, stdin=subprocess.DEVNULL)


def tracefs_dir() -> str:
    # Mounted as a run mounts it: the test must not depend on an earlier test having done so.
    from tracer.runtime import kernel
    return kernel.tracefs_path(lambda message: None)


def test_every_tracepoint_of_tracefs_once_in_order():
    events = open(os.path.join(tracefs_dir(), "available_events")).read().split()
    proc = tracer("-l", "tracepoint:*")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "".join(f"tracepoint:{e}\n" for e in sorted(set(events)))


def test_one_tracepoint_and_a_pattern_without_its_type():
    assert tracer("-l", "tracepoint:syscalls:sys_enter_getppid").stdout == \
        "tracepoint:syscalls:sys_enter_getppid\n"
    assert tracer("-l", "sys_enter_getpp*").stdout == "tracepoint:syscalls:sys_enter_getppid\n"
    assert tracer("-l", "t:*:sys_enter_getppid").stdout == \
        "tracepoint:syscalls:sys_enter_getppid\n"


def test_verbose_shows_the_fields_of_the_format_file():
    root = tracefs_dir()
    with open(os.path.join(root, "events", "sched", "sched_switch", "format")) as f:
        own = f.read().split("\n\n", 1)[1]
    fields = [line.split(":", 1)[1].split(";")[0] for line in own.splitlines()
              if line.startswith("\tfield:")]
    assert "pid_t prev_pid" in fields  # the format as this test expects it
    proc = tracer("-lv", "tracepoint:sched:sched_switch")
    assert proc.stdout == "tracepoint:sched:sched_switch\n" + "".join(
        f"    {f}\n" for f in fields)


def test_everything_lists_the_kernel_types_in_name_order():
    proc = tracer("-l")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    kinds = [line.split(":", 1)[0] for line in lines]
    assert kinds == sorted(kinds)  # hardware, kprobe, rawtracepoint, software, tracepoint
    assert {"hardware", "software", "tracepoint"} <= set(kinds)
    assert not {"interval", "profile", "kretprobe", "uretprobe", "BEGIN"} & set(kinds)
    assert "tracepoint:syscalls:sys_enter_getppid" in lines


def test_what_is_listed_can_be_attached():
    listed = tracer("-l", "tracepoint:syscalls:sys_enter_getpp*").stdout.split()
    assert listed == ["tracepoint:syscalls:sys_enter_getppid"]
    software = tracer("-l", "software:cpu-clock").stdout.split()
    assert software == ["software:cpu-clock:"]
    proc = tracer("-e", f"{listed[0]}, {software[0]} {{ @ = 1; }} BEGIN {{ exit(); }}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("Attached 3 probes\n"), proc.stderr


def test_listing_mounts_nothing_on_the_machine():
    """In a mount namespace without tracefs, -l reads a private mount of its own and the
    namespace it ran in has no tracefs afterwards."""
    # util-linux is essential on Debian and Ubuntu: a missing unshare is a broken machine.
    assert shutil.which("unshare"), "unshare (util-linux) is not installed"
    script = ("for m in /sys/kernel/debug/tracing /sys/kernel/tracing; do "
              "umount $m 2>/dev/null; done; "
              "grep -c ' tracefs ' /proc/mounts; "
              f"{sys.executable} -m tracer -l 'tracepoint:syscalls:sys_enter_getppid'; "
              "echo status=$?; grep -c ' tracefs ' /proc/mounts")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60, cwd=MAIN)
    assert proc.stdout == "0\ntracepoint:syscalls:sys_enter_getppid\nstatus=0\n0\n", \
        proc.stderr


def test_lv_lists_the_same_tracepoints_as_l():
    plain = tracer("-l", "tracepoint:*").stdout.splitlines()
    verbose = tracer("-lv", "tracepoint:*").stdout.splitlines()
    assert [line for line in verbose if not line.startswith("    ")] == plain
    assert len(verbose) > 2 * len(plain)  # most events have fields of their own
