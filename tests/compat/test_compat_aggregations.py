"""Differential tests of aggregations and map operations: count, sum, avg, min, max, stats, hist,
lhist; print(@m[, top[, div]]), clear, zero, delete; the maps printed at exit.

Each program runs under bpftrace 0.17 and under tracer, and stdout must be the same byte for byte
once 0.17's output has been brought to what 0.26 prints (tracer follows 0.26) by the rewrites
named below; ``as_026`` fails if a rewrite no longer applies, so none is imaginary. Each rewrite
is one of these differences, read from bpftrace 0.26's sources (src/output/text.cpp,
src/types_format.cpp, src/util/stats.h):

- HEADING: a histogram's heading line is ``@h:`` (0.17: ``@h: ``, a trailing space);
- STATS: stats print as ``{ .count = 2, .average = 3, .total = 6 }`` (0.17: ``count 2, ...``);
- AVG_BLANK: no empty line after an avg or stats map (0.17 printed one);
- EMPTY: an empty map prints nothing (0.17: an empty line);
- MINMAX_ORDER: min and max maps are sorted on their values read as unsigned (negatives last);
- MAX_NEGATIVE: max() of negative values only is printed (0.17 lost it: an empty map);
- HIST_64: values from 2^31 up go to their own power-of-two bucket (0.17: all in [2G, 4G));
- ONE_VALUE: an lhist bucket holding one integer is labelled ``[n]`` (0.17: ``[n, n+1)``);
- STATS_TOP_DIV: print(@stats, top, div) keeps the top entries and divides the average (0.17
  ignored both, with a warning 0.26 still prints);
- DIV_BARS: print(@hist, top, div) draws the bars of the divided counts (0.17: the undivided);
- SIGNED_KEYS: maps of non-integer values are sorted by key, integers signed (0.17: unsigned).

Keyed maps never hold equal values (bpftrace leaves ties in hash order). Programs that trace a
workload (tests/workloads.py) print no pid and keep to ``pid == cpid`` or the workload's comm.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.compat


def bug(reason: str):
    """Mark a program whose output differs from bpftrace's through a tracer bug."""
    return pytest.mark.xfail(strict=True, reason=f"tracer bug: {reason}")


def run_both(run_bpftrace, run_tracer, args, tracer_args=None, together=True):
    """bpftrace and tracer on the same arguments, at once unless the program watches processes
    by name (the other tool's workload would be seen too): (bpftrace's run, tracer's run)."""
    tracer_args = args if tracer_args is None else tracer_args
    if not together:
        return run_bpftrace(*args), run_tracer(*tracer_args)
    with ThreadPoolExecutor(2) as pool:
        want = pool.submit(run_bpftrace, *args)
        got = pool.submit(run_tracer, *tracer_args)
        return want.result(), got.result()


# ---- rewrites of 0.17's bytes: each builds the (old, new) pairs of one named difference --------

def heading(*names):
    """HEADING: the histograms' heading lines."""
    return [(f"{name}: \n", f"{name}:\n") for name in names]


def stats(count, average, total):
    """STATS: one stats value."""
    return [(f"count {count}, average {average}, total {total}",
             f"{{ .count = {count}, .average = {average}, .total = {total} }}")]


def avg_blank(last_line):
    """AVG_BLANK: the empty line after an avg or stats map, found by the map's last line."""
    return [(f"{last_line}\n\n", f"{last_line}\n")]


def reorder(old_lines, new_lines):
    """MINMAX_ORDER, SIGNED_KEYS: the same lines in 0.26's order."""
    assert sorted(old_lines) == sorted(new_lines)
    return [("".join(line + "\n" for line in old_lines),
             "".join(line + "\n" for line in new_lines))]


def bucket(old_label, new_label):
    """HIST_64, ONE_VALUE: a bucket label, kept in its 16-column field."""
    return [(old_label.ljust(16), new_label.ljust(16))]


BAR_ZERO = "0 |" + " " * 52 + "|"


def begin(body: str) -> str:
    return "BEGIN { " + body + " exit(); }"


