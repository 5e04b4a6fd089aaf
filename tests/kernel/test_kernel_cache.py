"""The compiled-program cache on the real kernel: a run from the cache prints exactly what a run
that compiled printed, and a cache that cannot be trusted, or was turned off, is not used.

Every test has a cache directory of its own (TRACER_CACHE_DIR), so that what it finds there is
what it put there. The merged kernel-headers tree, which takes seconds to build, is shared with
the machine's cache through a symlink: the key does not depend on where that tree lives.
"""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.kernel

MACHINE_HEADERS = "/var/cache/tracer/kernel-headers"
GETPPID = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/"
HIT = "loaded the compiled program from the cache"
# A printf and a count whose answers are known: the -c child calls getppid N times. `pid == cpid`
# in the output proves that the child's pid, which differs between runs, is patched into a
# cached program too.
COUNTING = GETPPID + ' { @calls = count(); printf("call %d\\n", pid == cpid); }'
# Loops become bpf_loop callbacks: separate functions, linked at load time.
LOOPING = (GETPPID + " { for ($i : 0..3) { @n[$i] += 1; } $total = 0; "
           "for ($kv : @n) { $total += $kv.1; } @total = $total; }")


def counting_output(calls: int) -> str:
    return "call 1\n" * calls + f"\n\n@calls: {calls}\n"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> str:
    """A fresh, private TRACER_CACHE_DIR for this test, sharing the machine's headers tree."""
    root = tmp_path / "tracer-cache"
    root.mkdir()
    os.chmod(root, 0o700)
    if os.path.isdir(MACHINE_HEADERS):
        os.symlink(MACHINE_HEADERS, root / "kernel-headers")
    monkeypatch.setenv("TRACER_CACHE_DIR", str(root))
    monkeypatch.delenv("TRACER_NO_CACHE", raising=False)
    return str(root)


def entries(cache_dir: str) -> dict[str, bytes]:
    """The cache's entries: file name -> contents."""
    programs = os.path.join(cache_dir, "programs")
    if not os.path.isdir(programs):
        return {}
    found = {}
    for name in sorted(os.listdir(programs)):
        with open(os.path.join(programs, name), "rb") as f:
            found[name] = f.read()
    return found


def assert_ran(proc: subprocess.CompletedProcess, stdout: str) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (proc.returncode, proc.stdout) == (0, stdout), proc.stderr


def test_a_second_run_is_loaded_from_the_cache_and_prints_the_same(run_tracer, workload,
                                                                   cache_dir):
    command = f"{workload('tk_loop')} 1000"
    miss = run_tracer("-v", "-c", command, "-e", COUNTING)
    assert_ran(miss, counting_output(1000))
    assert HIT not in miss.stderr
    # The shared headers tree was found through the symlink, not built again in this directory.
    assert "merged into" not in miss.stderr, miss.stderr
    stored = entries(cache_dir)
    assert len(stored) == 1 and all(name.endswith(".img") for name in stored)

    hit = run_tracer("-v", "-c", command, "-e", COUNTING)
    assert_ran(hit, miss.stdout)
    assert f"tracer: {HIT}\n" in hit.stderr
    assert entries(cache_dir) == stored  # nothing new written, nothing rewritten


def test_only_what_the_kernel_runs_is_cached(run_tracer, workload, cache_dir):
    command = f"{workload('tk_loop')} 3"
    assert_ran(run_tracer("-c", command, "-e", COUNTING), counting_output(3))
    # A printf's format is used in user space: the compiled program is the same one, and the
    # run from the cache prints with the new format.
    reworded = run_tracer("-v", "-c", command, "-e", COUNTING.replace('"call', '"other call'))
    assert_ran(reworded, counting_output(3).replace("call 1", "other call 1"))
    assert HIT in reworded.stderr
    assert len(entries(cache_dir)) == 1
    # Another value computed in the kernel is another program.
    other = run_tracer("-v", "-c", command, "-e", COUNTING.replace("pid == cpid)", "pid != cpid)"))
    assert_ran(other, counting_output(3).replace("call 1", "call 0"))
    assert HIT not in other.stderr
    assert len(entries(cache_dir)) == 2


@pytest.mark.parametrize("how", ["--no-cache", "TRACER_NO_CACHE=1"])
def test_the_cache_can_be_turned_off(run_tracer, workload, cache_dir, monkeypatch, how):
    command = f"{workload('tk_loop')} 5"
    assert_ran(run_tracer("-c", command, "-e", COUNTING), counting_output(5))
    stored = entries(cache_dir)
    os.remove(os.path.join(cache_dir, "programs", *stored))  # a miss from here on

    args = ["-v", "-c", command, "-e", COUNTING]
    if how.startswith("--"):
        args.insert(0, how)
    else:
        monkeypatch.setenv(*how.split("="))
    for _ in range(2):  # neither written by the first run nor read by the second
        off = run_tracer(*args)
        assert_ran(off, counting_output(5))
        assert HIT not in off.stderr
        assert entries(cache_dir) == {}


def test_a_corrupted_entry_is_compiled_again_and_replaced(run_tracer, workload, cache_dir):
    command = f"{workload('tk_loop')} 20"
    assert_ran(run_tracer("-c", command, "-e", COUNTING), counting_output(20))
    ((name, good),) = entries(cache_dir).items()
    damaged = bytearray(good)
    damaged[-4] ^= 0xFF  # inside the last function's instructions
    path = os.path.join(cache_dir, "programs", name)
    with open(path, "wb") as f:
        f.write(damaged)

    again = run_tracer("-v", "-c", command, "-e", COUNTING)
    assert_ran(again, counting_output(20))
    assert HIT not in again.stderr
    assert f"ignoring the cached program {path}" in again.stderr, again.stderr
    ((new_name, replaced),) = entries(cache_dir).items()
    # Compiling the same C again gives the same instructions: the entry is as it was.
    assert new_name == name and replaced == good

    # What replaced it is a good entry: the next run loads it.
    third = run_tracer("-v", "-c", command, "-e", COUNTING)
    assert_ran(third, counting_output(20))
    assert HIT in third.stderr


def test_a_cache_directory_others_may_write_is_not_used(run_tracer, workload, cache_dir):
    os.chmod(cache_dir, 0o777)
    command = f"{workload('tk_loop')} 7"
    for _ in range(2):
        proc = run_tracer("-v", "-c", command, "-e", COUNTING)
        assert_ran(proc, counting_output(7))
        assert HIT not in proc.stderr
        assert f"no compiled-program cache: {cache_dir} may be written by others" in proc.stderr
        assert entries(cache_dir) == {}


def test_a_program_with_loop_callbacks_runs_the_same_from_the_cache(run_tracer, workload,
                                                                    cache_dir):
    command = f"{workload('tk_loop')} 5"
    # Each of the 5 calls counts keys 0, 1 and 2 once; the last call sums 5 + 5 + 5.
    expected = "\n\n@n[0]: 5\n@n[1]: 5\n@n[2]: 5\n@total: 15\n"
    miss = run_tracer("-v", "-c", command, "-e", LOOPING)
    assert_ran(miss, expected)
    assert HIT not in miss.stderr
    hit = run_tracer("-v", "-c", command, "-e", LOOPING)
    assert_ran(hit, expected)
    assert HIT in hit.stderr
    assert len(entries(cache_dir)) == 1
