"""Every probe type this kernel can attach, on workloads whose answers are known exactly.

uprobes and uretprobes count a workload's own functions and sum their return values; a
library function (libc's getppid) is found by its library's name; raw tracepoints see the
system call number; software events count page faults the workload makes between two markers;
profile and interval fire on the CPUs and at the periods asked. What this kernel cannot attach
(kprobes: CONFIG_KPROBES is off here; hardware counters: none in a VM) must be refused before
anything is loaded, with the reason and an alternative; the second kernel's tests
(tests/guest) run kprobes for real.
"""

from __future__ import annotations

import platform
import re
import subprocess

import pytest

from tracer.diagnostics import EXIT_KERNEL_REFUSED
from tracer.host import pmu
from outcomes import expect_output as _ok

pytestmark = pytest.mark.kernel

N = 6
ADD_SUM = sum(i + 2 for i in range(N))
SQUARE_SUM = sum(i * i for i in range(N))
GETPPID_NR = {"x86_64": 110, "aarch64": 173}.get(platform.machine())


def test_uprobe_and_uretprobe_count_calls_and_sum_returns(run_tracer, workload):
    path = workload("tk_funcs")
    prog = (f"uprobe:{path}:tk_add {{ @args[arg0, arg1] = count(); }}"
            f" uretprobe:{path}:tk_square {{ @squares = sum(retval); @n = count(); }}"
            f" uretprobe:{path}:tk_add {{ @adds = sum(retval); }}")
    proc = run_tracer("-c", f"{path} {N}", "-e", prog)
    args = "".join(f"@args[{i}, 2]: 1\n" for i in range(N))
    _ok(proc, f"\n\n@adds: {ADD_SUM}\n{args}@n: {N}\n@squares: {SQUARE_SUM}\n")


def test_uprobe_wildcard_func_and_probe_builtins(run_tracer, workload):
    path = workload("tk_funcs")
    proc = run_tracer("-c", f"{path} {N}", "-e",
                      f"uprobe:{path}:tk_* {{ @[func, probe] = count(); }}")
    _ok(proc, f"\n\n@[tk_add, uprobe:{path}:tk_add]: {N}\n"
              f"@[tk_square, uprobe:{path}:tk_square]: {N}\n")


def test_uprobe_on_a_library_by_name_counts_only_the_command(run_tracer, workload):
    # tk_loop calls libc's getppid() N times; a uprobe follows -c's command only, so the
    # getppid() calls of every other process on the machine are not counted.
    proc = run_tracer("-c", f"{workload('tk_loop')} 250", "-e",
                      "uprobe:libc:getppid { @ = count(); }")
    _ok(proc, "\n\n@: 250\n")


def test_uprobe_with_offset_and_address(run_tracer, workload):
    from tracer.symbols.elf import read_elf_symbols

    path = workload("tk_funcs")
    address = read_elf_symbols(path).functions()["tk_square"].value
    proc = run_tracer("-c", f"{path} {N}", "-e",
                      f"uprobe:{path}:{hex(address)} {{ @a = count(); }}"
                      f" uprobe:{path}:tk_square+0 {{ @b = count(); }}")
    _ok(proc, f"\n\n@a: {N}\n@b: {N}\n")


def test_uprobe_of_a_non_pie_executable(run_tracer, build_workload):
    from workloads import WORKLOAD_SOURCES

    path = build_workload("tk_funcs_nopie", WORKLOAD_SOURCES["tk_funcs"], ["-no-pie"])
    proc = run_tracer("-c", f"{path} {N}", "-e",
                      f"uretprobe:{path}:tk_square {{ @ = sum(retval); }}")
    _ok(proc, f"\n\n@: {SQUARE_SUM}\n")