# (id, program, rewrites[, marks]); every program runs in BEGIN and ends with exit().
BEGIN_CASES = [
    # --- one aggregation at a time, scalar and keyed, with negative values
    ("count", begin("@c = count(); @c = count(); @k[1] = count(); @k[2] = count();"
                    " @k[2] = count(); @k[3] = count(); @k[3] = count(); @k[3] = count();"), []),
    ("sum_negative", begin('@s = sum(-5); @s = sum(3); @k["a"] = sum(10); @k["b"] = sum(-20);'
                           ' @k["c"] = sum(0); @big = sum(4294967296); @big = sum(4294967296);'),
     []),
    # avg truncates toward zero: (-7 + 2) / 2 is -2, (-5 + 2) / 2 is -1.
    ("avg_negative", begin("@a = avg(-7); @a = avg(2); @k[1] = avg(10); @k[2] = avg(-4);"
                           " @k[3] = avg(-5); @k[3] = avg(2);"),
     avg_blank("@a: -2") + avg_blank("@k[1]: 10")),
    ("min_negative", begin("@mi = min(-3); @mi = min(5); @k[1] = min(10); @k[2] = min(-4);"
                           " @k[3] = min(7);"),
     reorder(["@k[2]: -4", "@k[3]: 7", "@k[1]: 10"], ["@k[3]: 7", "@k[1]: 10", "@k[2]: -4"])),
    ("max_positive", begin("@ma = max(3); @ma = max(9); @k[1] = max(10); @k[2] = max(4);"
                           " @k[3] = max(0);"), []),
    ("max_negative", begin("@ma = max(-9); @mb = max(-1); @mb = max(-5); @mc = max(-3);"
                           " @mc = max(2);"),
     [("\n\n\n\n@mc: 2\n", "\n\n@ma: -9\n@mb: -1\n@mc: 2\n")]),  # MAX_NEGATIVE (and EMPTY)
    ("stats_negative", begin('@st = stats(-4); @st = stats(10); @k["x"] = stats(5);'
                             ' @k["y"] = stats(-100); @k["y"] = stats(1); @k["z"] = stats(7);'
                             ' @k["z"] = stats(8);'),
     stats(2, 3, 6) + stats(2, -49, -99) + stats(1, 5, 5) + stats(2, 7, 15)
     + avg_blank("@k[z]: { .count = 2, .average = 7, .total = 15 }")
     + avg_blank("@st: { .count = 2, .average = 3, .total = 6 }")),
    # --- hist
    ("hist_small_and_negative",
     begin("@h = hist(-1); @h = hist(-100); @h = hist(0); @h = hist(1); @h = hist(2);"
           " @h = hist(3); @h = hist(4); @h = hist(7); @h = hist(8); @h = hist(8);"),
     heading("@h")),
    ("hist_single_buckets", begin("@z = hist(0); @n = hist(-5); @n = hist(-6); @o = hist(1);"
                                  " @t = hist(3);"), heading("@z", "@n", "@o", "@t")),
    ("hist_suffixes_up_to_1G",
     begin("@h = hist(1024); @h = hist(2047); @h = hist(1048576); @h = hist(1572864);"
           " @h = hist(1073741824); @h = hist(1073741823); @k = hist(1000); @k = hist(1025);"),
     heading("@h", "@k")),
    # HIST_64: 0.17 computed the bucket on 32 bits; each map holds one value so that the
    # rewrite is one label.
    ("hist_from_2G", begin("@a = hist(2147483648); @b = hist(4294967296);"
                           " @c = hist(1099511627776); @d = hist(1125899906842624);"
                           " @e = hist(1152921504606846976); @f = hist(4294967295);"),
     [("@b: \n[2G, 4G)", "@b: \n[4G, 8G)"), ("@c: \n[2G, 4G)", "@c: \n[1T, 2T)"),
      ("@d: \n[2G, 4G)", "@d: \n[1P, 2P)"), ("@e: \n[2G, 4G)", "@e: \n[1E, 2E)")]
     + heading("@a", "@b", "@c", "@d", "@e", "@f")),
    ("hist_keyed_by_total", begin('@h["a"] = hist(1); @h["a"] = hist(2); @h["b"] = hist(8);'
                                  ' @h["c"] = hist(1); @h["c"] = hist(1); @h["c"] = hist(64);'
                                  ' @t[1, "x"] = hist(-1);'),
     heading("@h[a]", "@h[b]", "@h[c]", "@t[1, x]")),
    # --- lhist: below min, at min, at max - 1, at max, above max
    ("lhist_edges", begin("@l = lhist(-3, 0, 10, 2); @l = lhist(0, 0, 10, 2);"
                          " @l = lhist(1, 0, 10, 2);"
                          " @l = lhist(9, 0, 10, 2); @l = lhist(10, 0, 10, 2);"
                          " @l = lhist(11, 0, 10, 2); @l = lhist(1000, 0, 10, 2);"), heading("@l")),
    ("lhist_one_sided", begin("@over = lhist(100, 0, 10, 5); @under = lhist(-1, 0, 10, 5);"
                              " @at_max = lhist(10, 0, 10, 5); @k[\"x\"] = lhist(7, 5, 15, 5);"
                              ' @k["y"] = lhist(7, 5, 15, 5); @k["y"] = lhist(14, 5, 15, 5);'
                              ' @k["y"] = lhist(4, 5, 15, 5);'),
     heading("@over", "@under", "@at_max", "@k[x]", "@k[y]")),
    ("lhist_step_one", begin("@l = lhist(3, 1, 4, 1); @l = lhist(0, 1, 4, 1);"
                             " @l = lhist(4, 1, 4, 1);"
                             " @l = lhist(2, 1, 4, 1); @l = lhist(2, 1, 4, 1);"),
     heading("@l") + bucket("[1, 2)", "[1]") + bucket("[2, 3)", "[2]") + bucket("[3, 4)", "[3]")),
    ("lhist_suffixes", begin("@l = lhist(2048, 0, 8192, 1024); @l = lhist(8191, 0, 8192, 1024);"
                             " @l = lhist(8192, 0, 8192, 1024);"
                             " @m = lhist(1048576, 0, 4194304, 1048576);"
                             " @m = lhist(5000000, 0, 4194304, 1048576);"
                             " @n = lhist(1500, 0, 3000, 1000);"), heading("@l", "@m", "@n")),
    # --- keys, and the order of maps at exit
    ("maps_in_name_order", begin("@b = 1; @ = 2; @B = 3; @_u = 4; @a1 = 5; @a = 6; @a_b = 7;"
                                 " @ab = 8; @Z = 9; @h = hist(1); @c = count(); @s[1] = sum(2);"),
     heading("@h")),
    ("tuple_keys", begin('@t[1, "a"] = count(); @t[1, "a"] = count(); @t[2, "b"] = count();'
                         " @u[3, 4, 5] = sum(7); @u[-1, 0, 1] = sum(2);"
                         ' @w["x", -2] = min(-2); @w["y", 3] = min(3);'),
     reorder(["@w[x, -2]: -2", "@w[y, 3]: 3"], ["@w[y, 3]: 3", "@w[x, -2]: -2"])),
    ("string_keys", begin('@s["b"] = sum(2); @s["a"] = sum(1); @s["c"] = sum(3);'
                          ' @s["a b"] = sum(-1); @c[""] = count(); @c["x"] = count();'
                          ' @c["x"] = count();'), []),
    ("string_values_signed_keys",
     begin('@s[3] = "c"; @s[-1] = "z"; @s[10] = "a"; @s[2] = "b";'
           ' @i[(int16)-3] = "a"; @i[(int16)5] = "b"; @i[(int16)-9] = "c";'),
     reorder(["@i[5]: b", "@i[-9]: c", "@i[-3]: a"], ["@i[-9]: c", "@i[-3]: a", "@i[5]: b"])
     + reorder(["@s[2]: b", "@s[3]: c", "@s[10]: a", "@s[-1]: z"],
               ["@s[-1]: z", "@s[2]: b", "@s[3]: c", "@s[10]: a"])),
    ("tuple_values_signed_keys",
     begin('@t[2, "a"] = (1, "x"); @t[1, "b"] = (2, "y"); @t[1, "a"] = (3, "z");'
           ' @t[-5, "q"] = (4, "w"); @k["b", 2] = "x"; @k["a", 9] = "y"; @k["b", 1] = "z";'),
     reorder(["@t[1, a]: (3, z)", "@t[1, b]: (2, y)", "@t[2, a]: (1, x)", "@t[-5, q]: (4, w)"],
             ["@t[-5, q]: (4, w)", "@t[1, a]: (3, z)", "@t[1, b]: (2, y)", "@t[2, a]: (1, x)"])),
    ("increments", begin("@x = 1; @x++; @y[1]++; @y[1] += 5; @z--; @w[2] = 7; @w[2] -= 10;"), []),
    # --- print(@m[, top[, div]])
    ("print_values_top_div", begin('@m["a"] = 10; @m["b"] = 20; @m["c"] = 35; @m["d"] = 5;'
                                   " print(@m); print(@m, 2); print(@m, 3, 10); print(@m, 0, 3);"
                                   " print(@m, 9); print(@m, 1, 0);"), []),
    ("print_counts_top_div", begin("@c[1] = count(); @c[2] = count(); @c[2] = count();"
                                   " @c[3] = count(); @c[3] = count(); @c[3] = count();"
                                   " print(@c); print(@c, 2); print(@c, 1, 2); print(@c, 0, 0);"),
     []),
    ("print_sums_top_div", begin("@s[1] = sum(100); @s[2] = sum(250); @s[3] = sum(-40);"
                                 " print(@s, 2, 10); print(@s, 0, 10); print(@s);"), []),
    ("print_minmax_top", begin("@m[1] = max(5); @m[2] = max(3); @m[3] = max(100); @n[1] = min(5);"
                               " @n[2] = min(3); @n[3] = min(100); print(@m, 2); print(@n, 1, 2);"),
     []),
    ("print_hists_top_div",
     begin('@h["a"] = hist(4); @h["a"] = hist(4); @h["a"] = hist(16); @h["a"] = hist(16);'
           ' @h["a"] = hist(16); @h["a"] = hist(16); @h["b"] = hist(1); @h["c"] = hist(1000);'
           ' @h["c"] = hist(1000); print(@h); print(@h, 1); print(@h, 2, 2);'),
     heading("@h[a]", "@h[b]", "@h[c]")),
    ("print_hist_div_bars", begin("@h = hist(5); @h = hist(5); @h = hist(5); @h = hist(50);"
                                  " print(@h, 0, 2); print(@h, 0, 4);"),
     # DIV_BARS: counts 3 and 1 divided by 2 are 1 and 0, by 4 both 0 (a 0 bar everywhere).
     [("[32, 64)               0 |" + "@" * 17 + " " * 35 + "|",
       "[32, 64)               " + BAR_ZERO),
      ("[4, 8)                 0 |" + "@" * 52 + "|", "[4, 8)                 " + BAR_ZERO)]
     + heading("@h")),
    # N.B. div has no effect on linear histograms, in both versions.
    ("print_lhist_top_div", begin("@l[1] = lhist(5, 0, 100, 10); @l[1] = lhist(5, 0, 100, 10);"
                                  " @l[2] = lhist(50, 0, 100, 10); print(@l, 1, 2);"),
     heading("@l[1]", "@l[2]")),
    ("print_scalar_aggregations", begin("@s = hist(3); @t = count(); @u = sum(-4); @v = stats(2);"
                                        " @w = avg(9); print(@s); print(@t); print(@u); print(@v);"
                                        " print(@w);"),
     heading("@s") + stats(1, 2, 2) + avg_blank("@v: { .count = 1, .average = 2, .total = 2 }")
     + avg_blank("@w: 9")),
    ("print_stats_top_div", begin('@s["a"] = stats(10); @s["b"] = stats(30); @s["c"] = stats(20);'
                                  ' print(@s, 2); print(@s, 0, 10); @a["a"] = avg(10);'
                                  ' @a["b"] = avg(30); print(@a, 1, 10);'),
     # STATS_TOP_DIV: 0.17 printed all three entries, undivided, twice.
     [("@s[a]: count 1, average 10, total 10\n@s[c]: count 1, average 20, total 20\n"
       "@s[b]: count 1, average 30, total 30\n\n@s[a]: count 1, average 10, total 10\n"
       "@s[c]: count 1, average 20, total 20\n@s[b]: count 1, average 30, total 30\n\n@a[b]",
       "@s[c]: count 1, average 20, total 20\n@s[b]: count 1, average 30, total 30\n"
       "@s[a]: count 1, average 1, total 10\n@s[c]: count 1, average 2, total 20\n"
       "@s[b]: count 1, average 3, total 30\n@a[b]")]
     + stats(1, 10, 10) + stats(1, 20, 20) + stats(1, 30, 30) + stats(1, 1, 10) + stats(1, 2, 20)
     + stats(1, 3, 30) + avg_blank("@a[b]: 3") + avg_blank("@a[b]: 30")
     + avg_blank("@s[b]: { .count = 1, .average = 30, .total = 30 }")),
    # print() is handled when user space reads the event, after BEGIN: it shows @a[2].
    ("print_after_delete", begin("@a[1] = 10; delete(@a[1]); print(@a); @a[2] = 20;"), []),
    # --- clear, zero, delete
    ("clear", begin("@a[1] = 1; @a[2] = 2; @b = 5; @c[1] = hist(1); @d = count(); @e = 7;"
                    " clear(@a); zero(@b); clear(@c); clear(@d);"),
     # EMPTY: @a and @c; a cleared scalar map (@d) is zeroed, in both versions.
     [("\n\n\n@b: 0\n\n@d: 0\n", "\n\n@b: 0\n@d: 0\n")]),
    ("zero", begin('@a[1] = 1; @b = count(); @b = count(); @c["x"] = hist(8); @d = stats(5);'
                   " @e = avg(4); @f[2] = sum(-3); @g = lhist(3, 0, 10, 1); @h = max(4);"
                   " zero(@a); zero(@b); zero(@c); zero(@d); zero(@e); zero(@f); zero(@g);"
                   " zero(@h);"),
     heading("@c[x]", "@g") + stats(0, 0, 0)
     + avg_blank("@d: { .count = 0, .average = 0, .total = 0 }") + avg_blank("@e: 0")),
    ("delete", begin('@a[1] = 1; @a[2] = 2; @a[3] = 3; delete(@a[2]); @t[1, "x"] = 4;'
                     ' @t[2, "y"] = 5; delete(@t[1, "x"]); @s = 9; delete(@s); @n[5] = 1;'
                     " delete(@n[6]);"),
     [("\n@n[5]: 1\n\n@t[2, y]", "\n@n[5]: 1\n@t[2, y]")]),  # EMPTY: @s
    # clear and zero act when user space reads their event, after BEGIN: @a ends empty, @c 0.
    ("clear_then_reuse", begin("@a[1] = 1; clear(@a); @a[2] = 2; @c = count(); zero(@c);"
                               " @c = count();"), [("\n\n\n@c: 0\n", "\n\n@c: 0\n")]),  # EMPTY
]


@pytest.mark.parametrize("program, rewrites", [
    pytest.param(case[1], case[2], id=case[0], marks=case[3] if len(case) > 3 else ())
    for case in BEGIN_CASES])
def test_begin_program(run_bpftrace, run_tracer, as_026, program, rewrites):
    want, got = run_both(run_bpftrace, run_tracer, ("-e", program))
    assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (0, as_026(want.stdout, rewrites)), got.stderr


# ---- workloads ----------------------------------------------------------------------------------

GETPPID = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/"
# Only the fds the workload was given (> 999 as an unsigned int, so negative ones are in).
CLOSE = "tracepoint:syscalls:sys_enter_close /pid == cpid && args->fd > 999/"
# tk_cpus: fds -1000..-1 closed on CPU 0 and 5000..7999 on CPU 1, at the same time.
CPUS = ('tracepoint:syscalls:sys_enter_close'
        ' /comm == "tk_cpus" && ((int32)args->fd < 0 || args->fd >= 5000)/')

# (id, program, workload and its arguments, rewrites[, marks])
WORKLOAD_CASES = [
    ("getppid_aggregations",
     # (0.17 evaluates lhist()'s value twice: a value with a side effect goes through $v.)
     GETPPID + " { @ = count(); @s = sum(2); @st = stats(100); $v = @m++; @l = lhist($v, 0, 10, 3);"
     " @mx = max(@m); @mn = min(@m); @a = avg(@m); @k[comm] = count(); }",
     ("tk_loop", "9"),
     heading("@l") + stats(9, 100, 900) + avg_blank("@a: 5")
     + avg_blank("@st: { .count = 9, .average = 100, .total = 900 }")),
    ("getppid_hist", GETPPID + " { @h = hist(@n++); @k[comm] = hist(@n * 100); }",
     ("tk_loop", "9"), heading("@h", "@k[tk_loop]")),
    ("close_lhist_chosen_fds",
     CLOSE + " { @l = lhist((int32)args->fd, 1000, 1100, 20);"
     " @k[(int32)args->fd] = sum((int32)args->fd);"
     " @s = sum((int32)args->fd); @mi = min((int32)args->fd); }",
     ("tk_close", "1000", "1019", "1020", "1020", "1099", "1100", "1200", "-1", "-1", "-1", "-1"),
     heading("@l")),
    ("close_hist_chosen_fds", CLOSE + " { @h = hist((int32)args->fd); }",
     ("tk_close", "1000", "1024", "2047", "1048576", "-1"), heading("@h")),
    ("print_and_clear_in_end",
     GETPPID + " { @c[@n++ < 2 ? 7 : 8] = count(); @t = sum(@n); } END { print(@c, 1);"
     " print(@t, 0, 5); clear(@c); zero(@t); }", ("tk_loop", "7"),
     [("\n\n\n\n@n: 7\n", "\n\n\n@n: 7\n")]),  # EMPTY: @c
]


@pytest.mark.parametrize("program, command, rewrites", [
    pytest.param(case[1], case[2], case[3], id=case[0], marks=case[4] if len(case) > 4 else ())
    for case in WORKLOAD_CASES])
def test_workload_program(run_bpftrace, run_tracer, workload, as_026, program, command, rewrites):
    name, *args = command
    cmd = " ".join([workload(name), *args])
    want, got = run_both(run_bpftrace, run_tracer, ("-c", cmd, "-e", program))
    assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.returncode, got.stdout) == (0, as_026(want.stdout, rewrites)), got.stderr


def test_aggregations_over_two_cpus(run_bpftrace, run_tracer, workload, as_026):
    """Per-CPU aggregations reduced over both CPUs: tk_cpus closes fds -1000..-1 on CPU 0 while
    it closes 5000..7999 on CPU 1. Run one tool after the other: each sees tk_cpus by name."""
    program = (CPUS + " { $fd = (int32)args->fd; @c = count(); @s = sum($fd); @mi = min($fd);"
               " @ma = max($fd); @a = avg($fd); @st = stats($fd); @l = lhist($fd, 0, 8000, 1000);"
               " @ks[$fd < 0 ? -1 : 1] = sum($fd); }")
    # No string chosen by ?: as a key: bpftrace 0.17 leaves the rest of such a key's buffer
    # uninitialised, so it prints hundreds of "@k[pos]" entries, differently on every run.
    want, got = run_both(run_bpftrace, run_tracer, ("-c", workload("tk_cpus"), "-e", program),
                         together=False)
    assert want.returncode == 0, f"bpftrace refused the program:\n{want.stderr}"
    rewrites = (heading("@l") + stats(4000, 4749, 18998000) + avg_blank("@a: 4749")
                + avg_blank("@st: { .count = 4000, .average = 4749, .total = 18998000 }"))
    assert (got.returncode, got.stdout) == (0, as_026(want.stdout, rewrites)), got.stderr
