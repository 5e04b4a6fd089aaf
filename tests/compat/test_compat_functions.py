"""Differential tests of functions and builtins: printf over map values, print of values, bswap,
ntop, buf, cat, ksym, usym, kaddr, kstack, ustack, join, signal, system, exit, errorf, warnf,
len, has_key, delete(@m, key), hist(n, bits), and the builtins.

Each program runs under bpftrace 0.17 and under tracer; stdout must be the same byte for byte
once 0.17's output has been brought to what 0.26 prints (tracer follows 0.26) by the rewrites
named here, each read from bpftrace 0.26's sources:

- FORMAT_FLAGS: printf formats through C++ streams (src/format_string.cpp): the 0 flag fills
  with zeros on either side of the sign and of a left-aligned value ("00-42", "-4200", "0000ab"),
  and a precision is ignored for integers and strings;
- U64_LITERAL: a literal above INT64_MAX is a uint64 (0.17: an int64, printed -1);
- SMALL_LITERAL: a literal has the smallest signed type that holds it, so bswap(1) swaps one
  byte (0.17: eight);
- BOOL: a comparison is a bool, printed true/false (0.17: 1/0);
- STACK_KEY_INDENT: a stack printed as a map key indents its frames by 8 spaces (0.17: 4);
- SYSTEM_NEWLINE: system() prints the command's output then a newline (0.17: the output only).

Functions 0.17 lacks (len, has_key, exit(code), delete(@m, key), hist(n, bits), errorf, warnf)
run in twin programs: 0.17 runs the same program spelled without them, and the bytes must be the
same. Output that depends on the time, the machine or addresses (time, strftime, elapsed, rand,
ustack, jiffies, ncpus) is compared by its shape in both tools' output.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from workloads import WORKLOAD_SOURCES

pytestmark = pytest.mark.compat


def run_both(run_bpftrace, run_tracer, args, tracer_args=None):
    """bpftrace and tracer at once: (bpftrace's run, tracer's run)."""
    tracer_args = args if tracer_args is None else tracer_args
    with ThreadPoolExecutor(2) as pool:
        want = pool.submit(run_bpftrace, *args)
        got = pool.submit(run_tracer, *tracer_args)
        return want.result(), got.result()


def begin(body: str) -> str:
    return "BEGIN { " + body + " exit(); }"


GETPPID = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/"

# (id, program, flags, rewrites[, marks]); the programs run in BEGIN and end with exit().
BEGIN_CASES = [
    ("printf_map_values",
     begin('@k[1] = 7; @k[2] = -7; @v = 255; @s["a"] = "word";'
           ' printf("%d|%u|%x|%X|%o|%5x|%-6X|%08d|%5d|%-5d|%c|\\n", @k[1], @k[2], @k[2], @v, @v,'
           " @v, @v, @k[1], @k[2], @k[2], @k[1] + 64);"
           ' printf("%s|%10s|%-10s|%ld %lu %lx %hd %hhd %lld %hu %hhu %zd %llu\\n", @s["a"],'
           ' @s["a"], @s["a"], @k[2], @k[2], @k[2], 70000, 300, -9223372036854775807, 70000, 300,'
           " @k[2], @v);"), (), []),
    ("printf_zero_flag", begin('@n = -42; printf("%05d|%-05d|%08x|%06s|%03d|\\n", @n, @n, @n,'
                               ' "ab", 7);'),
     (), [("-0042|-42  |ffffffd6|    ab|", "00-42|-4200|ffffffd6|0000ab|")]),  # FORMAT_FLAGS
    ("printf_precision", begin('@v = 42; @s = "word";'
                               ' printf("%.5d|%8.3d|%.2s|%5.1s|%.0d|%-8.3d|\\n",'
                               " @v, @v, @s, @s, 0, @v);"),
     (), [("00042|     042|wo|    w||042     |", "42|      42|word| word|0|42      |")]),
    ("printf_tuple_fields",
     begin('@c = (1, "x", -3); printf("%d %s %d\\n", @c.0, @c.1, @c.2);'), (),
     []),
    ("print_values", begin('print(5); print(-5); print("hello"); print((1, "a", -2));'
                           ' print((("x", 1), 2)); $x = 3; print($x); @v = 7; print(@v);'
                           " print(@v * 2); print(-9223372036854775807 - 1);"), (), []),
    ("print_u64_literal", begin("print(18446744073709551615); @v = 18446744073709551615;"), (),
     [("-1\n\n\n@v: -1\n", "18446744073709551615\n\n\n@v: 18446744073709551615\n")]),
    ("print_map_values", begin('@t = (1, "two", -3); @u["k"] = ("a", 2); @s = "str";'
                               " print(@t); print(@u); print(@s);"), (), []),
    ("bswap", begin('printf("%x %x %lx %x\\n", bswap((uint16)0x1234), bswap((uint32)0x12345678),'
                    " bswap((uint64)0x0102030405060708), bswap(1));"
                    " @b = bswap((uint32)1);"),
     (), [("3412 78563412 807060504030201 0\n", "3412 78563412 807060504030201 1\n")]),
    ("ntop", begin('printf("%s %s %s\\n", ntop(0x0100007f), ntop(2, 0x0101a8c0), ntop(0xffffffff));'
                   ' @n = ntop(0x04030201);'
                   " @m[ntop(0x0100007f)] = 1;"), (), []),
    ("buf", begin('printf("%r|%rx|%r\\n", buf("abc", 3), buf("a\\nb", 3), buf("hello", 2));'
                  ' @b = buf("xyz", 3); print(buf("ab\\x01", 3)); @k[buf("ab", 2)] = 1;'), (), []),
    ("cat", begin('cat("/proc/sys/kernel/ostype"); cat("/proc/sys/kernel/%s", "ostype");'
                  ' cat("/nonexistent/file"); printf("after\\n");'), (), []),
    ("ksym_usym_kaddr", begin('printf("%s|%s|%s\\n", ksym(0), usym(0),'
                              ' ksym(kaddr("do_syscall_64")));'
                              ' @m[ksym(kaddr("do_syscall_64"))] = 1;'
                              ' @k = kaddr("do_syscall_64") == kaddr("do_syscall_64");'),
     (), [("@k: 1\n", "@k: true\n")]),  # BOOL
    # The same machine under both tools: these builtins print the same.
    ("machine_builtins", begin('printf("%s %d %d %d\\n", username, numaid, cgroup > 0,'
                               ' elapsed > 0);'
                               " @u[username] = numaid;"), (), []),
    # SYSTEM_NEWLINE: output without a newline of its own gets one.
    ("system_no_newline", begin('system("printf abc"); printf("|\\n");'), ("--unsafe",),
     [("abc|\n", "abc\n|\n")]),
    ("system_newline", begin('system("echo hi %d", 5); printf("next\\n");'), ("--unsafe",),
     [("hi 5\nnext\n", "hi 5\n\nnext\n")]),
]


@pytest.mark.parametrize("program, flags, rewrites", [
    pytest.param(case[1], case[2], case[3], id=case[0], marks=case[4] if len(case) > 4 else ())
    for case in BEGIN_CASES])
def test_begin_program(run_bpftrace, run_tracer, as_026, program, flags, rewrites):
    want, got = run_both(run_bpftrace, run_tracer, (*flags, "-e", program))
    assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (0, as_026(want.stdout, rewrites)), got.stderr


def test_system_output_includes_stderr(run_tracer):
    """0.26 runs system()'s command with its stderr on the same pipe as its stdout
    (src/util/system.cpp, exec_system) and prints both; 0.17 let stderr through to its own."""
    got = run_tracer("--unsafe", "-e", begin('system("echo to-err >&2; echo to-out");'))
    assert got.returncode == 0, got.stderr
    assert got.stdout == "to-err\nto-out\n\n\n\n"


# ---- twins: a function 0.17 lacks, against the same program spelled without it -------------------

# (id, tracer's program, 0.17's program, rewrites)
TWINS = [
    ("len_has_key",
     begin('@m[1] = 1; @m[2] = 2; @m[7] = 0; @t[1, "a"] = 5; printf("%d %d %d %d %d %d\\n",'
           ' len(@m), has_key(@m, 7), has_key(@m, 3), len(@t), has_key(@t, (1, "a")),'
           ' has_key(@t, (1, "b"))); delete(@m[2]); printf("%d\\n", len(@m));'),
     begin('@m[1] = 1; @m[2] = 2; @m[7] = 0; @t[1, "a"] = 5; printf("%d %d %d %d %d %d\\n",'
           ' 3, 1, 0, 1, 1, 0); delete(@m[2]); printf("%d\\n", 2);'), []),
    ("delete_with_key_argument",
     begin('@m[1] = 1; @m[2] = 5; delete(@m, 1); @t[1, "a"] = 1; @t[2, "b"] = 2;'
           ' delete(@t, (1, "a")); @s = 3; delete(@s);'),
     begin('@m[1] = 1; @m[2] = 5; delete(@m[1]); @t[1, "a"] = 1; @t[2, "b"] = 2;'
           ' delete(@t[1, "a"]); @s = 3; delete(@s);'),
     [("@m[2]: 5\n\n@t", "@m[2]: 5\n@t")]),  # an empty map (@s) prints nothing in 0.26
    ("hist_bits_zero",
     begin('@h = hist(5, 0); @h = hist(8, 0); @h = hist(-1, 0); @k["a"] = hist(1024, 0);'),
     begin('@h = hist(5); @h = hist(8); @h = hist(-1); @k["a"] = hist(1024);'),
     [("@h: \n", "@h:\n"), ("@k[a]: \n", "@k[a]:\n")]),  # 0.26: no space after the heading
    # errorf and warnf print on stderr, not stdout; the program goes on.
    ("errorf_warnf_stdout",
     begin('errorf("bad %d", 3); printf("after\\n"); warnf("careful %s", "x"); @a = 1;'),
     begin('printf("after\\n"); @a = 1;'), []),
]


@pytest.mark.parametrize("program, twin, rewrites", [pytest.param(*c[1:], id=c[0]) for c in TWINS])
def test_twin_program(run_bpftrace, run_tracer, as_026, program, twin, rewrites):
    want, got = run_both(run_bpftrace, run_tracer, ("-e", twin), ("-e", program))
    assert want.returncode == 0, f"bpftrace refused the twin:\n{want.stderr}"
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (0, as_026(want.stdout, rewrites)), got.stderr


def test_exit_code(run_bpftrace, run_tracer):
    """exit(3) ends the run like exit() and makes 3 tracer's exit status (0.26)."""
    want, got = run_both(run_bpftrace, run_tracer, ("-e", begin('printf("x\\n"); @a = 1;')),
                         ("-e", 'BEGIN { printf("x\\n"); @a = 1; exit(3); }'))
    assert want.returncode == 0, want.stderr
    assert (got.returncode, got.stdout) == (3, want.stdout), got.stderr


