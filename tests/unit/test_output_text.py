"""The text output format: bpftrace 0.26's bytes, exactly; and the order, top and div rules that
every format shares."""

from __future__ import annotations

import tempfile

import pytest

from tracer.layout import Layout, Record
from tracer.output import MapSnapshot, TextOutput
from tracer.histograms import linear_of, log2_of
from tracer.output.order import arrange
from tracer.output.text import bar_length, format_diagnostic
from tracer.values import Buffer, Stack, Stats
from tracer.types import StringType


class Captured:
    """An output writing to two temporary files, standing for stdout and stderr."""

    def __init__(self, cls=TextOutput):
        self._out = tempfile.TemporaryFile(buffering=0)
        self._err = tempfile.TemporaryFile(buffering=0)
        self.out = cls(self._out.fileno(), self._err.fileno())

    @staticmethod
    def _read(f) -> bytes:
        f.seek(0)
        return f.read()

    def bytes(self) -> bytes:
        self.out.flush()
        return self._read(self._out)

    def err(self) -> bytes:
        self.out.flush()
        return self._read(self._err)


@pytest.fixture
def cap():
    return Captured()


def map_bytes(snapshot: MapSnapshot, top: int = 0, div: int = 1) -> bytes:
    c = Captured()
    c.out.map(snapshot, top, div)
    return c.bytes()


def scalar(name, value, aggregation=""):
    return MapSnapshot(name, False, [(None, value)], aggregation)


def keyed(name, entries, aggregation=""):
    return MapSnapshot(name, True, list(entries), aggregation)


# ---- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("probes, expected", [
    (1, b"Attached 1 probe\n"),
    (2, b"Attached 2 probes\n"),
    (17, b"Attached 17 probes\n"),
])
def test_attached_goes_to_stderr(cap, probes, expected):
    cap.out.attached(probes)
    assert cap.err() == expected
    assert cap.bytes() == b""


def test_lost_events_go_to_stderr(cap):
    cap.out.lost_events(12)
    assert (cap.bytes(), cap.err()) == (b"", b"Lost 12 events\n")


def test_stderr_comes_after_pending_stdout(cap):
    cap.out.printf("before\n")
    cap.out.lost_events(1)
    assert cap._read(cap._out) == b"before\n"  # flushed by the write to stderr


def test_end_of_trace(cap):
    cap.out.end_of_trace()
    assert cap.bytes() == b"\n\n"


def test_printf_time_cat_are_written_as_is(cap):
    cap.out.printf("a\tb\n")
    cap.out.printf("no newline")
    cap.out.time("12:00:01\n")
    cap.out.cat("file text")
    assert cap.bytes() == b"a\tb\nno newline12:00:01\nfile text"


def test_join_and_system_add_a_newline(cap):
    cap.out.join("a,b")
    cap.out.system("out of the command\n")
    assert cap.bytes() == b"a,b\nout of the command\n\n"


@pytest.mark.parametrize("value, expected", [
    (5, b"5\n"),
    (-3, b"-3\n"),
    ("x", b"x\n"),
    (True, b"true\n"),
    ((1, "a"), b"(1, a)\n"),
    ((1, (2, "b"), False), b"(1, (2, b), false)\n"),
    (Record(("a", "b"), (1, "s")), b"{ .a = 1, .b = s }\n"),
    (Record((), ()), b"{}\n"),
    (Buffer(b"ok\x00\xff~"), b"ok\\x00\\xff~\n"),
    (Stack(("f1+1", "f2+20")), b"\n        f1+1\n        f2+20\n\n"),
    (Stack(("ffffffff81000000 f1+1",), "perf"), b"\n\tffffffff81000000 f1+1\n\n"),
    (Stack(("ffffffff81000000", "ffffffff81000010"), "raw"),
     b"\nffffffff81000000\nffffffff81000010\n\n"),
])
def test_print_of_a_value(cap, value, expected):
    cap.out.value(value)
    assert cap.bytes() == expected


def test_nothing_is_lost_between_writes(cap):
    cap.out.printf("x\n")
    cap.out.end_of_trace()
    cap.out.map(scalar("@a", 1))
    assert cap.bytes() == b"x\n\n\n@a: 1\n"


