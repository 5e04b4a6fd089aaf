"""kprobes, kretprobes, fentry and fexit, for real, in the second kernel (the host's kernel
cannot attach them). Each tracer run compiles under emulation (10-30 s), so one run checks
several things.

The workload ``tk_open`` opens each path it is given, in order, and closes what opened: for
``/dev/null /dev/zero /dev/null /dev/tk-missing`` the kernel's do_sys_openat2 is entered four
times with those file names, returns a descriptor three times and -ENOENT (-2) once. The
dynamic loader's own opens are left out by the file names' prefix.
"""

from __future__ import annotations

import os

import pytest
from outcomes import expect_output as _ok

pytestmark = pytest.mark.kernel

OPENS = ("/dev/null", "/dev/zero", "/dev/null", "/dev/tk-missing")
DEV = 'strncmp(str({name}), "/dev/", 5) == 0'
TRACEFS = "/sys/kernel/tracing"


def test_kprobe_and_kretprobe_arguments_and_return_values(run_tracer, workload):
    prog = (f"kprobe:do_sys_openat2 /pid == cpid && {DEV.format(name='arg1')}/"
            " { @open[str(arg1)] = count(); @fn[func] = count(); @dev[tid] = 1; }"
            " kretprobe:do_sys_openat2 /pid == cpid && @dev[tid] == 1/"
            " { if ((int64)retval >= 0) { @ok = count(); } else { @err[(int64)retval] = count(); }"
            " delete(@dev, tid); }")
    proc = run_tracer("-c", " ".join([workload("tk_open"), *OPENS]), "-e", prog)
    _ok(proc, "\n\n@err[-2]: 1\n@fn[do_sys_openat2]: 4\n@ok: 3\n"
              "@open[/dev/tk-missing]: 1\n@open[/dev/zero]: 1\n@open[/dev/null]: 2\n")
    # Attached through the kprobe PMU: nothing was ever added to tracefs's kprobe list.
    with open(os.path.join(TRACEFS, "kprobe_events")) as f:
        assert f.read() == ""


def test_kprobe_wildcard_offset_and_untraceable_names(run_tracer, workload):
    # A wildcard expands over the functions ftrace can trace; a name given whole may also be
    # one it leaves out, as Debian's 6.1 leaves out the system call wrappers.
    dev = DEV.format(name="arg1")
    proc = run_tracer("-c", " ".join([workload("tk_open"), *OPENS]), "-e",
                      f"kprobe:do_sys_openat2* /pid == cpid && {dev}/ {{ @[probe] = count(); }}"
                      f" k:do_sys_openat2+0 /pid == cpid && {dev}/ {{ @offset = count(); }}"
                      " kprobe:__x64_sys_getppid /pid == cpid/ { @getppid = count(); }")
    _ok(proc, "\n\n@[kprobe:do_sys_openat2]: 4\n@getppid: 0\n@offset: 4\n")


def test_fentry_and_fexit_typed_arguments(run_tracer, workload):
    prog = (f"fentry:do_sys_openat2 /pid == cpid && {DEV.format(name='args.filename')}/"
            " { @open[str(args.filename)] = count(); @dfd[args.dfd] = count();"
            " @how[args.how->flags, args.how.mode] = count(); }"
            f" fexit:do_sys_openat2 /pid == cpid && {DEV.format(name='args.filename')}/"
            " { if (retval >= 0) { @ok = count(); } else { @err[retval] = count(); } }"
            f" kprobe:do_sys_openat2 /pid == cpid && {DEV.format(name='arg1')}/"
            " { @cast[((struct open_how *)arg2)->flags] = count(); }")
    proc = run_tracer("-c", " ".join([workload("tk_open"), *OPENS]), "-e", prog)
    # dfd is AT_FDCWD (-100): open(2) is openat(AT_FDCWD, ...). The kernel's struct open_how
    # (a typed pointer argument, and a kprobe's argument cast to one) holds O_RDONLY with the
    # O_LARGEFILE (0100000) a 64-bit kernel adds, and mode 0.
    _ok(proc, "\n\n@cast[32768]: 4\n@dfd[-100]: 4\n@err[-2]: 1\n@how[32768, 0]: 4\n@ok: 3\n"
              "@open[/dev/tk-missing]: 1\n@open[/dev/zero]: 1\n@open[/dev/null]: 2\n")
