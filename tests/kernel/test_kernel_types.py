"""Kernel and user structs read on the real kernel, against values known from user space.

``curtask``'s members must be what the workload itself sees (its pid, its parent's pid, its
name); the struct timespec a process hands to nanosleep must read back through the
tracepoint's pointer argument; a struct the script defines, with bitfields, a char array, an
anonymous union and a pointer to another struct, must read back in a uprobe exactly as the
workload filled it.
"""

from __future__ import annotations

import re

import pytest
from workloads import TK_STRUCT_TYPES
from outcomes import stdout_of as _ok

pytestmark = pytest.mark.kernel


def test_curtask_members_are_what_the_process_sees(run_tracer, workload):
    prog = ("tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { "
            "@[curtask->tgid, curtask->pid == tid, curtask->tgid == pid, "
            "curtask->real_parent->tgid, curtask->comm, curtask->comm == comm, ppid, "
            "curtask.real_parent.pid] = count(); }")
    out = _ok(run_tracer("-c", f"{workload('tk_ids')} 40", "-e", prog))
    # 41 calls: the workload's own getppid() for its report, then 40.
    found = re.fullmatch(r"ids (\d+) (\d+)\n\n*@\[(.*)\]: 41\n", out)
    assert found, out
    pid, ppid, key = found.groups()
    assert key == f"{pid}, true, true, {ppid}, tk_ids, true, {ppid}, {ppid}"


def test_a_struct_read_through_a_tracepoint_pointer(run_tracer, workload):
    prog = ("tracepoint:syscalls:sys_enter_nanosleep /pid == cpid/ { "
            "@[args.rqtp->tv_sec, args.rqtp->tv_nsec] = count(); print(*args.rqtp); }")
    out = _ok(run_tracer("-c", f"{workload('tk_sleep')} 3 1234567", "-e", prog))
    assert out == "{ .tv_sec = 0, .tv_nsec = 1234567 }\n" * 3 + "\n\n@[0, 1234567]: 3\n"


def test_a_struct_the_script_defines_read_in_user_memory(run_tracer, workload):
    path = workload("tk_struct")
    prog = TK_STRUCT_TYPES + (
        f"uprobe:{path}:tk_take {{ $s = (struct tk_bits *)arg0; $copy = *$s; "
        'printf("%d %d %d %s %d %d %d %d %d\\n", $s->low, $s->delta, $s->wide, $s->name, '
        "$s->inner->weight, $s->inner->tag, $s->as_int, $s->halves[1], "
        "$copy.inner.weight); }")
    out = _ok(run_tracer("-c", f"{path} 12", "-e", prog))
    # $copy is the struct copied into the program: its pointer still points into the
    # process's memory, and is read from there.
    want = "".join(f"{i & 7} {-i} {100 + i} n{i} {1000 + i} 7 {0x04030201} {0x0403} "
                   f"{1000 + i}\n" for i in range(12))
    assert out == want + "\n\n"


def test_sizeof_offsetof_and_enum_constants_of_kernel_and_script_types(run_tracer):
    prog = TK_STRUCT_TYPES + (
        'BEGIN { printf("%d %d %d %d %d %d\\n", sizeof(struct tk_bits), '
        "offsetof(struct tk_bits, inner), offsetof(struct tk_inner, tag), "
        "sizeof(struct tk_inner), PIDTYPE_SID, sizeof(curtask->comm)); exit(); }")
    # As gcc lays the workload's structs out on x86_64 and arm64; the kernel's enum pid_type
    # (from BTF) and TASK_COMM_LEN, as include/linux/pid_types.h and sched.h have them.
    assert _ok(run_tracer("-e", prog)) == "32 16 8 16 3 16\n\n\n"


def test_a_kernel_struct_member_this_kernel_lacks_is_a_located_error(run_tracer):
    proc = run_tracer("-d", "-e", "BEGIN { @ = curtask->pidd; }")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "struct task_struct has no field named 'pidd'" in proc.stderr
    assert "pid" in proc.stderr.split("has no field named")[1]
    assert "stdin:1:" in proc.stderr and "~~~~~~~~~~~~~" in proc.stderr
