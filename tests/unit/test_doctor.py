"""`tracer doctor` and the kernel facts it reports (tracer.host.features), from files and
answers made up here: no BPF needed."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from tracer import doctor
from tracer.doctor import Row
from tracer.host import bpfprobe, features, pmu
from tracer.host.features import Support

MAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def fresh_answers():
    """Every answer is cached for the life of a process; each test starts from none."""
    def clear():
        for name in dir(features):
            cached = getattr(getattr(features, name), "cache_clear", None)
            if cached:
                cached()
        pmu.pmu_type.cache_clear()
    clear()
    yield
    clear()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- features --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ok, says", [
    ("0\n", False, "interpreter"), ("1\n", True, "on"), ("2\n", True, "debugging")])
def test_jit_states(tmp_path, monkeypatch, text, ok, says):
    monkeypatch.setattr(features, "JIT_SYSCTL", write(tmp_path, "jit", text))
    answer = features.jit()
    assert answer.ok is ok and says in answer.why
    assert bool(answer.remedy) is not ok


def test_jit_sysctl_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "JIT_SYSCTL", str(tmp_path / "none"))
    answer = features.jit()
    assert not answer.ok and "CONFIG_BPF_JIT" in answer.remedy


def test_capabilities_from_cap_eff(tmp_path, monkeypatch):
    # CAP_SYS_ADMIN (21) and CAP_BPF (39), nothing else.
    mask = (1 << 21) | (1 << 39)
    monkeypatch.setattr(features, "PROC_STATUS",
                        write(tmp_path, "status", f"Name:\tx\nCapEff:\t{mask:016x}\n"))
    assert features.capabilities() == {21, 39}


def test_root_without_bpf_capabilities_is_a_container_gap(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "PROC_STATUS",
                        write(tmp_path, "status", "CapEff:\t00000000a80425fb\n"))  # Docker's
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(features, "namespace_inode", lambda kind: None)
    answer = features.privileges()
    assert not answer.ok
    assert "CAP_BPF" in answer.why and "--privileged" in answer.remedy


def test_not_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    answer = features.privileges()
    assert not answer.ok and "uid 1000" in answer.why and "sudo" in answer.remedy


def test_rootless_container(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(features, "namespace_inode",
                        lambda kind: 4026532000 if kind == "user" else None)
    answer = features.privileges()
    assert not answer.ok and "user namespace" in answer.why


def test_pid_namespace_of_a_container(monkeypatch):
    monkeypatch.setattr(features, "namespace_inode", lambda kind: 4026532001)
    answer = features.host_pid_namespace()
    assert not answer.ok and "--pid=host" in answer.remedy
    features.host_pid_namespace.cache_clear()
    monkeypatch.setattr(features, "namespace_inode", lambda kind: features.INIT_PID_NS)
    assert features.host_pid_namespace().ok


@pytest.mark.parametrize("text, ok", [
    ("[none] integrity confidentiality\n", True),
    ("none [integrity] confidentiality\n", True),
    ("none integrity [confidentiality]\n", False)])
def test_lockdown_modes(tmp_path, monkeypatch, text, ok):
    monkeypatch.setattr(features, "LOCKDOWN", write(tmp_path, "lockdown", text))
    assert features.lockdown().ok is ok


@pytest.mark.parametrize("err, says", [(errno.EPERM, "CAP_BPF"),
                                       (errno.ENOSYS, "CONFIG_BPF_SYSCALL"),
                                       (errno.EINVAL, "Invalid argument")])
def test_bpf_syscall_errors(monkeypatch, err, says):
    monkeypatch.setattr(bpfprobe, "create_map", lambda *a: bpfprobe.Answer(err))
    answer = features.bpf_syscall()
    assert not answer.ok and says in answer.why and answer.remedy


def test_without_bpf_the_probes_that_need_it_cannot_tell(monkeypatch):
    monkeypatch.setattr(bpfprobe, "create_map", lambda *a: bpfprobe.Answer(errno.EPERM))
    monkeypatch.setattr(bpfprobe, "load_program", lambda *a, **k: pytest.fail("loaded"))
    for answer in (features.ring_buffer(), features.bpf_loop(), features.test_run(),
                   features.raw_tracepoints(), features.fentry()):
        assert not answer.ok and "bpf() syscall" in answer.why


@pytest.mark.parametrize("log, ok", [
    ("0: (85) call unknown#181\ninvalid func unknown#181\n", False),  # the helper is unknown
    ("0: (85) call bpf_loop#181\nR2 !read_ok\n", True)])  # known: only its arguments are wrong
def test_bpf_loop_told_from_the_verifier_log(monkeypatch, log, ok):
    monkeypatch.setattr(features, "bpf_syscall", lambda: Support(True))
    monkeypatch.setattr(bpfprobe, "load_program",
                        lambda *a, **k: bpfprobe.Answer(errno.EINVAL, log))
    assert features.bpf_loop().ok is ok


def test_kprobes_from_the_pmu(monkeypatch):
    monkeypatch.setattr(pmu, "pmu_type", lambda name: None)
    answer = features.kprobes()
    assert not answer.ok and "CONFIG_KPROBES" in answer.why and "tracepoint:" in answer.remedy
    features.kprobes.cache_clear()
    monkeypatch.setattr(pmu, "pmu_type", lambda name: 6)
    assert features.kprobes().ok


def test_tracefs_unmounted_and_not_mountable(tmp_path, monkeypatch):
    monkeypatch.setattr(features.tracefs_files, "mounted", lambda: None)
    monkeypatch.setattr(features, "capabilities", lambda: set())  # no CAP_SYS_ADMIN
    monkeypatch.setattr(features, "FILESYSTEMS", write(tmp_path, "fs", "nodev\ttracefs\n"))
    monkeypatch.setattr(features.tracefs_files, "TRACING", str(tmp_path))
    answer = features.tracefs()
    assert not answer.ok and "CAP_SYS_ADMIN" in answer.why and "mount -t tracefs" in answer.remedy


def test_tracefs_unmounted_but_mountable_is_fine(tmp_path, monkeypatch):
    monkeypatch.setattr(features.tracefs_files, "mounted", lambda: None)
    monkeypatch.setattr(features, "capabilities", lambda: {features.CAP_SYS_ADMIN})
    monkeypatch.setattr(features, "namespace_inode", lambda kind: None)
    monkeypatch.setattr(features, "FILESYSTEMS", write(tmp_path, "fs", "nodev\ttracefs\n"))
    monkeypatch.setattr(features.tracefs_files, "TRACING", str(tmp_path))
    answer = features.tracefs()
    assert answer.ok and "a run mounts it" in answer.why


# -- the report ------------------------------------------------------------------------------

ROWS = [Row("root", Support(True, "root"), True),
        Row("BPF JIT", Support(False, "the JIT is off", "sysctl it"), False),
        Row("tracepoint:", Support(True, "fine"), True)]


def test_text_lines_are_aligned_with_reason_and_remedy():
    lines = doctor.render_text(ROWS).splitlines()
    assert lines[1:4] == ["root         ok       root",
                          "BPF JIT      missing  the JIT is off; hint: sysctl it",
                          "tracepoint:  ok       fine"]
    assert lines[4] == "tracer can trace tracepoints here"
    assert doctor.ready(ROWS)


def test_a_needed_gap_is_named_and_not_ready():
    rows = ROWS + [Row("tracefs", Support(False, "not mounted", "mount it"), True)]
    assert not doctor.ready(rows)
    assert doctor.render_text(rows).splitlines()[-1] == \
        "tracer cannot trace tracepoints here: fix tracefs first"


def test_json_report():
    report = json.loads(doctor.render_json(ROWS))
    assert report["ready"] is True
    assert report["features"][1] == {"name": "BPF JIT", "ok": False, "needed": False,
                                     "why": "the JIT is off", "remedy": "sysctl it"}


def test_a_probe_type_names_the_missing_feature_it_needs(monkeypatch):
    def gone():
        return Support(False, "gone", "mount it")
    monkeypatch.setitem(doctor.PROBE_NEEDS, "tracepoint", (gone,))
    monkeypatch.setattr(doctor, "FEATURE_NAMES", {gone: "tracefs"})
    assert doctor.probe_type("tracepoint", object()) == \
        Support(False, "needs tracefs, which is missing")


def test_a_probe_type_without_a_provider_is_a_gap_of_this_install(monkeypatch):
    monkeypatch.setitem(doctor.PROBE_NEEDS, "usdt", (lambda: Support(True, "uprobes work"),))
    answer = doctor.probe_type("usdt", None)
    assert not answer.ok and "no usdt provider" in answer.why


def test_a_providers_refusal_is_reported(monkeypatch):
    from tracer.providers.base import Unsupported

    class Refuses:
        name = "hardware"

        def unsupported(self, target):
            return Unsupported("no counters", "use software:")

    monkeypatch.setitem(doctor.PROBE_NEEDS, "hardware", ())
    assert doctor.probe_type("hardware", Refuses()) == Support(False, "no counters",
                                                               "use software:")


def test_doctor_help_is_its_own():
    proc = subprocess.run([sys.executable, "-m", "tracer", "doctor", "--help"],
                          capture_output=True, text=True, timeout=60, cwd=MAIN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: tracer doctor [OPTIONS]")
    assert "--json" in proc.stdout


def test_main_help_names_dry_run_and_doctor():
    proc = subprocess.run([sys.executable, "-m", "tracer", "--help"], capture_output=True,
                          text=True, timeout=60, cwd=MAIN)
    assert proc.returncode == 0, proc.stderr
    assert "--dry-run" in proc.stdout and "tracer doctor" in proc.stdout