def test_errorf_warnf_on_stderr(run_tracer):
    """0.26 logs errorf/warnf as `FILE:LINE:COL-END: ERROR: msg`, the call's columns, with no
    source context (src/output/text.cpp TextOutput::printf; src/ast/location.cpp)."""
    program = begin('errorf("bad %d", 3); warnf("careful %s", "x");')
    got = run_tracer("-e", program)
    assert got.returncode == 0, got.stderr
    expected = []
    for call, word, message in (('errorf("bad %d", 3)', "ERROR", "bad 3"),
                                ('warnf("careful %s", "x")', "WARNING", "careful x")):
        col = program.index(call) + 1
        expected.append(f"stdin:1:{col}-{col + len(call)}: {word}: {message}")
    lines = [line for line in got.stderr.splitlines() if not line.startswith("Attached")]
    assert lines == expected


# ---- workloads ----------------------------------------------------------------------------------

# (id, program, flags, workload and its arguments, rewrites)
WORKLOAD_CASES = [
    ("join_argv", "tracepoint:syscalls:sys_enter_execve /pid == cpid/"
                  ' { join(args->argv); join(args->argv, ","); @n = count(); }', (),
     ("tk_loop", "3", "a b"), []),
    ("signal_stops_child", GETPPID + ' { @n++; if (@n == 3) { signal(15); } }'
                                     ' END { printf("calls %d\\n", @n); }', ("--unsafe",),
     ("tk_loop", "10"), []),
    ("signal_by_name", GETPPID + ' { @n++; if (@n == 2) { signal("SIGKILL"); } }', ("--unsafe",),
     ("tk_loop", "10"), []),
    ("kstack_map_keys", GETPPID + " { @a[kstack(perf, 2)] = count(); @b[kstack(bpftrace, 1)] ="
                                  " count(); @c[kstack(3)] = count(); @d[kstack] = count(); }", (),
     ("tk_loop", "2"), [("\n    ", "\n        ")]),  # STACK_KEY_INDENT
    ("kstack_printed", GETPPID + ' { printf("%s", kstack(2)); printf("%s|\\n", kstack(perf, 1));'
                                 " print(kstack(2)); @s = kstack(1); }", (), ("tk_loop", "2"), []),
    ("ksym_in_probe", GETPPID + ' { printf("%s\\n", ksym(kaddr("do_syscall_64"))); @k[kstack(1)] ='
                                " count(); }", (), ("tk_loop", "1"),
     [("\n    ", "\n        ")]),  # STACK_KEY_INDENT
]


@pytest.mark.parametrize("program, flags, command, rewrites", [
    pytest.param(*case[1:5], id=case[0]) for case in WORKLOAD_CASES])
def test_workload_program(run_bpftrace, run_tracer, workload, as_026, program, flags, command,
                          rewrites):
    name, *args = command
    cmd = " ".join([workload(name), *args])
    want, got = run_both(run_bpftrace, run_tracer, (*flags, "-c", cmd, "-e", program))
    assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (0, as_026(want.stdout, rewrites)), got.stderr


# ---- shapes: output that depends on the time or the machine -------------------------------------

TIME_SHAPE = (r"\d\d:\d\d:\d\d\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\|\n\d\d:\d\d:\d\d\.\d{6}\n"
              r"\d+ \d+ \d+\n\n\n@e: \d+\n")


def test_time_and_builtins_shape(run_bpftrace, run_tracer):
    program = begin('time("%H:%M:%S\\n"); printf("%s|\\n", strftime("%Y-%m-%d %H:%M:%S", nsecs));'
                    ' printf("%s\\n", strftime("%H:%M:%S.%f", nsecs));'
                    ' printf("%d %u %d\\n", elapsed, rand, cgroup); @e = elapsed;')
    want, got = run_both(run_bpftrace, run_tracer, ("-e", program))
    assert want.returncode == 0, want.stderr
    assert re.fullmatch(TIME_SHAPE, want.stdout), want.stdout
    assert re.fullmatch(TIME_SHAPE, got.stdout), got.stdout
    # cgroup is the same number for both (the same cgroup), the last field of the line
    assert want.stdout.splitlines()[3].split()[2] == got.stdout.splitlines()[3].split()[2]


