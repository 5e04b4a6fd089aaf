"""usdt probes on the real kernel, on tk_usdt (tests/workloads.py), whose probes fire a known
number of times with known arguments: registers of every width, constants, stack memory, a
string pointer, and a probe that fires only while its semaphore is set, which proves tracer
had the kernel set it. PIE, non-PIE and semaphore-less builds; -c and -p."""

from __future__ import annotations

import subprocess

import pytest
from workloads import WORKLOAD_SOURCES

from tracer.host import pmu
from tracer.symbols.usdt import read_usdt_probes
from outcomes import expect_output as _ok

pytestmark = pytest.mark.kernel

N = 7
BUILDS = {"pie": [], "nopie": ["-no-pie"], "plain": ["-DTK_NO_SEMAPHORES"]}


@pytest.fixture(scope="module")
def usdt_bin(build_workload):
    def get(kind: str = "pie") -> str:
        name = "tk_usdt" if kind == "pie" else f"tk_usdt_{kind}"
        return build_workload(name, WORKLOAD_SOURCES["tk_usdt"], BUILDS[kind])
    return get


def _totals(n: int) -> list[tuple[int, int]]:
    return [(i, i * (i + 1) // 2) for i in range(n)]


@pytest.mark.parametrize("kind", list(BUILDS))
def test_loop_fires_n_times_with_exact_arguments(run_tracer, usdt_bin, kind):
    path = usdt_bin(kind)
    proc = run_tracer("-c", f"{path} {N}", "-e",
                      f'usdt:{path}:loop {{ printf("%d %d\\n", arg0, arg1); @n = count();'
                      f" @last = arg1; }}")
    lines = "".join(f"{i} {total}\n" for i, total in _totals(N))
    _ok(proc, f"{lines}\n\n@last: {_totals(N)[-1][1]}\n@n: {N}\n")


@pytest.mark.parametrize("kind", list(BUILDS))
def test_every_argument_form(run_tracer, usdt_bin, kind):
    path = usdt_bin(kind)
    prog = (f'usdt:{path}:negative {{ printf("negative %d\\n", arg0); @neg = arg0; }}'
            f' usdt:{path}:tk:words {{ printf("words %s %d\\n", str(arg0), arg1); }}'
            f' usdt:{path}:widths {{ printf("widths %ld %ld %ld %ld\\n", arg0, arg1, arg2,'
            f" arg3); }}"
            f' usdt:{path}:stacked {{ printf("stacked %d %d\\n", arg0, arg1); }}'
            f' usdt:{path}:constant {{ printf("constant %d %d\\n", arg0, arg1); }}')
    proc = run_tracer("-c", f"{path} {N}", "-e", prog)
    # argN is an int64, as in bpftrace 0.26: -N is -N in a map too.
    _ok(proc, f"negative {-N}\nwords usdt-hello {N}\n"
              f"widths {-N} {65000 + N} {4000000000 + N} {-N * 10**12}\n"
              f"stacked {3 * N} {5 * N}\nconstant 5 -3\n\n\n@neg: {-N}\n")


def test_a_probe_at_two_sites_reads_each_sites_arguments(run_tracer, usdt_bin):
    path = usdt_bin()
    proc = run_tracer("-c", f"{path} {N}", "-e",
                      f'usdt:{path}:twice {{ printf("%d\\n", arg0); }}')
    _ok(proc, f"{N + 100}\n{N + 200}\n\n\n")


@pytest.mark.skipif(pmu.format_bits("uprobe", "ref_ctr_offset") is None,
                    reason="this kernel's uprobes take no ref_ctr_offset")
@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_the_semaphore_is_set_while_attached(run_tracer, usdt_bin, kind):
    path = usdt_bin(kind)
    proc = run_tracer("-c", f"{path} {N}", "-e", f"usdt:{path}:guarded {{ @ = sum(arg0); }}")
    _ok(proc, f"\n\n@: {7 * N}\n")


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_without_the_semaphore_the_guarded_site_is_skipped(run_tracer, usdt_bin, kind):
    # The control for the test above: plain uprobes on the sites' nops set no semaphore, so
    # the workload skips the guarded probe and its count stays 0, while the loop's site,
    # found the same way, counts every pass. (The kernel refuses a uprobe and a usdt probe at
    # one site when only one of them names the semaphore, so the two cannot share a run.)
    path = usdt_bin(kind)
    sites = {p.name: p.pc for p in read_usdt_probes(path)}
    proc = run_tracer("-c", f"{path} {N}", "-e",
                      f"uprobe:{path}:{sites['guarded']:#x} {{ @guarded = count(); }}"
                      f" uprobe:{path}:{sites['loop']:#x} {{ @loop = count(); }}")
    _ok(proc, f"\n\n@guarded: 0\n@loop: {N}\n")


def test_plain_build_fires_the_guarded_probe_always(run_tracer, usdt_bin):
    path = usdt_bin("plain")
    proc = run_tracer("-c", f"{path} {N}", "-e", f"usdt:{path}:guarded {{ @ = sum(arg0); }}")
    _ok(proc, f"\n\n@: {7 * N}\n")


def test_wildcards_and_probe_names(run_tracer, usdt_bin):
    path = usdt_bin()
    proc = run_tracer("-c", f"{path} {N}", "-e",
                      f"usdt:{path}:tk:* {{ @[probe] = count(); }}"
                      f" U:{path}:*o* {{ @o[probe] = sum(arg0 > 0 ? 1 : 2); }}")
    names = ["constant", "guarded", "negative", "stacked", "widths", "words"]
    once = "".join(f"@[usdt:{path}:tk:{name}]: 1\n" for name in names)
    # tk:twice fires at each of its two sites.
    once += f"@[usdt:{path}:tk:twice]: 2\n"
    # arg0 of tk:constant is 5 (1), of tk:words a pointer (1); tk:loop's is 0 once, then > 0.
    _ok(proc, f"\n\n{once}@[usdt:{path}:tk:loop]: {N}\n"
              f"@o[usdt:{path}:tk:constant]: 1\n@o[usdt:{path}:tk:words]: 1\n"
              f"@o[usdt:{path}:tk:loop]: {N + 1}\n")


def test_with_p_every_mapped_file_and_the_semaphore(live, usdt_bin):
    # tk_usdt N wait: waits for a byte on stdin before firing anything; usdt:*:loop and
    # usdt:guarded (no file at all) look in every file the process maps.
    path = usdt_bin()
    wl = live([path, str(N), "wait"], stdin=subprocess.PIPE)
    tr = live.tracer("-p", wl.proc.pid, "-e",
                     'BEGIN { printf("ready\\n"); } usdt:*:loop { @loop = count(); }'
                     " usdt:guarded { @guarded = sum(arg0); }")
    tr.wait_for_stdout("ready\n", 60)
    wl.proc.stdin.write(b"x")
    wl.proc.stdin.close()
    assert wl.proc.wait(timeout=30) == 0
    _ok(tr.finish(15), f"ready\n\n\n@guarded: {7 * N}\n@loop: {N}\n")