def test_uprobe_with_p_follows_that_process_only(live, workload):
    # tk_paused waits for a byte on stdin, then calls getppid() 40 times and exits; another
    # tk_loop running meanwhile is not that process and is not counted.
    wl = live([workload("tk_paused"), "40", "100"], stdin=subprocess.PIPE)
    tr = live.tracer("-p", wl.proc.pid, "-e",
                     'BEGIN { printf("ready\\n"); } uprobe:libc:getppid { @ = count(); }')
    tr.wait_for_stdout("ready\n", 60)
    other = subprocess.run([workload("tk_loop"), "500"], timeout=30)
    assert other.returncode == 0
    wl.proc.stdin.write(b"x")
    wl.proc.stdin.close()
    assert wl.proc.wait(timeout=30) == 0
    _ok(tr.finish(15), "ready\n\n\n@: 40\n")


@pytest.mark.skipif(GETPPID_NR is None, reason="getppid's number is known on x86_64 and aarch64")
def test_rawtracepoint_args_are_the_events_arguments(run_tracer, workload):
    # sys_enter(regs, id): arg1 is the system call's number.
    # args.id is the same argument by the name the kernel's BTF gives it.
    proc = run_tracer("-c", f"{workload('tk_loop')} 77", "-e",
                      f"rawtracepoint:sys_enter /pid == cpid && arg1 == {GETPPID_NR}/"
                      f" {{ @[probe] = count(); }}"
                      f" rt:sys_enter /pid == cpid && args.id == {GETPPID_NR}/ {{ @named = count(); }}")
    _ok(proc, "\n\n@[rawtracepoint:sys_enter]: 77\n@named: 77\n")


def test_rawtracepoint_argument_past_the_events_says_so(run_tracer):
    # sys_enter passes two arguments: the kernel refuses a program that reads a sixth.
    proc = run_tracer("-e", "rawtracepoint:sys_enter { @ = arg5; exit(); }")
    assert proc.returncode == EXIT_KERNEL_REFUSED and proc.stdout == "", proc.stderr
    assert proc.stderr.endswith(
        "tracer: error: cannot attach rawtracepoint:sys_enter: Invalid argument\n"
        "hint: the program reads more arguments (argN) than rawtracepoint:sys_enter passes\n")


def test_software_minor_faults_between_markers(run_tracer, workload):
    # The workload touches 300 fresh pages between two getppid() calls: exactly 300 faults.
    prog = ("tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @on = @on ? 0 : 1; }"
            " software:minor-faults:1 /pid == cpid && @on == 1/ { @faults = count(); }"
            " END { clear(@on); }")
    proc = run_tracer("-c", f"{workload('tk_faults')} 300", "-e", prog)
    _ok(proc, "\n\n@faults: 300\n")


def test_watchpoint_counts_writes_of_the_command(run_tracer, workload):
    proc = run_tracer("-c", f"{workload('tk_watch')} 150", "-e",
                      "watchpoint:0x10000000:8:w { @writes = count(); }"
                      " w:0x10000000:8:rw { @any = count(); }")
    _ok(proc, "\n\n@any: 150\n@writes: 150\n")


def test_self_signal_runs_when_tracer_gets_sigusr1(live):
    import signal

    tr = live.tracer("-e", 'BEGIN { printf("ready\\n"); } self:signal:SIGUSR1'
                           ' { @n++; printf("usr1 %d\\n", @n); if (@n == 3) { exit(); } }')
    tr.wait_for_stdout("ready\n", 60)
    for i in range(1, 4):
        tr.proc.send_signal(signal.SIGUSR1)
        if i < 3:
            tr.wait_for_stdout(f"usr1 {i}\n", 10)
    _ok(tr.finish(15), "ready\nusr1 1\nusr1 2\nusr1 3\n\n\n@n: 3\n")


def test_profile_fires_on_every_cpu(run_tracer):
    proc = run_tracer("-e", "profile:hz:100 { @[cpu] = count(); } interval:ms:1000 { exit(); }")
    assert proc.returncode == 0, proc.stderr
    counts = {int(k): int(v) for k, v in re.findall(r"^@\[(\d+)\]: (\d+)$", proc.stdout, re.M)}
    online = set(_online_cpus())
    assert set(counts) == online, proc.stdout
    # 100 Hz for a second on each CPU: a timer's count is not exact, but it is near 100.
    assert all(50 <= n <= 150 for n in counts.values()), counts


def test_interval_of_several_seconds_fires_at_its_period(run_tracer):
    # 2.5 s is past 2^31 ns: the period must reach the kernel whole (BCC's binding cut it).
    proc = run_tracer("-e", "interval:ms:2500 { printf(\"%d\\n\", elapsed / 1000000);"
                            " if (++@n == 2) { exit(); } } END { clear(@n); }", timeout=30)
    assert proc.returncode == 0, proc.stderr
    first, second = (int(line) for line in proc.stdout.split())
    assert abs(first - 2500) < 300 and abs(second - 5000) < 300, proc.stdout


def test_hardware_events_are_refused_or_counted(run_tracer):
    proc = run_tracer("-e", "hardware:cycles:100000 { @ = count(); } interval:ms:200 { exit(); }")
    assert "Traceback" not in proc.stderr
    if pmu.has_hardware_counters():
        assert proc.returncode == 0 and re.search(r"^@: \d+$", proc.stdout, re.M), proc.stderr
        return
    assert proc.returncode == EXIT_KERNEL_REFUSED and proc.stdout == ""
    assert proc.stderr.startswith(
        "stdin:1:1: error: cannot attach hardware:cpu-cycles:100000: this machine shows no "
        "hardware performance counters"), proc.stderr
    assert "hint: count in software instead: profile:hz:99" in proc.stderr


@pytest.mark.skipif(pmu.pmu_type("kprobe") is not None,
                    reason="this kernel has kprobes: the refusal cannot be seen here")
def test_kprobe_refused_before_anything_is_loaded(run_tracer):
    proc = run_tracer("-e", "kretprobe:__x64_sys_getppid { @ = count(); }\n"
                            "kprobe:vfs_read { @r = count(); }")
    assert proc.returncode == EXIT_KERNEL_REFUSED and proc.stdout == "", proc.stderr
    assert proc.stderr == (
        "stdin:1:1: error: cannot attach kretprobe:__x64_sys_getppid: this kernel was built "
        "without kprobes (CONFIG_KPROBES is off)\n"
        "kretprobe:__x64_sys_getppid { @ = count(); }\n"
        "~~~~~~~~~~~~~~~~~~~~~~~~~~~\n"
        "hint: use tracepoint:syscalls:sys_exit_getppid, or run it on a kernel with "
        "CONFIG_KPROBES=y (tracer doctor lists what this one supports)\n"
        "stdin:2:1: error: cannot attach kprobe:vfs_read: this kernel was built without kprobes "
        "(CONFIG_KPROBES is off)\n"
        "kprobe:vfs_read { @r = count(); }\n"
        "~~~~~~~~~~~~~~~\n"
        "hint: run it on a kernel with CONFIG_KPROBES=y (tracer doctor lists what this one "
        "supports)\n")


def test_kprobe_programs_load_on_this_kernel():
    """What cannot attach here can still be checked by the verifier: the kprobe programs that
    argN, sargN, retval and func compile to load on the running kernel."""
    from tracer.compiler import compile_program
    from tracer.options import CompileOptions
    from tracer.runtime import kernel
    from tracer.runtime.build import program_image
    from tracer.runtime.program import LoadedProgram

    options = CompileOptions(use_cache=False)
    kernel.prepare(options.notice)
    compiled = compile_program(
        'kprobe:vfs_read { @[func] = count(); printf("%d %d %s\\n", arg0, sarg1, probe); }'
        " kretprobe:vfs_read { @r = hist(retval); }", options=options)
    program = LoadedProgram(program_image(compiled.c_text, options), compiled, {})
    try:
        assert sorted(program.functions) == [0, 1]
        assert all(fd > 0 for fd in program.functions.values())
    finally:
        program.close()


def _online_cpus() -> list[int]:
    from tracer.machine import online_cpu_numbers

    return list(online_cpu_numbers())