def test_ustack_shape(run_bpftrace, run_tracer, build_workload):
    """ustack frames, 8 spaces in and one a line: tracer names them symbol+offset. 0.17 resolves
    symbols when it prints, often after the child is gone: it prints addresses then, and may
    abort on the missing /proc/PID/exe before the rest, so only its first stack is checked."""
    # The flags of tests/kernel/test_kernel_maps.py: one build of tk_chain per session.
    chain = build_workload("tk_chain", WORKLOAD_SOURCES["tk_chain"],
                           ("-O0", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer"))
    program = GETPPID + ' { printf("%s", ustack(3)); print(ustack(1)); @[ustack(2)] = count(); }'
    want, got = run_both(run_bpftrace, run_tracer, ("-c", f"{chain} 1", "-e", program))
    assert re.match(r"(\n {8}\S+){3}\n", want.stdout), want.stdout
    assert re.fullmatch(r"\n {8}inner\+\d+\n {8}middle\+\d+\n {8}outer\+\d+\n"
                        r"\n {8}inner\+\d+\n\n\n\n@\[\n {8}inner\+\d+\n {8}middle\+\d+\n\]: 1\n",
                        got.stdout), got.stdout


def test_ncpus_and_jiffies(run_tracer):
    """0.26 builtins 0.17 lacks: ncpus is the number of online CPUs; jiffies counts up."""
    got = run_tracer("-e", begin('printf("%d %d\\n", ncpus, jiffies); @j = jiffies;'))
    assert got.returncode == 0, got.stderr
    ncpus, jiffies = map(int, got.stdout.split("\n")[0].split())
    assert ncpus == len(os.sched_getaffinity(0)) or ncpus == os.cpu_count()
    assert 0 < jiffies <= int(re.search(r"@j: (\d+)", got.stdout)[1])
