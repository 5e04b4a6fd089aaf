"""The leak check every kernel test runs under (tests/leaks.py): it must see what this test
run leaves behind, and must not blame it for another process's programs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import leaks

pytestmark = pytest.mark.kernel

# A raw-tracepoint program that returns 0, loaded through libbpf and kept open.
LOAD = """
import ctypes
lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
lib.bpf_prog_load.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                              ctypes.c_size_t, ctypes.c_void_p]
def load():
    code = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
    fd = lib.bpf_prog_load(17, b"leak_check", b"GPL", code, 2, None)
    assert fd >= 0, ctypes.get_errno()
    return fd
"""


def _load_here() -> int:
    scope: dict = {}
    exec(LOAD, scope)
    return scope["load"]()


def test_a_program_this_run_holds_is_reported_until_it_is_closed():
    before = leaks.Snapshot(os.environ[leaks.RUN_MARK])
    fd = _load_here()
    try:
        left = before.leaks()
        assert len(left) == 1 and "(leak_check), held by " + str(os.getpid()) in left[0], left
    finally:
        os.close(fd)
    assert before.leaks() == []  # freed within the grace period


def test_another_process_program_is_not_this_runs(tmp_path):
    before = leaks.Snapshot(os.environ[leaks.RUN_MARK])
    env = {k: v for k, v in os.environ.items() if k != leaks.RUN_MARK}
    holder = subprocess.Popen(
        [sys.executable, "-c", LOAD + textwrap.dedent("""
            import sys
            fd = load()
            print("loaded", flush=True)
            sys.stdin.read()
        """)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "loaded\n"
        start = time.monotonic()
        assert before.leaks() == []
        assert time.monotonic() - start < leaks.GRACE_SECONDS  # not even waited for
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_a_probe_entry_left_in_tracefs_is_reported():
    tracing = next((d for d in leaks.TRACEFS_DIRS
                    if os.path.isfile(os.path.join(d, "uprobe_events"))), None)
    if tracing is None:
        pytest.fail("tracefs is not mounted (the kernel tests before this one mount it)")
    before = leaks.Snapshot(os.environ[leaks.RUN_MARK])
    # Named after this process, so that another run's leak check knows it is not its own.
    name = f"tracer_leak_check_{os.getpid()}"
    events = os.path.join(tracing, "uprobe_events")
    _append(events, f"p:uprobes/{name} {os.path.realpath(sys.executable)}:0x0\n")
    try:
        left = before.leaks()
        assert len(left) == 1 and name in left[0], left
    finally:
        _append(events, f"-:uprobes/{name}\n")
    assert before.leaks() == []


def _append(path: str, line: str) -> None:
    # Not open(path, "a"): Python seeks to the end of a file opened so, which tracefs refuses.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@pytest.mark.parametrize("entry, pid", [
    ("p:uprobes/p__usr_bin_true_0x1f00_bcc_4242 /usr/bin/true:0x0000000000001f00", 4242),
    ("r:kprobes/r_vfs_read_bcc_17 vfs_read", 17),
    ("p:uprobes/tracer_probe /bin/true:0x10", None)])
def test_probe_entry_owner(entry, pid):
    assert leaks.entry_owner(entry) == pid
