"""The language constructs bpftrace 0.17 lacks, run on the real kernel against workloads with
known answers, outputs compared whole. (What 0.17 has is compared with it in tests/compat.)

Expected outputs follow bpftrace 0.26's documentation: a map holding a comparison prints
true/false, records print as { .name = value }, for loops run in the kernel.
"""

from __future__ import annotations

import pytest
from outcomes import expect_output as _ok

pytestmark = pytest.mark.kernel

HEAD = ""  # "Attached N probes" goes to stderr (bpftrace 0.26)
KILL = "tracepoint:syscalls:sys_enter_kill /pid == cpid/"
GETPPID = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/"


def test_for_range_in_a_tracepoint_reads_args_and_comm(run_tracer, workload):
    # The loop body is a bpf_loop callback: it reaches the probe's context and variables.
    prog = (KILL + " { $base = args.sig + 10; for ($i : 0..3) { @[comm, $base + $i] = count(); } "
            "$after = 1; @done = $after; }")
    _ok(run_tracer("-c", f"{workload('tk_kill')} 4", "-e", prog),
        HEAD + "\n\n@[tk_kill, 10]: 4\n@[tk_kill, 11]: 4\n@[tk_kill, 12]: 4\n@done: 1\n")


def test_for_range_break_continue_and_outer_variables(run_tracer, workload):
    prog = (GETPPID + " { $sum = 0; $n = 10; for ($i : 0..$n) { if ($i == 2) { continue; } "
            "if ($i == 5) { break; } $sum += $i; $n--; } @sum = $sum; @n = $n; }")
    # 0 + 1 + 3 + 4 = 8; $n was decremented 4 times; the range was fixed when the loop began.
    _ok(run_tracer("-c", f"{workload('tk_loop')} 3", "-e", prog),
        HEAD + "\n\n@n: 6\n@sum: 8\n")


def test_for_over_a_map_sees_every_entry(run_tracer, workload):
    prog = (GETPPID + " { @seen[tid % 1, \"x\"] = 5; @seen[7, \"y\"] = 6; $total = 0; "
            "for ($kv : @seen) { $total += $kv.0.0 * 100 + $kv.1; } @total = $total; }")
    _ok(run_tracer("-c", f"{workload('tk_loop')} 2", "-e", prog),
        HEAD + "\n\n@seen[0, x]: 5\n@seen[7, y]: 6\n@total: 711\n")


def test_while_unroll_and_compound_assignment(run_tracer, workload):
    # An unannotated variable widens to hold what it is given (arithmetic is 64-bit); one
    # declared `let $x: uint8` keeps its type, and a cast narrows the value into it.
    prog = (GETPPID + " { $i = 0; $w = (uint8)250; let $x: uint8 = 250; "
            "while ($i < 10) { $i++; $w += 3; $x = (uint8)($x + 3); if ($i >= 4) { break; } } "
            "unroll(3) { $w <<= 1; $x = (uint8)($x << 1); } @w = $w; @x = $x; @i = $i; }")
    # $w: 250 + 12 = 262, << 3 = 2096. $x: 262 -> 6 as a uint8, then 12, 24, 48.
    _ok(run_tracer("-c", f"{workload('tk_loop')} 2", "-e", prog),
        HEAD + "\n\n@i: 4\n@w: 2096\n@x: 48\n")


def test_bools_tuples_and_records_as_keys_and_values(run_tracer, workload):
    prog = (KILL + " { @is_self[args.pid == cpid] = count(); "
            "@t[(comm, args.sig)] = (true, (uint16)args.sig + 1); "
            "@r[(sig=args.sig, who=comm)] = (n=1, ok=args.sig == 0); }")
    _ok(run_tracer("-c", f"{workload('tk_kill')} 2", "-e", prog),
        HEAD + "\n\n@is_self[true]: 2\n"
        "@r[{ .sig = 0, .who = tk_kill }]: { .n = 1, .ok = true }\n"
        "@t[tk_kill, 0]: (true, 1)\n")


