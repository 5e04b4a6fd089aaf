"""`-l` and `-lv` under bpftrace 0.17 and under tracer: stdout compared byte for byte.

Where bpftrace 0.26 lists differently from 0.17, tracer lists as 0.26 does, and 0.17's output is
rewritten to 0.26's first (``as_026``: a rewrite that stops applying fails the test):

* ``software:*`` and ``hardware:*``: 0.17 prints the pattern back (``software:*:``); 0.26
  lists every event, under its name and its short name, each with an empty count
  (``software:cpu-clock:``, ``software:cpu:``).
* A pattern without a type (``sys_enter_open*``): 0.17 also prints it back as a software and
  a hardware event (``software:sys_enter_open*:``); 0.26 prints only what exists.

stderr is not compared: 0.17 warns there that it cannot read available_filter_functions.
Kernel functions are not compared either: where that file cannot be read (as on the project's
machines), 0.17 lists no kprobes at all, and tracer lists the text symbols of /proc/kallsyms.
The uprobes compared are bash's, which has no separate debug file: bpftrace also lists the
functions of a library's debug file (libc6-dbg's), which tracer's uprobes do not attach to.
"""

from __future__ import annotations

import os
import sys

import pytest

pytestmark = pytest.mark.compat

SOFTWARE_026 = "".join(f"software:{e}:\n" for e in (
    "alignment-faults", "bpf-output", "context-switches", "cpu-clock", "cpu-migrations", "cpu",
    "cs", "dummy", "emulation-faults", "faults", "major-faults", "minor-faults", "page-faults",
    "task-clock"))
HARDWARE_026 = "".join(f"hardware:{e}:\n" for e in (
    "backend-stalls", "branch-instructions", "branch-misses", "branches", "bus-cycles",
    "cache-misses", "cache-references", "cpu-cycles", "cycles", "frontend-stalls",
    "instructions", "ref-cycles"))

# (id, tracer's and bpftrace's arguments, rewrites of 0.17's stdout into 0.26's)
LISTINGS = [
    ("syscall_tracepoints", ("-l", "tracepoint:syscalls:sys_enter_get*"), []),
    ("short_type", ("-l", "t:syscalls:sys_enter_getp*"), []),
    ("wildcard_category", ("-l", "tracepoint:*:sys_enter_getppid"), []),
    ("every_tracepoint", ("-l", "tracepoint:*"), []),
    ("fields_of_a_syscall", ("-lv", "tracepoint:syscalls:sys_enter_openat"), []),
    ("fields_apart", ("-l", "-v", "tracepoint:syscalls:sys_enter_openat"), []),
    ("fields_of_sched", ("-lv", "tracepoint:sched:*"), []),  # char arrays, __data_loc
    ("fields_of_many", ("-lv", "tracepoint:syscalls:sys_*_get*"), []),
    ("nothing_matches", ("-l", "tracepoint:nothing*:*"), []),
    ("uprobe_functions", ("-l", "uprobe:/bin/bash:read*"), []),
    ("uprobe_program_on_path", ("-l", "uprobe:bash:readl*"), []),  # shown as /usr/bin/bash
    ("uprobe_file_wildcard", ("-l", "uprobe:/usr/bin/*sh:readline"), []),
    ("uretprobe", ("-l", "uretprobe:/bin/bash:readline"), []),
    ("any_type_of_a_file", ("-l", "*:/bin/bash:readline"), []),
    ("software", ("-l", "software:*"), [("software:*:\n", SOFTWARE_026)]),
    ("software_short_type", ("-l", "s:*"), [("software:*:\n", SOFTWARE_026)]),
    ("hardware", ("-l", "hardware:*"), [("hardware:*:\n", HARDWARE_026)]),
    ("no_type", ("-l", "sys_enter_open*"), [("hardware:sys_enter_open*:\n", ""),
                                            ("software:sys_enter_open*:\n", "")]),
]


@pytest.mark.parametrize("name, args, rewrites", LISTINGS, ids=[x[0] for x in LISTINGS])
def test_same_listing_as_bpftrace(run_bpftrace, run_tracer, as_026, name, args, rewrites):
    want = run_bpftrace(*args)
    assert want.returncode == 0, f"bpftrace refused {args}:\n{want.stderr}"
    got = run_tracer(*args)
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (0, as_026(want.stdout, rewrites)), got.stderr


def test_the_tracepoints_of_everything(run_bpftrace, run_tracer):
    """`-l` alone: the types differ (0.17 lists iter:, which tracer lacks, and no kprobes
    where available_filter_functions cannot be read), but the tracepoints are the same."""
    def tracepoints(stdout):
        return [line for line in stdout.splitlines() if line.startswith("tracepoint:")]

    want = run_bpftrace("-l")
    got = run_tracer("-l")
    assert got.returncode == 0 == want.returncode, got.stderr
    assert tracepoints(got.stdout) == tracepoints(want.stdout)
    assert len(tracepoints(got.stdout)) > 100



@pytest.mark.parametrize("pattern", ["usdt:{python}:*", "U:{python}:function__*",
                                     "usdt:{python}:python:gc*", "*:{python}:python:gc*"])
def test_usdt_probes_of_a_program(run_bpftrace, run_tracer, pattern):
    """On the Python interpreter running the tests (Debian's declares USDT probes)."""
    python = os.path.realpath(sys.executable)
    # Debian's and Ubuntu's interpreters are built with USDT probes.
    assert run_bpftrace("-l", f"usdt:{python}:*").stdout, f"{python} declares no USDT probes"
    args = ("-l", pattern.format(python=python))
    want = run_bpftrace(*args)
    got = run_tracer(*args)
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr
