"""Differential tests of `-f json`: the same kinds of programs as test_compat_aggregations.py and
test_compat_functions.py, one JSON object a line on stdout.

0.17's stdout is brought to 0.26's (tracer follows 0.26, src/output/json.cpp) by named rewrites
of two sorts, and tracer's stdout is compared twice:

- as parsed objects, line by line, keeping the order of keys, against 0.17's with the rewrites
  that change a value (SEMANTIC below);
- as bytes, after the rewrites that change only spacing (SPACING below) as well.

SEMANTIC differences (each from 0.26's sources):
- ATTACHED: the attached_probes object has a "count" besides "data" (every program);
- KEY_SPACES: spaces are erased from map keys ("1,ab", and stacks as keys);
- BUFFER: a buffer is an array of its bytes' values ([120,121,122]), not a string;
- BIG_INT: an integer a double cannot hold exactly (past 2^53) is written as a string;
- U64_LITERAL, MINMAX_ORDER, MAX_NEGATIVE, STATS_TOP_DIV: as in the text tests.
SPACING differences:
- END_BLANKS: 0.17 prints two empty lines at the end of tracing, 0.26 none;
- HIST_ARRAYS: histogram buckets are separated by "," (0.17: ", ").
A case whose only rewrites are ATTACHED and the SPACING ones differs from 0.17 in nothing else.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.compat


def run_both(run_bpftrace, run_tracer, args):
    """bpftrace and tracer at once, with -f json: (bpftrace's run, tracer's run)."""
    with ThreadPoolExecutor(2) as pool:
        want = pool.submit(run_bpftrace, "-f", "json", *args)
        got = pool.submit(run_tracer, "-f", "json", *args)
        return want.result(), got.result()


def attached(stdout: str):
    """ATTACHED, for the number of probes 0.17 says."""
    m = re.match(r'\{"type": "attached_probes", "data": \{"probes": (\d+)\}\}\n', stdout)
    assert m, f"0.17 did not start with attached_probes: {stdout!r}"
    new = f'{{"type": "attached_probes", "count": {m[1]}, "data": {{"probes": {m[1]}}}}}\n'
    return [(m[0], new)]


def spacing(stdout: str):
    """END_BLANKS and HIST_ARRAYS, as (old, new) pairs for as_026."""
    pairs = [("}\n\n\n", "}\n")]
    for line in stdout.splitlines():
        if line.startswith('{"type": "hist"') and "}, {" in line:
            pairs.append((line, line.replace("}, {", "},{")))
    return pairs


def parsed(stdout: str):
    """The objects of stdout, in order, each object a list of (key, value) pairs."""
    return [json.loads(line, object_pairs_hook=list) for line in stdout.splitlines() if line]


def compare(want, got, as_026, semantic):
    assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
    assert "Traceback" not in got.stderr, got.stderr
    assert got.returncode == 0, got.stderr
    ported = as_026(want.stdout, attached(want.stdout) + semantic)
    assert parsed(got.stdout) == parsed(ported)
    assert got.stdout == as_026(ported, spacing(ported))


def begin(body: str) -> str:
    return "BEGIN { " + body + " exit(); }"


# (id, program, flags, semantic rewrites[, marks])
BEGIN_CASES = [
    ("counts_sums_keys", begin('@c = count(); @c = count(); @k[1] = count(); @k[2] = count();'
                               ' @k[2] = count(); @s = sum(-5); @t[1, "a"] = sum(10);'
                               ' @t[2, "b"] = sum(-20); @u["x y"] = sum(3); @v[3, "p q"] = 1;'),
     (), [('"x y"', '"xy"'), ('"3,p q"', '"3,pq"')]),  # KEY_SPACES
    ("avg_stats", begin('@a = avg(-7); @a = avg(2); @k[1] = avg(10); @k[2] = avg(-4);'
                        ' @st = stats(-4); @st = stats(10); @ks["x"] = stats(5);'
                        ' @ks["y"] = stats(-100);'), (), []),
    ("min_max", begin("@mi = min(-3); @mi = min(5); @k[1] = min(10); @k[2] = min(-4);"
                      " @ma = max(9); @m[1] = max(10); @m[2] = max(4); @neg = max(-2);"),
     (), [('{"2": -4, "1": 10}', '{"1": 10, "2": -4}'),  # MINMAX_ORDER
          ('{"type": "map", "data": {"@mi": -3}}\n',  # MAX_NEGATIVE
           '{"type": "map", "data": {"@mi": -3}}\n{"type": "map", "data": {"@neg": -2}}\n')]),
    ("hist", begin("@h = hist(-1); @h = hist(0); @h = hist(1); @h = hist(3); @h = hist(4);"
                   " @h = hist(1024); @h = hist(1048576); @h = hist(1073741824);"
                   ' @k["a"] = hist(2); @k["b"] = hist(5); @k["b"] = hist(6);'), (), []),
    ("lhist", begin("@l = lhist(-3, 0, 10, 2); @l = lhist(0, 0, 10, 2); @l = lhist(10, 0, 10, 2);"
                    " @l = lhist(11, 0, 10, 2); @l = lhist(9, 0, 10, 2);"
                    " @o = lhist(3, 1, 4, 1); @o = lhist(0, 1, 4, 1); @o = lhist(4, 1, 4, 1);"
                    " @m = lhist(2048, 0, 8192, 1024);"), (), []),
    ("print_top_div", begin('@m["a"] = 10; @m["b"] = 20; @m["c"] = 35; print(@m, 2);'
                            ' print(@m, 0, 10); @h["a"] = hist(4); @h["a"] = hist(4);'
                            ' @h["a"] = hist(16); @h["b"] = hist(1); print(@h, 1, 2);'
                            " @l[1] = lhist(5, 0, 100, 10); print(@l, 1, 2);"), (), []),
    ("print_stats_top_div", begin('@s["a"] = stats(10); @s["b"] = stats(30); print(@s, 1, 10);'
                                  " @z = stats(-5);"),
     [], [('{"@s": {"a": {"count": 1, "average": 10, "total": 10}, "b": {"count": 1, "average":'
           ' 30, "total": 30}}}}\n\n',  # STATS_TOP_DIV: the first print, 0.17 ignored top and div
           '{"@s": {"b": {"count": 1, "average": 3, "total": 30}}}}\n\n')]),
    ("clear_zero_delete", begin("@a[1] = 1; @a[2] = 2; @b = 5; @c[1] = hist(1); @d[1] = 4;"
                                ' @d[2] = 3; @e["x"] = hist(8); @f = stats(5); clear(@a);'
                                " zero(@b); clear(@c); delete(@d[1]); zero(@e); zero(@f);"),
     (), []),
    ("print_values", begin('print(5); print(-5); print("hello"); print((1, "a", -2));'
                           ' print((("x", 1), 2)); $x = 3; print($x); @v = 7; print(@v);'
                           ' print(@v * 2); @t = (1, "two", -3); @u["k"] = ("a", 2);'
                           " print(18446744073709551615);"),
     (), [('{"type": "value", "data": -1}', '{"type": "value", "data": "18446744073709551615"}')]),
    ("big_integers", begin("@a = 9007199254740992; @b = 9007199254740993; @c = -9007199254740993;"
                           " @d[1] = 4294967296; @e = sum(9007199254740993);"), (),
     [(": 9007199254740993}", ': "9007199254740993"}'),  # BIG_INT (@b and @e)
      (": -9007199254740993}", ': "-9007199254740993"}')]),
    ("strings_escaped", begin('printf("a\\tb \\"q\\" \\\\ \\x01 \\xc3\\xa9\\n");'
                              ' @s["k\\n"] = "t\\tab";'
                              ' print("x\\ry"); printf("no newline");'), (), []),
    ("buffers", begin('@b = buf("xyz", 3); @c[1] = buf("ab", 2); print(buf("a\\x01", 2));'
                      ' printf("%r\\n", buf("\\xff\\x00a", 3));'),
     (), [('"data": "a\\\\x01"', '"data": [97,1]'), ('{"@b": "xyz"}', '{"@b": [120,121,122]}'),
          ('{"1": "ab"}', '{"1": [97,98]}')]),  # BUFFER
    ("functions", begin('printf("%s %s %x\\n", ntop(0x0100007f), ksym(0), bswap((uint16)0x1234));'
                        ' cat("/proc/sys/kernel/ostype"); @n = ntop(0x04030201);'), (), []),
    ("system", begin('system("echo a b c");'), ("--unsafe",), []),
]


@pytest.mark.parametrize("program, flags, semantic", [
    pytest.param(case[1], case[2], case[3], id=case[0], marks=case[4] if len(case) > 4 else ())
    for case in BEGIN_CASES])
def test_begin_program(run_bpftrace, run_tracer, as_026, program, flags, semantic):
    compare(*run_both(run_bpftrace, run_tracer, (*flags, "-e", program)), as_026, semantic)


GETPPID = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/"
CLOSE = "tracepoint:syscalls:sys_enter_close /pid == cpid && args->fd > 999/"

# (id, program, workload and its arguments, semantic rewrites)
WORKLOAD_CASES = [
    ("getppid_aggregations", GETPPID + " { @ = count(); $v = @n++; @h = hist($v);"
                                       " @l = lhist($v, 0, 10, 3); @s = sum($v); @st = stats($v);"
                                       " @k[comm] = count(); }", ("tk_loop", "9"), []),
    ("close_chosen_fds", CLOSE + " { $fd = (int32)args->fd; @h = hist($fd); @k[$fd] = sum($fd);"
                                 " @mi = min($fd); @l = lhist($fd, 1000, 1100, 50); }",
     ("tk_close", "1000", "1024", "2047", "1048576", "-1", "-1"), []),
    ("join_and_printf", "tracepoint:syscalls:sys_enter_execve /pid == cpid/"
                        ' { join(args->argv); join(args->argv, ","); printf("%d\\n", 1); }',
     ("tk_loop", "3"), []),
    ("kstacks", GETPPID + ' { @a[kstack(perf, 2)] = count(); @b[kstack(1)] = count();'
                          ' printf("%s", kstack(2)); print(kstack(1)); @s = kstack(1); }',
     ("tk_loop", "2"), "KEY_SPACES"),
]


def _key_spaces(stdout: str):
    """KEY_SPACES for stacks used as keys: the keys of the map lines, spaces erased."""
    pairs = []
    for key in re.findall(r'\{"(\\n[^"]*)": \d+\}', stdout):
        pairs.append((f'"{key}":', '"' + key.replace(" ", "") + '":'))
    assert pairs, stdout
    return pairs


@pytest.mark.parametrize("program, command, semantic", [
    pytest.param(*case[1:4], id=case[0]) for case in WORKLOAD_CASES])
def test_workload_program(run_bpftrace, run_tracer, workload, as_026, program, command, semantic):
    name, *args = command
    cmd = " ".join([workload(name), *args])
    want, got = run_both(run_bpftrace, run_tracer, ("-c", cmd, "-e", program))
    if semantic == "KEY_SPACES":
        semantic = _key_spaces(want.stdout)
    compare(want, got, as_026, semantic)


def test_errorf_warnf_objects(run_tracer):
    """0.26-only: errorf/warnf are objects with msg, filename, line and the call's first column
    (src/output/json.cpp JsonOutput::printf); the program goes on."""
    program = begin('errorf("bad %d\\n", 3); warnf("w"); printf("after\\n");')
    got = run_tracer("-f", "json", "-e", program)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    col_e, col_w = program.index("errorf(") + 1, program.index("warnf(") + 1
    assert lines[1:4] == [
        f'{{"type": "errorf", "msg": "bad 3\\n", "filename": "stdin", "line": 1, "col": {col_e}}}',
        f'{{"type": "warnf", "msg": "w", "filename": "stdin", "line": 1, "col": {col_w}}}',
        '{"type": "printf", "data": "after\\n"}']


def test_time_shape(run_bpftrace, run_tracer):
    program = begin('time("%H:%M:%S\\n"); printf("%s\\n", strftime("%Y-%m-%d", nsecs));')
    want, got = run_both(run_bpftrace, run_tracer, ("-e", program))
    shape = (r'\{"type": "time", "data": "\d\d:\d\d:\d\d\\n"\}\n'
             r'\{"type": "printf", "data": "\d{4}-\d\d-\d\d\\n"\}\n')
    assert re.fullmatch(r'\{"type": "attached_probes", "data": \{"probes": 1\}\}\n' + shape
                        + r"\n\n", want.stdout), want.stdout
    assert re.fullmatch(r'\{"type": "attached_probes", "count": 1, "data": \{"probes": 1\}\}\n'
                        + shape, got.stdout), got.stdout
