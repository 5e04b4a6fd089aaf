"""Differential tests against real system calls: the language inside tracepoint probes.

Each program traces a child started with -c: a tiny C workload (from tests/workloads.py,
built by the ``workload`` fixture) whose system calls are known exactly. Predicates keep to
``pid == cpid`` and to arguments the workload chose, so the dynamic loader's own openat/close
calls and anything else on the machine stay out. bpftrace exits when the child does, printing
its maps; stdout and the exit status must be the same as the reference bpftrace's, byte for
byte. Nothing prints pid or cpid, which differ between runs. The rules of
test_compat_language.py hold here too (no maps holding comparisons, no ties in keyed maps ...).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.compat

GETPPID = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/"
KILL = "tracepoint:syscalls:sys_enter_kill /pid == cpid/"
# Only the fds the workload was given (> 999 as an unsigned int, so -1 is in); not the loader's.
CLOSE = "tracepoint:syscalls:sys_enter_close /pid == cpid && args->fd > 999/"
# Only the files under /dev/ the workload opens; not the loader's ld.so.cache and libc.
OPENAT = ('tracepoint:syscalls:sys_enter_openat'
          ' /pid == cpid && strncmp(str(args->filename), "/dev/", 5) == 0/')
OPEN_ARGS = ("/dev/null", "/dev/tk-missing", "/dev/zero", "/dev/tk-missing", "/dev/zero",
             "/dev/tk-missing")


def bug(reason: str):
    """Mark a program whose output differs from bpftrace's through a tracer bug."""
    return pytest.mark.xfail(strict=True, reason=f"tracer bug: {reason}")


# (id, program, workload and its arguments, positional parameters[, marks])
PROGRAMS = [
    ("count_calls", GETPPID + " { @ = count(); }", ("tk_loop", "7"), ()),
    ("count_keyed_by_comm", GETPPID + " { @calls[comm] = count(); @total++; }",
     ("tk_loop", "5"), ()),
    ("comm_predicates",
     'tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm == "tk_loop"/ { @eq = count(); }'
     ' tracepoint:syscalls:sys_enter_getppid /pid == cpid && comm != "tk_loop"/ { @ne = count(); }'
     ' tracepoint:syscalls:sys_enter_getppid /pid == cpid && strncmp(comm, "tk_lo", 5) == 0/'
     " { @prefix = count(); }", ("tk_loop", "4"), ()),
    ("if_else_in_probe",
     GETPPID + " { @n++; if (@n % 3 == 0) { @three++; } else if (@n % 2 == 0) { @even++; }"
     " else { @other++; } }", ("tk_loop", "10"), ()),
    ("while_in_probe",
     GETPPID + " { $i = 0; while ($i < 4) { @w[$i] += $i + 1; if ($i == 2) { break; } $i++; } }",
     ("tk_loop", "3"), ()),
    ("ternary_in_probe",
     GETPPID + ' { $s = @n++ < 3 ? "first3" : "rest"; @k[$s] = count(); printf("%s ", $s); }'
     ' END { printf("\\n"); }', ("tk_loop", "8"), ()),
    ("printf_per_event_and_end",
     GETPPID + ' { @n = @n + 1; printf("call %d of %s\\n", @n, comm); }'
     ' END { printf("total %d\\n", @n); }', ("tk_loop", "4"), ()),
    ("unroll_and_compound_in_probe",
     GETPPID + " { unroll(3) { @u++; } @s += 5; @m = @m * 2 + 1; @x ^= 0xff; @sh <<= 1;"
     " @sh |= 1; @d = 1000; @d /= @m; }", ("tk_loop", "4"), ()),
    ("positional_params_in_probe",
     'tracepoint:syscalls:sys_enter_getppid /pid == cpid && $1 > 2/ { @[str($2)] = count(); }',
     ("tk_loop", "6"), ("3", "label")),
    ("several_attach_points",
     "tracepoint:syscalls:sys_enter_getppid, tracepoint:syscalls:sys_enter_kill /pid == cpid/"
     # Not a string chosen by ?: as the key: bpftrace 0.17 leaves the rest of such a key's
     # buffer uninitialised and prints one entry per event, differently on every run.
     " { @n++; @k[@n > 2 ? 20 : 1] = count(); }", ("tk_both", "2", "5"), ()),
    ("several_attach_points_probe_builtin",
     "tracepoint:syscalls:sys_enter_getppid, tracepoint:syscalls:sys_enter_kill /pid == cpid/"
     " { @[probe] = count(); }", ("tk_both", "2", "5"), ()),
    ("two_probes_shared_map",
     GETPPID + " { @order = @order * 10 + 1; @n[1]++; } " + KILL +
     " { @order = @order * 10 + 2; @n[2] += 10; }", ("tk_both", "2", "3"), ()),
    ("kill_args",
     KILL + ' { printf("%d %d\\n", args->sig, args->pid == cpid); @sig[args->sig, comm] = count(); }',
     ("tk_both", "0", "3"), ()),
    ("close_fd_signedness",
     CLOSE + ' { printf("%d %u %ld\\n", args->fd, args->fd, (int32)args->fd);'
     " @fd[args->fd] = count(); @small[(int32)args->fd] = count(); }",
     ("tk_close", "1000", "1001", "1001", "-1", "-1", "-1", "-5", "-5", "-5", "-5"), ()),
    ("close_fd_tuples_and_multikey",
     CLOSE + " { @last = (comm, (int32)args->fd, @i); @i++; @k[comm, (int32)args->fd] = @i; }",
     ("tk_close", "1002", "-7", "1003"), ()),
    ("close_fd_if_and_ternary",
     CLOSE + ' { $fd = (int32)args->fd; if ($fd < 0) { @neg++; } else { @pos++; }'
     ' printf("%s ", $fd == -1 ? "minus-one" : "other"); } END { printf("\\n"); }',
     ("tk_close", "-1", "1004", "-2", "-1"), ()),
    ("openat_filename",
     OPENAT + ' { printf("%s\\n", str(args->filename)); @[str(args->filename)] = count(); }',
     ("tk_open", *OPEN_ARGS), ()),
    ("openat_filename_compare",
     OPENAT + ' { $f = str(args->filename); if ($f == "/dev/null") { @null++; }'
     ' else if ($f != "/dev/zero") { @missing++; } else { @zero++; } }',
     ("tk_open", *OPEN_ARGS), ()),
    ("openat_flags_and_strncmp",
     OPENAT + ' { printf("%d %d\\n", args->flags, strncmp(str(args->filename), "/dev/tk-", 8));'
     " }", ("tk_open", "/dev/null", "/dev/tk-missing"), ()),
]


def _params(programs):
    assert len({p[0] for p in programs}) == len(programs), "program ids must be unique"
    out = []
    for entry in programs:
        name, program, command, params = entry[:4]
        marks = entry[4] if len(entry) > 4 else ()
        out.append(pytest.param(program, command, params, id=name, marks=marks))
    return out


@pytest.mark.parametrize("program, command, params", _params(PROGRAMS))
def test_same_stdout_as_bpftrace(run_bpftrace, run_tracer, workload, program, command,
                                 params):
    name, *args = command
    cmd = " ".join([workload(name), *args])
    want = run_bpftrace("-c", cmd, "-e", program, *params)
    assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
    got = run_tracer("-c", cmd, "-e", program, *params)
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (want.returncode, want.stdout), got.stderr
