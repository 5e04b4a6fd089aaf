"""Differential tests of kernel and script types: the same program under bpftrace 0.17 and
tracer, reading structs through curtask, a tracepoint's pointer argument and a uprobe's
argument cast to a struct the script defines, must print the same bytes (text and JSON); and
both must list kernel types alike.
"""

from __future__ import annotations

import json

import pytest
from workloads import TK_STRUCT_TYPES

pytestmark = pytest.mark.compat


# (id, program, workload and its arguments)
PROGRAMS = [
    ("tracepoint_struct_pointer",
     "tracepoint:syscalls:sys_enter_nanosleep /pid == cpid/ { print(*args->rqtp); "
     "@[args->rqtp->tv_nsec, curtask->comm] = count(); @t = *args->rqtp; }",
     ("tk_sleep", "3", "2000")),
    ("curtask_nested_members",
     "tracepoint:syscalls:sys_enter_nanosleep /pid == cpid/ { print(curtask->se.load); "
     "@[curtask->pid - tid, curtask->tgid - pid] = count(); "
     "@w = curtask->se.load.weight; }", ("tk_sleep", "2", "1000")),
    ("script_struct_in_a_uprobe",
     TK_STRUCT_TYPES + "uprobe:{bin}:tk_take { $s = (struct tk_bits *)arg0; "
     'printf("%d %d %s %d %d\\n", $s->low, $s->wide, $s->name, '
     "$s->inner->weight, $s->inner->tag); @[$s->name] = sum($s->wide); "
     "@sz = sizeof(struct tk_bits); }", ("tk_struct", "6")),
    ("char_array_member_as_string",
     "tracepoint:syscalls:sys_enter_nanosleep /pid == cpid/ { "
     'printf("%s\\n", curtask->comm); @[curtask->comm] = count(); }', ("tk_sleep", "2", "1000")),
]


@pytest.mark.parametrize("program, command",
                         [pytest.param(p, c, id=i) for i, p, c in PROGRAMS])
def test_same_stdout_as_bpftrace(same_as_bpftrace, workload, program, command):
    name, *args = command
    path = workload(name)
    same_as_bpftrace("-c", " ".join([path, *args]), "-e", program.replace("{bin}", path))


@pytest.mark.parametrize("program, command",
                         [pytest.param(p, c, id=i) for i, p, c in PROGRAMS])
def test_same_json_values_as_bpftrace(run_bpftrace, run_tracer, workload, program, command):
    """The same values in JSON. (0.17 pads a struct's braces, `{ "tv_sec": 0 }`; 0.26, which
    tracer follows, writes it as a record, `{"tv_sec": 0}`: the values are compared.)"""
    name, *args = command
    path = workload(name)
    argv = ("-f", "json", "-c", " ".join([path, *args]), "-e", program.replace("{bin}", path))
    want, got = run_bpftrace(*argv), run_tracer(*argv)
    assert want.returncode == 0, want.stderr
    assert "Traceback" not in got.stderr and got.returncode == 0, got.stderr
    assert _json_events(got.stdout) == _json_events(want.stdout)


def _json_events(stdout: str) -> list:
    events = [json.loads(line, object_pairs_hook=list) for line in stdout.splitlines() if line]
    return [e for e in events if dict(e)["type"] != "attached_probes"]


@pytest.mark.parametrize("listing", [
    ("-lv", "struct timespec64"), ("-lv", "enum pid_type"), ("-lv", "struct callback_head"),
    ("-lv", "struct task_struct"), ("-lv", "struct sched_avg"), ("-l", "struct timespec6*"),
    ("-lv", "union sigval"), ("-lv", "struct no_such_struct_here"),
])
def test_type_listings_are_bpftrace_s(same_as_bpftrace, listing):
    same_as_bpftrace(*listing)