# ---- maps of plain values --------------------------------------------------------------------


@pytest.mark.parametrize("snapshot, expected", [
    (scalar("@a", 1), b"@a: 1\n"),
    (scalar("@", 7, "count"), b"@: 7\n"),
    (scalar("@neg", -5), b"@neg: -5\n"),
    (scalar("@u", 2**64 - 1), b"@u: 18446744073709551615\n"),
    (scalar("@s", "bash"), b"@s: bash\n"),
    (scalar("@b", False), b"@b: false\n"),
    (scalar("@t", (1, "a", (2, 3))), b"@t: (1, a, (2, 3))\n"),
    (scalar("@r", Record(("x", "y"), (1, 2))), b"@r: { .x = 1, .y = 2 }\n"),
    (scalar("@buf", Buffer(b"hi\n")), b"@buf: hi\\x0a\n"),
])
def test_scalar_map(snapshot, expected):
    assert map_bytes(snapshot) == expected


def test_keyed_map_sorted_by_value_ascending():
    assert map_bytes(keyed("@b", [(1, 2), (2, 1)])) == b"@b[2]: 1\n@b[1]: 2\n"


def test_count_map_sorted_by_value():
    snap = keyed("@", [("bash", 10), ("sshd", 2), ("cron", 5)], "count")
    assert map_bytes(snap) == b"@[sshd]: 2\n@[cron]: 5\n@[bash]: 10\n"


def test_negative_values_sort_first():
    snap = keyed("@v", [(1, 3), (2, -4), (3, 0)])
    assert map_bytes(snap) == b"@v[2]: -4\n@v[3]: 0\n@v[1]: 3\n"


@pytest.mark.parametrize("aggregation", ["min", "max"])
def test_min_and_max_sort_as_unsigned(aggregation):
    # bpftrace reads min/max values as unsigned to order them: a negative one sorts last.
    snap = keyed("@m", [(1, -1), (2, 5), (3, 0)], aggregation)
    assert map_bytes(snap) == b"@m[3]: 0\n@m[2]: 5\n@m[1]: -1\n"


def test_ties_are_ordered_by_key():
    snap = keyed("@b", [(3, 1), (1, 1), (2, 0), (10, 1)])
    assert map_bytes(snap) == b"@b[2]: 0\n@b[1]: 1\n@b[3]: 1\n@b[10]: 1\n"


def test_string_key_ties_are_ordered_by_key():
    snap = keyed("@c", [("zsh", 1), ("awk", 1), ("make", 1)], "count")
    assert map_bytes(snap) == b"@c[awk]: 1\n@c[make]: 1\n@c[zsh]: 1\n"


def test_tuple_keys_without_parentheses():
    snap = keyed("@t", [(("k", 5), 3), (("a", 1), 4)])
    assert map_bytes(snap) == b"@t[k, 5]: 3\n@t[a, 1]: 4\n"


def test_string_values_sorted_by_key():
    snap = keyed("@s", [("z", "aaa"), ("a", "zzz"), ("m", "mmm")])
    assert map_bytes(snap) == b"@s[a]: zzz\n@s[m]: mmm\n@s[z]: aaa\n"


def test_integer_keys_sort_as_signed_64_bit():
    # bpftrace 0.26 compares integer keys as int64: 2^64-1 is -1 and sorts before 0.
    snap = keyed("@s", [(5, "a"), (2**64 - 1, "b"), (0, "c"), (-3, "d")])
    assert map_bytes(snap) == b"@s[-3]: d\n@s[18446744073709551615]: b\n@s[0]: c\n@s[5]: a\n"


def test_several_keys_sort_field_by_field():
    snap = keyed("@s", [((2, "a"), "w"), ((1, "b"), "x"), ((1, "a"), "y"), ((1, "ab"), "z")])
    assert map_bytes(snap) == b"@s[1, a]: y\n@s[1, ab]: z\n@s[1, b]: x\n@s[2, a]: w\n"


