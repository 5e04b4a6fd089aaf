"""The harness's own logic, without booting anything: which kernel it picks, how the guest's
reports become host outcomes, and that its time limits kill what they start."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import vmharness
from vmharness import GuestKernel, GuestRun, merge_records, verdict

ID = "tests/guest/test_x.py::test_a"


def _report(when: str, outcome: str, nodeid: str = ID, **extra) -> dict:
    return {"event": "report", "nodeid": nodeid, "when": when, "outcome": outcome,
            "duration": 1.0, **extra}


def _run(tmp_path: Path, records=(), problem=None, **kw) -> GuestRun:
    run = GuestRun(kernel=GuestKernel("6.1.0-9-amd64", "/boot/vmlinuz-6.1.0-9-amd64"),
                   outdir=tmp_path, nodeids=[ID], host_release="6.18.0", **kw)
    run.results, run.running, run.collect_errors = merge_records(records)
    run.problem = problem
    return run


# ---------------------------------------------------------------------------------------------
# Reports -> outcomes


def test_a_test_passes_only_when_every_phase_passed_and_it_finished(tmp_path):
    records = [{"event": "start", "nodeid": ID}, _report("setup", "passed"),
               _report("call", "passed"), _report("teardown", "passed")]
    run = _run(tmp_path, records)
    assert run.results[ID].outcome == "passed" and run.results[ID].duration == 3.0
    assert run.running is None
    assert verdict(ID, run, required=True) == ("pass", "")


def test_a_failed_teardown_fails_the_test_with_its_text_and_output(tmp_path):
    records = [_report("setup", "passed"), _report("call", "passed"),
               _report("teardown", "failed", text="boom", sections=[["Captured stdout", "out"]])]
    kind, message = verdict(ID, _run(tmp_path, records), required=False)
    assert kind == "fail" and "boom" in message and "--- Captured stdout ---\nout" in message


@pytest.mark.parametrize("required, kind", [(True, "fail"), (False, "skip")])
def test_a_guest_skip_fails_only_where_skipping_is_not_allowed(tmp_path, required, kind):
    records = [_report("setup", "skipped", text="Skipped: no kprobes"),
               _report("teardown", "passed")]
    got, message = verdict(ID, _run(tmp_path, records), required=required)
    assert got == kind and "no kprobes" in message and "Skipped: " not in message


def test_the_test_running_when_the_guest_was_stopped_fails_with_the_console(tmp_path):
    (tmp_path / "console.log").write_text("[ 1.0] \x1b[1mlast words\r\n")
    records = [{"event": "start", "nodeid": ID}, _report("setup", "passed")]
    run = _run(tmp_path, records, problem="killed")
    assert run.running == ID and not run.results[ID].finished
    kind, message = verdict(ID, run, required=False)
    assert kind == "fail" and "was running" in message and "[ 1.0] last words" in message


def test_tests_after_a_stopped_one_and_tests_never_run_fail(tmp_path):
    assert verdict("other", _run(tmp_path, [], problem="no boot"), required=False)[0] == "fail"
    # No problem at all, yet no report: the guest did not have the test the host collected.
    kind, message = verdict(ID, _run(tmp_path, []), required=False)
    assert kind == "fail" and "never finished" in message


def test_a_line_cut_short_by_a_kill_is_dropped(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(_report("setup", "passed")) + "\n" + '{"event": "rep')
    assert vmharness.read_records(path) == [_report("setup", "passed")]


def test_collected_ids_are_read_from_pytest_output():
    out = ("tests/guest/test_a.py::test_x\ntests/guest/test_a.py::test_y[1 2]\n\n"
           "2 tests collected in 0.01s\n")
    assert vmharness.parse_collected_ids(out) == ["tests/guest/test_a.py::test_x",
                                                  "tests/guest/test_a.py::test_y[1 2]"]


# ---------------------------------------------------------------------------------------------
# Which kernel


def _kernel(boot: Path, modules: Path, release: str, kprobes: bool = True,
            layout: str = "debian") -> None:
    (boot / f"vmlinuz-{release}").write_bytes(b"kernel")
    (boot / f"config-{release}").write_text("CONFIG_KPROBES=y\n" if kprobes
                                            else "# CONFIG_KPROBES is not set\n")
    kdir = modules / release
    if layout == "debian":  # build/ generated files only, the rest in source/
        (kdir / "build").mkdir(parents=True)
        (kdir / "source/include/linux").mkdir(parents=True)
        (kdir / "source/include/linux/kconfig.h").write_text("")
    elif layout == "build":
        (kdir / "build/include/linux").mkdir(parents=True)
        (kdir / "build/include/linux/kconfig.h").write_text("")


def test_the_newest_usable_kernel_other_than_the_running_one_is_chosen(tmp_path, monkeypatch):
    monkeypatch.delenv("TRACER_VM_KERNEL", raising=False)
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    _kernel(boot, modules, "6.1.0-9-amd64")
    _kernel(boot, modules, "6.1.0-10-amd64", layout="build")  # 10 > 9, compared as numbers
    _kernel(boot, modules, "6.1.0-11-amd64", kprobes=False)
    _kernel(boot, modules, "6.1.0-12-amd64", layout="none")
    _kernel(boot, modules, "6.18.0")  # the running kernel
    kernel, why = vmharness.find_guest_kernel("6.18.0", str(boot), str(modules))
    assert kernel == GuestKernel("6.1.0-10-amd64", str(boot / "vmlinuz-6.1.0-10-amd64")), why


def test_no_usable_kernel_says_why_for_each(tmp_path, monkeypatch):
    monkeypatch.delenv("TRACER_VM_KERNEL", raising=False)
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    _kernel(boot, modules, "6.1.0-11-amd64", kprobes=False)
    _kernel(boot, modules, "6.18.0")
    kernel, why = vmharness.find_guest_kernel("6.18.0", str(boot), str(modules))
    assert kernel is None
    assert "no CONFIG_KPROBES=y" in why and "is the running kernel" in why


def test_a_kernel_named_in_the_environment_is_the_only_candidate(tmp_path, monkeypatch):
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    _kernel(boot, modules, "6.1.0-9-amd64")
    _kernel(boot, modules, "6.1.0-10-amd64")
    monkeypatch.setenv("TRACER_VM_KERNEL", str(boot / "vmlinuz-6.1.0-9-amd64"))
    kernel, _ = vmharness.find_guest_kernel("6.18.0", str(boot), str(modules))
    assert kernel is not None and kernel.release == "6.1.0-9-amd64"


def test_guest_tmpfs_paths_are_not_shared_directories():
    assert vmharness.guest_visible_dir(Path("/tmp/pytest-of-root/x"))
    assert not vmharness.guest_visible_dir(Path("/var/tmp/x"))
    assert not vmharness.guest_visible_dir(Path("/run/x"))


# ---------------------------------------------------------------------------------------------
# Time limits, with a stand-in for vng


class _FakeGuest(GuestRun):
    """Runs a shell script instead of vng; OUT is the output directory."""

    script = ""

    def command(self) -> list[str]:
        return ["sh", "-c", self.script.replace("OUT", str(self.outdir))]


def _fake(tmp_path: Path, script: str, **limits) -> _FakeGuest:
    run = _FakeGuest(kernel=GuestKernel("6.1.0-9-amd64", "/nonexistent"), outdir=tmp_path,
                     nodeids=[ID], host_release="6.18.0", **limits)
    run.script = script
    return run


def _gone(pid_file: Path, within: float = 2.0) -> bool:
    """Whether the process is dead (a zombie counts) within ``within`` seconds: a SIGKILL
    takes effect when the process next runs, which on a loaded machine is not at once."""
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_a_guest_that_never_boots_is_killed_with_what_it_printed(tmp_path):
    run = _fake(tmp_path, "echo early console line; sleep 60 & echo $! > OUT/child; wait",
                boot_timeout=1.0)
    started = time.monotonic()
    run.run()
    assert time.monotonic() - started < 15
    assert not run.booted and "did not boot" in run.problem
    assert "early console line" in run.console_tail()
    assert _gone(tmp_path / "child"), "the guest's process group outlived the time limit"


def test_a_guest_whose_tests_stop_progressing_is_killed(tmp_path):
    line = json.dumps({"event": "start", "nodeid": ID})
    run = _fake(tmp_path, f"echo 6.1.0-9-amd64 1.5 > OUT/booted; echo '{line}' >> "
                          "OUT/results.jsonl; sleep 60", stall_timeout=1.0)
    run.run()
    assert run.booted and run.guest_uptime_at_start == 1.5
    assert "no guest test made progress" in run.problem and run.running == ID


def test_a_guest_run_over_its_total_time_is_killed(tmp_path):
    # Progress keeps coming, so only the total limit can stop it.
    run = _fake(tmp_path, "echo r 1 > OUT/booted; while :; do echo x >> OUT/results.jsonl; "
                          "sleep 0.1; done", stall_timeout=30, run_timeout=1.5)
    run.run()
    assert "did not finish within 2 s" in run.problem


def test_a_guest_that_ends_without_its_exit_status_is_a_problem(tmp_path):
    run = _fake(tmp_path, "echo r 1 > OUT/booted; exit 3")
    run.run()
    assert run.vng_exit == 3 and "stopped before its tests finished" in run.problem


def test_a_complete_guest_run_has_no_problem(tmp_path):
    records = "\n".join(json.dumps(r) for r in [{"event": "start", "nodeid": ID},
                                                _report("setup", "passed"),
                                                _report("call", "passed"),
                                                _report("teardown", "passed")])
    (tmp_path / "in.jsonl").write_text(records + "\n")
    run = _fake(tmp_path, "echo r 1 > OUT/booted; cp OUT/in.jsonl OUT/results.jsonl; "
                          "echo 0 > OUT/exit")
    run.run()
    assert run.problem is None and run.pytest_exit == 0
    assert verdict(ID, run, required=True) == ("pass", "")
