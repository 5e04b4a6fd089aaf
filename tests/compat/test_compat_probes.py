"""Differential tests of the probe types beyond tracepoints: the same program under bpftrace
0.17 and tracer, on a workload whose calls are known (tests/workloads.py), must print the same
bytes. ``{bin}`` in a program is the workload's path. Keyed maps hold distinct values, since
bpftrace prints ties in hash order.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.compat

# 0.17 puts a space after a histogram's heading; 0.26, which tracer follows, does not.
HIST_HEADINGS = [("@h: \n", "@h:\n"), ("@l: \n", "@l:\n")]

# (id, program, workload and its arguments[, 0.17 -> 0.26 rewrites of bpftrace's output])
PROGRAMS = [
    ("uprobe_counts", "uprobe:{bin}:tk_add { @add = count(); } uprobe:{bin}:tk_square"
                      " { @sq = count(); @sq2 = count(); }", ("tk_funcs", "9")),
    ("uprobe_args", "uprobe:{bin}:tk_add { @[arg0] = sum(arg0 * 10); }", ("tk_funcs", "5")),
    ("uprobe_wildcard_probe_names", "uprobe:{bin}:tk_s* { @[probe] = sum(1); }"
                                    " uprobe:{bin}:tk_a* { @[probe] = sum(2); @x = count(); }",
     ("tk_funcs", "3")),
    ("uretprobe_sum_and_hist", "uretprobe:{bin}:tk_square { @s = sum(retval); @h = hist(retval);"
                               " @l = lhist(retval, 0, 50, 10); }", ("tk_funcs", "8"),
     HIST_HEADINGS),
    ("uretprobe_printf", 'uretprobe:{bin}:tk_add { printf("%d -> %d\\n", @n++, retval); }',
     ("tk_funcs", "4")),
    ("watchpoint_writes", "watchpoint:0x10000000:8:w { @ = count(); }", ("tk_watch", "42")),
    ("uprobe_library_by_name", "uprobe:libc:getppid { @ = count(); }", ("tk_loop", "123")),
]


@pytest.mark.parametrize("program, command, rewrites",
                         [pytest.param(p, c, r[0] if r else [], id=i) for i, p, c, *r in PROGRAMS])
def test_same_stdout_as_bpftrace(same_as_bpftrace, workload, program, command, rewrites):
    name, *args = command
    path = workload(name)
    same_as_bpftrace("-c", " ".join([path, *args]), "-e", program.replace("{bin}", path),
                     rewrites=rewrites)
