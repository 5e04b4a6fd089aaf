"""The second kernel itself: the guest runs the kernel the harness meant, that kernel attaches
kprobes (what it is booted for), and tracer runs there for real, with an exact answer."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.kernel

TRACEFS = "/sys/kernel/tracing"


def test_this_is_the_second_kernel(guest_facts):
    release = os.uname().release
    assert release == guest_facts.expected_release
    assert release != guest_facts.host_release
    # The feature it is booted for, and the headers BCC compiles against here.
    assert os.path.isdir("/sys/bus/event_source/devices/kprobe")
    kdir = f"/lib/modules/{release}"
    assert os.path.isdir(f"{kdir}/build")
    assert any(os.path.isfile(f"{kdir}/{d}/include/linux/kconfig.h") for d in ("source", "build"))


def _tracefs(name: str, text: str, append: bool = False) -> None:
    # os.open, not open(): Python's append mode seeks to the end, which tracefs refuses; and
    # kprobe_events is appended to, since truncating it would remove every kprobe there is.
    flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(os.path.join(TRACEFS, name), flags)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def test_a_kprobe_fires_here(workload):
    # A kprobe through tracefs alone, without BPF or tracer: proves the kernel attaches kprobes,
    # whatever state tracer's own kprobe support is in.
    if not os.path.exists(os.path.join(TRACEFS, "kprobe_events")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
    loop = workload("tk_loop")
    group, event = "tracer_guest", "getppid"
    _tracefs("kprobe_events", f"p:{group}/{event} __x64_sys_getppid\n", append=True)
    try:
        _tracefs("trace", "")  # empty the trace buffer
        _tracefs(f"events/{group}/{event}/enable", "1")
        child = subprocess.run([loop, "7"], check=True)
        _tracefs(f"events/{group}/{event}/enable", "0")
        with open(os.path.join(TRACEFS, "trace")) as f:
            # e.g. "tk_loop-123  [001] d....  12.34: getppid: (__x64_sys_getppid+0x0/0x20)"
            hits = [line for line in f if f" {event}: " in line and "tk_loop-" in line]
        assert len(hits) == 7, f"{child}: {hits}"
    finally:
        _tracefs(f"events/{group}/{event}/enable", "0")
        _tracefs("kprobe_events", f"-:{group}/{event}\n", append=True)


def test_tracer_counts_a_child_exactly(run_tracer, workload):
    # The guest's first tracer run: imports, a BCC compile and the attach, all emulated. The
    # host's summary of the guest run shows how long it took (the workload is already built).
    proc = run_tracer("-c", f"{workload('tk_loop')} 1000", "-e",
                      "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (proc.returncode, proc.stdout) == (0, "\n\n@: 1000\n"), proc.stderr