def test_string_keys_sort_by_bytes():
    snap = keyed("@s", [("\udcff", 1), ("b", 1), ("é", 1), ("B", 1)], "count")
    assert map_bytes(snap) == "@s[B]: 1\n@s[b]: 1\n@s[é]: 1\n@s[\udcff]: 1\n".encode(
        "utf-8", "surrogateescape")


def test_bool_values_sorted_by_key():
    snap = keyed("@b", [(True, False), (False, True)])
    assert map_bytes(snap) == b"@b[false]: true\n@b[true]: false\n"


def test_a_string_key_in_parentheses_loses_them_as_bpftrace_does():
    assert map_bytes(keyed("@", [("(x)", 1)])) == b"@[x]: 1\n"


def test_tuple_values_and_nested_tuple_keys():
    snap = keyed("@t", [((1, ("x", 2)), (3, "y", (4, 5)))])
    assert map_bytes(snap) == b"@t[1, (x, 2)]: (3, y, (4, 5))\n"


def test_record_key():
    snap = keyed("@r", [(Record(("a",), (1,)), 2)])
    assert map_bytes(snap) == b"@r[{ .a = 1 }]: 2\n"


def test_stack_keys_and_values():
    stack = Stack(("f1+1", "f2+2"))
    assert map_bytes(keyed("@", [(stack, 3)], "count")) == \
        b"@[\n        f1+1\n        f2+2\n]: 3\n"
    # A stack value is followed by the entry's newline: a blank line after each (0.26).
    assert map_bytes(keyed("@", [("bash", stack)])) == \
        b"@[bash]: \n        f1+1\n        f2+2\n\n"


@pytest.mark.parametrize("snap", [MapSnapshot("@e", True, []), MapSnapshot("@e", False, []),
                                  MapSnapshot("@h", False, [], "hist"),
                                  MapSnapshot("@s", True, [], "stats")])
def test_empty_map_prints_nothing(snap):
    assert map_bytes(snap) == b""


def test_maps_one_after_another():
    c = Captured()
    c.out.map(scalar("@a", 1))
    c.out.map(keyed("@b", [(1, 2), (2, 1)]))
    assert c.bytes() == b"@a: 1\n@b[2]: 1\n@b[1]: 2\n"


# ---- stats and avg ------------------------------------------------------------------------------


def test_stats_print_as_a_record():
    assert map_bytes(scalar("@s", Stats(3, 63), "stats")) == \
        b"@s: { .count = 3, .average = 21, .total = 63 }\n"


def test_stats_average_truncates_toward_zero():
    assert map_bytes(scalar("@s", Stats(3, -10), "stats")) == \
        b"@s: { .count = 3, .average = -3, .total = -10 }\n"


def test_stats_map_sorted_by_average():
    snap = keyed("@s", [("a", Stats(1, 10)), ("b", Stats(4, 8)), ("c", Stats(2, 10))], "stats")
    assert map_bytes(snap) == (b"@s[b]: { .count = 4, .average = 2, .total = 8 }\n"
                               b"@s[c]: { .count = 2, .average = 5, .total = 10 }\n"
                               b"@s[a]: { .count = 1, .average = 10, .total = 10 }\n")


def test_empty_stats_average_is_zero():
    assert map_bytes(scalar("@s", Stats(0, 0), "stats")) == \
        b"@s: { .count = 0, .average = 0, .total = 0 }\n"


# ---- histograms ------------------------------------------------------------------------------

HIST_TXT = (  # bpftrace 0.26's tests/runtime/outputs/hist.txt
    b"@:\n"
    b"(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
    b"[0]                    0 |                                                    |\n"
    b"[1]                    0 |                                                    |\n"
    b"[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
    b"[4, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
    b"[8, 16)                0 |                                                    |\n"
    b"[16, 32)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
    b"\n")

LHIST_TXT = (  # bpftrace 0.26's tests/runtime/outputs/lhist.txt
    b"@:\n"
    b"(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
    b"[0, 2)                 0 |                                                    |\n"
    b"[2, 4)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
    b"[4, 6)                 0 |                                                    |\n"
    b"[6, 8)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
    b"[8, 10)                0 |                                                    |\n"
    b"[10, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |\n"
    b"\n")


