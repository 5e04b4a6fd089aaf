"""usdt probes under bpftrace 0.17 and tracer: the same program on tk_usdt (tests/workloads.py)
must print the same bytes. ``{bin}`` in a program is the workload's path.

One difference is rewritten (``as_026``): 0.17 types argN as a uint64, so a negative argument
stored in a map prints as a huge number; 0.26, which tracer follows, reads usdt arguments as
int64 (libbpf's ``bpf_usdt_arg`` returns a ``long``). printf's ``%d`` prints both alike.
"""

from __future__ import annotations

import pytest
from workloads import WORKLOAD_SOURCES

pytestmark = pytest.mark.compat

N = 5
BUILDS = {"pie": [], "nopie": ["-no-pie"], "plain": ["-DTK_NO_SEMAPHORES"]}

# (id, program, build[, 0.17 -> 0.26 rewrites of bpftrace's output])
PROGRAMS = [
    ("loop_args", 'usdt:{bin}:loop { printf("%d %d\\n", arg0, arg1); @n = count();'
                  " @s = sum(arg1); }", "pie"),
    ("loop_args_nopie", 'usdt:{bin}:tk:loop { printf("%d %d\\n", arg0, arg1); }', "nopie"),
    ("probe_builtin_in_firing_order", 'usdt:{bin}:* { printf("%s\\n", probe); }', "pie"),
    ("provider_wildcard", 'U:{bin}:t*:*s { printf("%s %d\\n", probe, arg1); }', "pie"),
    ("register_widths",
     'usdt:{bin}:widths { printf("%ld %ld %ld %ld\\n", arg0, arg1, arg2, arg3); }', "pie"),
    ("negative_in_a_map", 'usdt:{bin}:negative { printf("%d\\n", arg0); @neg = arg0; }', "pie",
     [(f"@neg: {2**64 - N}\n", f"@neg: {-N}\n")]),
    ("string_argument", 'usdt:{bin}:words { printf("%s %d\\n", str(arg0), arg1); }', "pie"),
    ("memory_and_constants",
     'usdt:{bin}:stacked, usdt:{bin}:constant { printf("%d %d\\n", arg0, arg1); }', "nopie"),
    ("one_probe_at_two_sites", 'usdt:{bin}:twice { printf("%d\\n", arg0); @ = sum(arg0); }',
     "pie"),
    ("semaphore_pie", "usdt:{bin}:guarded { @ = sum(arg0); }", "pie"),
    ("semaphore_nopie", "usdt:{bin}:guarded { @ = sum(arg0); }", "nopie"),
    ("no_semaphores", "usdt:{bin}:guarded { @ = sum(arg0); }", "plain"),
]


@pytest.fixture(scope="module")
def usdt_bin(build_workload):
    def get(kind: str) -> str:
        name = "tk_usdt" if kind == "pie" else f"tk_usdt_{kind}"
        return build_workload(name, WORKLOAD_SOURCES["tk_usdt"], BUILDS[kind])
    return get


@pytest.mark.parametrize("program, build, rewrites",
                         [pytest.param(p, b, r[0] if r else [], id=i)
                          for i, p, b, *r in PROGRAMS])
def test_same_stdout_as_bpftrace(same_as_bpftrace, usdt_bin, program, build, rewrites):
    path = usdt_bin(build)
    same_as_bpftrace("-c", f"{path} {N}", "-e", program.replace("{bin}", path),
                     rewrites=rewrites)


@pytest.mark.parametrize("pattern", ["usdt:{bin}:*", "usdt:{bin}:*o*", "U:{bin}:tk:loop"])
def test_same_listing_as_bpftrace(run_bpftrace, run_tracer, usdt_bin, pattern):
    pattern = pattern.replace("{bin}", usdt_bin("pie"))
    want = run_bpftrace("-l", pattern)
    assert want.returncode == 0 and want.stdout, want.stderr
    got = run_tracer("-l", pattern)
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr
