"""Shared test fixtures.

Tests marked ``kernel`` load BPF programs on the running kernel; tests marked ``compat`` also run
the reference bpftrace. On a machine that cannot do that they are skipped with the reason, except
where TRACER_REQUIRE_KERNEL=1 or CI=true: there the machine is supposed to be able to, so a skip
would only hide a broken setup and becomes a failure.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import platform
import shutil
import signal
import subprocess
import sys
from typing import Optional, Sequence

import pytest

import leaks
from workloads import WORKLOAD_SOURCES

leaks.mark_this_run()

# bpf(2) syscall numbers; ctypes has no wrapper for it.
_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280,
                "ppc64le": 361, "s390x": 351, "i686": 357, "armv7l": 386}


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def kernel_required() -> bool:
    return _env_true("TRACER_REQUIRE_KERNEL") or _env_true("CI")


@functools.lru_cache(maxsize=None)
def _bpf_syscall_problem() -> Optional[str]:
    """None if bpf(BPF_MAP_CREATE) works, else why not."""
    nr = _BPF_SYSCALL.get(platform.machine())
    if nr is None:
        return None  # unknown architecture: do not guess, let the tests find out
    # union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries (u32 each).
    attr = (ctypes.c_uint32 * 32)(2, 4, 8, 1)  # BPF_MAP_TYPE_ARRAY, 4-byte key, 8-byte value
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(nr), ctypes.c_int(0), ctypes.byref(attr),
                      ctypes.c_uint(ctypes.sizeof(attr)))
    if fd < 0:
        return f"the bpf() syscall does not work here: {os.strerror(ctypes.get_errno())}"
    os.close(fd)
    return None


@functools.lru_cache(maxsize=None)
def machine_problem(marker: str) -> Optional[str]:
    """Why tests with this marker cannot run on this machine, or None if they can."""
    if os.geteuid() != 0:
        return "needs root to load BPF programs"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "the kernel has no BTF (/sys/kernel/btf/vmlinux is missing)"
    problem = _bpf_syscall_problem()
    if problem:
        return problem
    if marker == "compat" and shutil.which("bpftrace") is None:
        return "bpftrace (the reference implementation) is not on PATH; scripts/setup installs it"
    return None


@pytest.fixture(autouse=True)
def _require_machine(request: pytest.FixtureRequest) -> None:
    for marker in ("kernel", "compat"):
        if request.node.get_closest_marker(marker) is None:
            continue
        problem = machine_problem(marker)
        if problem is None:
            continue
        reason = f"{marker} test: {problem}"
        if kernel_required():
            pytest.fail(f"{reason} (TRACER_REQUIRE_KERNEL=1 or CI=true: skipping is not allowed)",
                        pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _nothing_left_in_the_kernel(request: pytest.FixtureRequest):
    """A test that runs BPF programs (tracer's or bpftrace's) must leave none loaded, and no
    kprobe or uprobe entry in tracefs: the leaks module says how other processes' are told
    apart. Torn down after the test's own fixtures, so processes they kill count as ended."""
    marked = [m for m in ("kernel", "compat") if request.node.get_closest_marker(m)]
    if not marked or any(machine_problem(m) for m in marked):
        yield
        return
    before = leaks.Snapshot(os.environ[leaks.RUN_MARK])
    yield
    left = before.leaks()
    if left:
        pytest.fail("left behind in the kernel after the test:\n  " + "\n  ".join(left),
                    pytrace=False)


# ---------------------------------------------------------------------------------------------
# Test workloads


@pytest.fixture(scope="session")
def build_workload(tmp_path_factory: pytest.TempPathFactory):
    """``build(name, c_source, flags=()) -> path``: compile a C program once per session."""
    built: dict[str, tuple[str, tuple[str, ...], str]] = {}
    workdir = tmp_path_factory.mktemp("workloads")

    def build(name: str, c_source: str, flags: Sequence[str] = ()) -> str:
        flags = tuple(flags)
        if name in built:
            source, old_flags, path = built[name]
            if (source, old_flags) != (c_source, flags):
                pytest.fail(f"workload {name!r} was built twice with different sources or flags")
            return path
        gcc = shutil.which("gcc")
        if gcc is None:
            pytest.fail("gcc is not installed (it builds the test workloads); run scripts/setup",
                        pytrace=False)
        src = workdir / f"{name}.c"
        src.write_text(c_source)
        path = str(workdir / name)
        proc = subprocess.run([gcc, "-O1", *flags, "-o", path, str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"gcc failed to build workload {name!r}:\n{proc.stderr}", pytrace=False)
        built[name] = (c_source, flags, path)
        return path

    return build


@pytest.fixture(scope="session")
def workload(build_workload):
    """``workload(name) -> path`` of one of WORKLOAD_SOURCES, compiled once per session."""

    def get(name: str) -> str:
        return build_workload(name, WORKLOAD_SOURCES[name])

    return get


# ---------------------------------------------------------------------------------------------
# Running tracer and bpftrace


def _run(argv: list[str], timeout: float, input: Optional[str],
         cwd: Optional[str]) -> subprocess.CompletedProcess:
    # A session of its own, so a timeout kills whatever the tool started (e.g. a -c command).
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    if timed_out:
        pytest.fail(f"{' '.join(argv)} did not finish within {timeout}s\n"
                    f"--- stdout ---\n{out}\n--- stderr ---\n{err}", pytrace=False)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.fixture
def run_tracer():
    """``run(*args, timeout=60, input=None, cwd=None)``: ``python -m tracer ARGS``, captured."""

    def run(*args, timeout: float = 60, input: Optional[str] = None,
            cwd: Optional[str] = None) -> subprocess.CompletedProcess:
        return _run([sys.executable, "-m", "tracer", *map(str, args)], timeout, input, cwd)

    return run


def rewrite_to_026(stdout: str, rewrites) -> str:
    """bpftrace 0.17's stdout with the named differences from 0.26 (which tracer follows)
    rewritten: each (old, new) pair must occur, so a rewrite that no longer applies fails."""
    for old, new in rewrites:
        assert old in stdout, f"0.17's output no longer has {old!r}: {stdout!r}"
        stdout = stdout.replace(old, new)
    return stdout


@pytest.fixture
def as_026():
    """``as_026(stdout, [(old, new), ...])``: see ``rewrite_to_026``."""
    return rewrite_to_026


@pytest.fixture
def same_as_bpftrace(run_bpftrace, run_tracer, as_026):
    """``check(*args, rewrites=[])``: bpftrace and tracer run with the same arguments; tracer
    must exit as bpftrace did (which must accept the program) and print the same stdout, with
    0.17's named differences from 0.26 rewritten (``rewrite_to_026``)."""

    def check(*args, rewrites=()) -> None:
        want = run_bpftrace(*args)
        assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
        got = run_tracer(*args)
        assert "Traceback" not in got.stderr, got.stderr
        assert (got.returncode, got.stdout) == (want.returncode,
                                                as_026(want.stdout, rewrites)), got.stderr

    return check


@pytest.fixture
def run_bpftrace():
    """``run(*args, timeout=60, input=None, cwd=None)``: the reference ``bpftrace ARGS``."""

    def run(*args, timeout: float = 60, input: Optional[str] = None,
            cwd: Optional[str] = None) -> subprocess.CompletedProcess:
        exe = shutil.which("bpftrace")
        if exe is None:
            pytest.fail("bpftrace is not on PATH; scripts/setup installs it", pytrace=False)
        proc = _run([exe, *map(str, args)], timeout, input, cwd)
        # 0.17 says "Attaching N probes..." on stdout; 0.26, which tracer follows, says
        # "Attached N probes" on stderr. Everything after it is compared.
        proc.stdout = re.sub(r"\AAttaching \d+ probes?\.\.\.\n", "", proc.stdout)
        return proc

    return run