def test_hist_as_bpftrace_026_tests_expect():
    assert map_bytes(scalar("@", log2_of([-1, 2, 3, 7, 20]), "hist")) == HIST_TXT


def test_lhist_as_bpftrace_026_tests_expect():
    assert map_bytes(scalar("@", linear_of([2, 3, 7, -1, 11], 0, 10, 2), "lhist")) == LHIST_TXT


def _labels(out: bytes) -> list[str]:
    return [line[:16].strip() for line in out.decode().splitlines()[1:] if line]


def test_hist_suffixes_up_to_exa():
    out = map_bytes(scalar("@", log2_of([1023, 10 * 2**30, 2**62]), "hist"))
    labels = _labels(out)
    assert labels[0] == "[512, 1K)" and "[8G, 16G)" in labels and labels[-1] == "[4E, 8E)"


@pytest.mark.parametrize("bits, values, expected", [
    (0, [0, 1], ["[0]", "[1]"]),
    (2, [0, 7], ["[0]", "[1]", "[2]", "[3]", "[4]", "[5]", "[6]", "[7]"]),
    (2, [8, 15], ["[8, 10)", "[10, 12)", "[12, 14)", "[14, 16)"]),
    (2, [1000, 5000], None),  # checked below: plain numbers until the power reaches 1024
    (3, [16, 17, 18], ["[16, 18)", "[18, 20)"]),
    # The suffix follows the power of two of the bucket's size, not the bound's magnitude.
    (1, [2**40 + 1], ["[1024G, 1536G)"]),
])
def test_hist_bits_labels(bits, values, expected):
    labels = _labels(map_bytes(scalar("@", log2_of(values, bits), "hist")))
    if expected is None:
        assert labels[0] == "[896, 1024)" and labels[-1] == "[4K, 5K)"
        assert "[3584, 4K)" in labels
    else:
        assert labels == expected


def test_lhist_of_step_one_shows_single_values():
    out = map_bytes(scalar("@l", linear_of([5, 7], 0, 10, 1), "lhist"))
    assert _labels(out) == ["[5]", "[6]", "[7]"]


def test_lhist_labels_with_suffixes_only_for_steps_of_1024():
    assert _labels(map_bytes(scalar("@", linear_of([0, 2048], 0, 4096, 1024)))) == \
        ["[0, 1K)", "[1K, 2K)", "[2K, 3K)"]
    assert _labels(map_bytes(scalar("@", linear_of([1024], 0, 4096, 512)))) == ["[1024, 1536)"]
    assert _labels(map_bytes(scalar("@", linear_of([-2048], -2048, 2**21, 2**20)))) == \
        ["[-2K, 1022K)"]


def test_lhist_overflow_only():
    assert _labels(map_bytes(scalar("@", linear_of([50], 0, 10, 5)))) == ["[10, ...)"]


def test_keyed_hists_sorted_by_total_each_followed_by_a_blank_line():
    snap = keyed("@h", [("b", log2_of([4, 4])), ("a", log2_of([1]))], "hist")
    out = map_bytes(snap)
    assert out == (b"@h[a]:\n[1]                    1 |" + b"@" * 52 + b"|\n\n"
                   b"@h[b]:\n[4, 8)                 2 |" + b"@" * 52 + b"|\n\n")


def test_zeroed_hist_prints_its_heading_and_a_blank_line():
    assert map_bytes(scalar("@z", log2_of([]), "hist")) == b"@z:\n\n"
    assert map_bytes(keyed("@z", [(1, linear_of([], 0, 10, 1))], "lhist")) == b"@z[1]:\n\n"


@pytest.mark.parametrize("count, largest, expected", [
    (1, 2, 26), (2, 2, 52), (0, 5, 0), (1, 3, 17), (2, 3, 34), (1, 7, 7), (3, 7, 22),
    (5, 0, 0),
])
def test_bar_length(count, largest, expected):
    assert bar_length(count, largest) == expected


def test_bar_length_is_single_precision():
    # In doubles 15 / 26 * 52 is 29.999999999999996; bpftrace computes in floats, which round to
    # 30 (bpftrace 0.17 draws 30 @ for counts 15 and 26).
    assert 15 / 26 * 52 < 30
    assert bar_length(15, 26) == 30
    assert bar_length(15, 52) == 15 and bar_length(90, 156) == 30


# ---- top and div ------------------------------------------------------------------------------


def test_top_keeps_the_largest():
    snap = keyed("@", [("a", 1), ("b", 2), ("c", 3), ("d", 4)])
    assert map_bytes(snap, top=2) == b"@[c]: 3\n@[d]: 4\n"
    assert map_bytes(snap, top=10) == b"@[a]: 1\n@[b]: 2\n@[c]: 3\n@[d]: 4\n"
    assert map_bytes(snap, top=0) == map_bytes(snap)


def test_div_truncates_toward_zero():
    snap = keyed("@", [("a", 25), ("b", -25), ("c", 9)])
    assert map_bytes(snap, div=10) == b"@[b]: -2\n@[c]: 0\n@[a]: 2\n"
    assert map_bytes(snap, div=0) == map_bytes(snap)  # 0 counts as 1


def test_avg_map_top_and_div_as_bpftrace_026_tests_expect():
    snap = keyed("@", [("a", 10), ("b", 20), ("c", 30), ("d", 40)], "avg")
    assert map_bytes(snap, 2, 10) == b"@[c]: 3\n@[d]: 4\n"
    assert map_bytes(snap, 10, 10) == b"@[a]: 1\n@[b]: 2\n@[c]: 3\n@[d]: 4\n"


def test_div_reaches_into_tuples_but_not_strings_or_keys():
    snap = keyed("@", [(100, (50, "x", Record(("n",), (70,))))])
    assert map_bytes(snap, div=10) == b"@[100]: (5, x, { .n = 7 })\n"


def test_div_divides_a_stats_average_only():
    assert map_bytes(scalar("@s", Stats(2, 100), "stats"), div=10) == \
        b"@s: { .count = 2, .average = 5, .total = 100 }\n"


def test_div_divides_log2_counts_but_not_lhist_counts():
    # Which buckets show is decided before dividing: the bucket of 1 stays, with 0.
    hist = log2_of([1] + [8] * 40)
    out = map_bytes(scalar("@h", hist, "hist"), div=20).decode().splitlines()
    assert out[1].startswith("[1]                    0 |")
    assert out[-2].startswith("[8, 16)                2 |" + "@" * 52)
    lhist = linear_of([3] * 40, 0, 10, 1)
    assert b"      40 |" in map_bytes(scalar("@l", lhist, "lhist"), div=20)


def test_top_on_hist_maps_keeps_the_largest_totals():
    snap = keyed("@", [(1, log2_of([10])), (2, log2_of([20, 20])), (3, log2_of([30] * 3))],
                 "hist")
    heads = [line for line in map_bytes(snap, top=2).decode().splitlines() if line.startswith("@")]
    assert heads == ["@[2]:", "@[3]:"]


def test_arrange_orders_hist_ties_by_key():
    snap = keyed("@", [(2, log2_of([1])), (1, log2_of([9]))], "hist")
    assert [k for k, _ in arrange(snap)] == [1, 2]


# ---- diagnostics ------------------------------------------------------------------------------


def test_diagnostic_with_source_quotes_the_line(cap):
    program = "BEGIN { @x = 1; delete(@y[1]); }"
    cap.out.diagnostic("warning", "Can't delete map element because it does not exist.",
                       "stdin", 1, 17, program, end_col=30)
    assert cap.err() == (b"stdin:1:17: WARNING: Can't delete map element because it does not "
                         b"exist.\nBEGIN { @x = 1; delete(@y[1]); }\n"
                         b"                ~~~~~~~~~~~~~\n")
    assert cap.bytes() == b""


def test_diagnostic_without_source_is_one_line():
    assert format_diagnostic("error", "boom\n", "prog.bt", 3, 5) == "prog.bt:3:5: ERROR: boom"
    assert format_diagnostic("warning", "no place") == "WARNING: no place"


def test_snapshot_rejects_the_old_signature():
    with pytest.raises(TypeError):
        MapSnapshot("@x", object(), None, [])


# ---- bytes that are not UTF-8 ----------------------------------------------------------------


def test_non_utf8_value_round_trips_through_layout():
    (value,) = Layout.of([StringType(8)]).decode(b"\xff" + b"\0" * 7)
    assert map_bytes(scalar("@s", value)) == b"@s: \xff\n"


def test_non_utf8_key_round_trips_through_layout():
    (key,) = Layout.of([StringType(16)]).decode(b"a\xfe\xffb" + b"\0" * 12)
    assert map_bytes(keyed("@k", [(key, 3)], "count")) == b"@k[a\xfe\xffb]: 3\n"


def test_non_utf8_printf_text(cap):
    cap.out.printf(b"\x80x\xc3\n".decode("utf-8", "surrogateescape"))
    assert cap.bytes() == b"\x80x\xc3\n"


def test_utf8_text_is_written_as_utf8(cap):
    cap.out.printf("é→\n")
    assert cap.bytes() == "é→\n".encode("utf-8")


# ---- bucket indexes ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(6))
def test_log2_histogram_buckets_hold_their_values(bits):
    from tracer.histograms import log2_bucket_count, log2_histogram, log2_index

    hist = log2_histogram([], bits)
    assert len(hist.buckets) == log2_bucket_count(bits)
    for value in (-5, 0, 1, 2, 3, 1000, 2**40 + 12345, 2**63 - 1):
        bucket = hist.buckets[log2_index(value, bits)]
        assert (bucket.lo is None or bucket.lo <= value) and value < bucket.hi


def test_the_kernel_side_numbers_buckets_as_the_histograms_do(tmp_path):
    """The C the probes fold hist() and lhist() with, compiled and run here, must put every
    value in the bucket ``tracer.histograms`` says."""
    import shutil
    import subprocess
    from tracer.functions.aggregations import LINEAR_C, LOG2_C
    from tracer.histograms import linear_index, log2_index

    gcc = shutil.which("gcc")
    assert gcc is not None, "gcc is not installed; scripts/setup installs it"
    values = [-(2**63), -7, -1, 0, 1, 2, 3, 4, 5, 7, 8, 100, 1023, 1024, 1025, 2**31, 2**40 + 9,
              2**62 + 3, 2**63 - 1]
    lines = [f"  v = {v}LL;"
             + "".join(f' printf("%llu ", (unsigned long long)tracer_log2(v, {k}));'
                       for k in range(6))
             + ' printf("%llu %llu\\n", (unsigned long long)tracer_linear(v, -10, 100, 7),'
               ' (unsigned long long)tracer_linear(v, 0, 4096, 1024));'
             for v in values]
    source = ("#include <stdio.h>\ntypedef long long s64; typedef unsigned long long u64;\n"
              "#define __always_inline inline\n" + LOG2_C + "\n" + LINEAR_C +
              "\nint main(void) {\n  s64 v;\n" + "\n".join(lines) + "\n  return 0;\n}\n")
    (tmp_path / "buckets.c").write_text(source.replace("-9223372036854775808LL",
                                                       "(-9223372036854775807LL - 1)"))
    subprocess.run([gcc, "-O1", "-o", str(tmp_path / "buckets"), str(tmp_path / "buckets.c")],
                   check=True)
    out = subprocess.run([str(tmp_path / "buckets")], capture_output=True, text=True, check=True)
    want = "".join(" ".join([*(str(log2_index(v, k)) for k in range(6)),
                             str(linear_index(v, -10, 100, 7)),
                             str(linear_index(v, 0, 4096, 1024))]) + "\n" for v in values)
    assert out.stdout == want


def test_linear_index_puts_values_in_their_bucket():
    from tracer.histograms import linear_histogram, linear_index

    hist = linear_histogram([], 0, 10, 3)  # a last, partial step: [9, ...)
    assert [(b.lo, b.hi) for b in hist.buckets] == \
        [(None, 0), (0, 3), (3, 6), (6, 9), (9, None)]
    assert [linear_index(v, 0, 10, 3) for v in (-1, 0, 5, 9, 10, 11)] == [0, 1, 2, 4, 4, 4]