def test_let_block_scopes_ternary_and_block_expressions(run_tracer, workload):
    prog = (GETPPID + " { let $kind; if (tid > 0) { let $small = tid < 1000000000; "
            "$kind = $small ? \"small\" : \"large\"; } $n = { let $a = 2; $a * 3 }; "
            "$zero = 0; @kind[$kind] = count(); @n = $n; @elvis = $zero ?: $n + 1; }")
    _ok(run_tracer("-c", f"{workload('tk_loop')} 3", "-e", prog),
        HEAD + "\n\n@elvis: 7\n@kind[small]: 3\n@n: 6\n")


def test_macros_with_variables_maps_and_expressions(run_tracer, workload):
    prog = ("macro bump($v, @m, by) { $v += by; @m[comm] += by; } "
            "macro double(x) { x * 2 } " +
            GETPPID + " { $c = 1; bump($c, @per_comm, double(5)); @c = $c; }")
    _ok(run_tracer("-c", f"{workload('tk_loop')} 2", "-e", prog),
        HEAD + "\n\n@c: 11\n@per_comm[tk_loop]: 20\n")


def test_string_functions_on_comm(run_tracer, workload):
    prog = (GETPPID + " { @len = strlen(comm); @has = strcontains(comm, \"loop\"); "
            "@at = strstr(comm, \"loop\"); @cmp = strncmp(comm, \"tk_lx\", 4); "
            "@cap = strcap(comm); }")
    _ok(run_tracer("-c", f"{workload('tk_loop')} 1", "-e", prog),
        HEAD + "\n\n@at: 3\n@cap: 16\n@cmp: 0\n@has: true\n@len: 7\n")


def test_long_strings_live_in_scratch_memory(run_tracer, workload):
    # 600 bytes does not fit the 512-byte BPF stack: the value goes to per-CPU scratch memory.
    text = "".join(chr(ord("a") + i % 26) for i in range(600))
    prog = (GETPPID + " { $s = str($1); @len = strlen($s); @tail = str($1 + 590); "
            "@[$s] = count(); }")
    _ok(run_tracer("-c", f"{workload('tk_loop')} 2", "-e", prog, text),
        HEAD + f"\n\n@[{text}]: 2\n@len: 600\n@tail: {text[590:]}\n")


def test_many_printfs_of_comm_in_one_probe(run_tracer, workload):
    # Each printf's buffers end with its statement, so the stack does not grow with their count.
    prog = GETPPID + " { " + " ".join(f'printf("%s {i}\\n", comm);' for i in range(40)) + " }"
    proc = run_tracer("-c", f"{workload('tk_loop')} 1", "-e", prog)
    _ok(proc, HEAD + "".join(f"tk_loop {i}\n" for i in range(40)) + "\n\n")


def test_config_and_named_parameters(run_tracer, workload):
    prog = ("config = { max_strlen = 8; print_maps_on_exit = false } " + GETPPID +
            " { printf(\"%s %d %d\\n\", str($1), getopt(\"step\", 1), getopt(\"on\")); }")
    proc = run_tracer("-c", f"{workload('tk_loop')} 1", "-e", prog, "truncated text", "--",
                      "--step=0x10", "--on")
    _ok(proc, HEAD + "truncat 16 1\n\n\n")


def test_integer_widths_and_casts_in_a_probe(run_tracer, workload):
    # close(-2): the field is `unsigned int fd`, so it reads 4294967294; casts narrow it the
    # way C does, and (int32) gives back the -2 the program passed.
    prog = ("tracepoint:syscalls:sys_enter_close /pid == cpid/ { @fd = args.fd; "
            "@u8 = (uint8)args.fd; @i16 = (int16)args.fd; @i32 = (int32)args.fd; "
            "@neg = (int32)args.fd < 0; @unsigned_neg = args.fd < 0; @shift = args.fd >> 28; "
            "@div = args.fd / 0; }")
    _ok(run_tracer("-c", f"{workload('tk_close')} -2", "-e", prog),
        HEAD + "\n\n@div: 1\n@fd: 4294967294\n@i16: -2\n@i32: -2\n@neg: true\n@shift: 15\n"
               "@u8: 254\n@unsigned_neg: false\n")


def test_deeply_nested_expression_compiles_and_runs(run_tracer, workload):
    depth = 300
    prog = GETPPID + " { @v = " + "-(" * depth + "1" + ")" * depth + "; }"
    _ok(run_tracer("-c", f"{workload('tk_loop')} 1", "-e", prog), HEAD + "\n\n@v: 1\n")
