"""The JSON output format (-f json): bpftrace 0.26's bytes, and the same as parsed objects."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from tracer.layout import Record
from tracer.output import JsonOutput, MapSnapshot
from tracer.histograms import linear_of, log2_of
from tracer.output.jsonl import json_int, json_string
from tracer.values import Buffer, Stack, Stats


class Captured:
    def __init__(self):
        self._out = tempfile.TemporaryFile(buffering=0)
        self._err = tempfile.TemporaryFile(buffering=0)
        self.out = JsonOutput(self._out.fileno(), self._err.fileno())

    def _read(self, f) -> bytes:
        self.out.flush()
        f.seek(0)
        return f.read()

    def bytes(self) -> bytes:
        return self._read(self._out)

    def err(self) -> bytes:
        return self._read(self._err)


@pytest.fixture
def cap():
    return Captured()


def emitted(call) -> bytes:
    c = Captured()
    call(c.out)
    return c.bytes()


def map_line(snapshot, top=0, div=1) -> bytes:
    return emitted(lambda out: out.map(snapshot, top, div))


def parsed(line: bytes):
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    return json.loads(line)


def scalar(name, value, aggregation=""):
    return MapSnapshot(name, False, [(None, value)], aggregation)


def keyed(name, entries, aggregation=""):
    return MapSnapshot(name, True, list(entries), aggregation)


# ---- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("method, text, expected", [
    ("printf", "hi 3\n", b'{"type": "printf", "data": "hi 3\\n"}\n'),
    ("time", "12:00:01\n", b'{"type": "time", "data": "12:00:01\\n"}\n'),
    ("cat", "0.5 1.0\n", b'{"type": "cat", "data": "0.5 1.0\\n"}\n'),
    ("join", "/bin/echo,'A'", b'{"type": "join", "data": "/bin/echo,\'A\'"}\n'),
    ("system", "a b c\n", b'{"type": "syscall", "data": "a b c\\n"}\n'),
])
def test_text_messages(method, text, expected):
    line = emitted(lambda out: getattr(out, method)(text))
    assert line == expected
    assert parsed(line)["data"] == text


def test_printf_escaping_as_bpftrace_026_tests_expect(cap):
    cap.out.printf('test \r \n \t \\ " bar')
    assert cap.bytes() == b'{"type": "printf", "data": "test \\r \\n \\t \\\\ \\" bar"}\n'


def test_control_characters_are_unicode_escapes():
    assert json_string("\x01\x1f\x7f") == '"\\u0001\\u001f\x7f"'


def test_high_bytes_escaped_as_signed_chars():
    # bpftrace 0.17 and 0.26 on x86-64 write (int)(char)0xc3 in hex: "\uffffffc3".
    assert json_string("é") == '"\\uffffffc3\\uffffffa9"'
    assert json_string("\udcff") == '"\\uffffffff"'


def test_attached_probes_on_stdout_with_count(cap):
    cap.out.attached(3)
    assert cap.bytes() == b'{"type": "attached_probes", "count": 3, "data": {"probes": 3}}\n'
    assert cap.err() == b""


def test_lost_events_on_stdout_with_count(cap):
    cap.out.lost_events(9)
    line = cap.bytes()
    assert line == b'{"type": "lost_events", "count": 9, "data": {"events": 9}}\n'
    assert parsed(line) == {"type": "lost_events", "count": 9, "data": {"events": 9}}


def test_end_of_trace_prints_nothing(cap):
    cap.out.end_of_trace()
    assert cap.bytes() == b""


@pytest.mark.parametrize("value, expected", [
    (5, b"5"),
    ("bpftrace", b'"bpftrace"'),
    ((1, 2, "string"), b'[1,2,"string"]'),
    ((True, False), b"[true,false]"),
    (Record(("m", "n"), (2, 3)), b'{"m": 2, "n": 3}'),
    (Record(("y", "a"), (Record(("m",), ((2,),)), Record(("n",), (3,)))),
     b'{"y": {"m": [2]}, "a": {"n": 3}}'),
    (Record((), ()), b"{}"),
    (Buffer(b"hi\x00\xff"), b"[104,105,0,-1]"),
    (Stack(("f1+1", "f2+2")), b'"\\n        f1+1\\n        f2+2\\n"'),
    (2**64 - 1, b'"18446744073709551615"'),
])
def test_value(value, expected):
    line = emitted(lambda out: out.value(value))
    assert line == b'{"type": "value", "data": ' + expected + b"}\n"
    assert parsed(line)["data"] == json.loads(expected)


@pytest.mark.parametrize("number, text", [
    (0, "0"), (-1, "-1"), (2**53, "9007199254740992"), (2**53 + 1, '"9007199254740993"'),
    (2**63, "9223372036854775808"), (-2**63, "-9223372036854775808"),
    (2**63 - 1, '"9223372036854775807"'), (2**64 - 2048, "18446744073709549568"),
])
def test_integers_a_double_cannot_hold_are_strings(number, text):
    assert json_int(number) == text


# ---- maps -------------------------------------------------------------------------------------


def test_scalar_map():
    assert map_line(scalar("@scalar", 5)) == b'{"type": "map", "data": {"@scalar": 5}}\n'


def test_scalar_string_map():
    line = map_line(scalar("@scalar_str", "a b \n d e"))
    assert line == b'{"type": "map", "data": {"@scalar_str": "a b \\n d e"}}\n'
    assert parsed(line) == {"type": "map", "data": {"@scalar_str": "a b \n d e"}}


def test_keyed_map_in_value_order():
    line = map_line(keyed("@map", [("key2", 3), ("key1", 2)]))
    assert line == b'{"type": "map", "data": {"@map": {"key1": 2, "key2": 3}}}\n'


def test_several_keys_joined_by_commas_without_spaces():
    line = map_line(keyed("@complex", [(("bpftrace", 2), 5)]))
    assert line == b'{"type": "map", "data": {"@complex": {"bpftrace,2": 5}}}\n'


def test_spaces_are_removed_from_keys():
    # bpftrace 0.26 erases every space of a key's text, inside strings too.
    line = map_line(keyed("@t", [((1, "a b"), 3), (Stack(("f1+1",)), 4)]))
    assert parsed(line)["data"]["@t"] == {"1,ab": 3, "\nf1+1\n": 4}


def test_tuple_and_record_values():
    line = map_line(scalar("@", (1, 2, "string", (4, 5))))
    assert line == b'{"type": "map", "data": {"@": [1,2,"string",[4,5]]}}\n'
    line = map_line(scalar("@a", Record(("a", "d", "e"), (0, (5, 6), Record(("x",), (1,))))))
    assert line == b'{"type": "map", "data": {"@a": {"a": 0, "d": [5,6], "e": {"x": 1}}}}\n'


def test_empty_maps_are_skipped():
    assert map_line(keyed("@e", [])) == b""
    assert map_line(MapSnapshot("@h", False, [], "hist")) == b""


def test_empty_stats_map_is_an_empty_object():
    assert map_line(MapSnapshot("@s", True, [], "stats")) == \
        b'{"type": "stats", "data": {"@s": {}}}\n'


def test_stats():
    line = map_line(scalar("@stats", Stats(2, 12), "stats"))
    assert line == b'{"type": "stats", "data": {"@stats": {"count": 2, "average": 6, "total": 12}}}\n'


def test_keyed_stats():
    snap = keyed("@stats", [("zsh", Stats(1, 10)), ("curl", Stats(1, 2))], "stats")
    assert map_line(snap) == (b'{"type": "stats", "data": {"@stats": {'
                              b'"curl": {"count": 1, "average": 2, "total": 2}, '
                              b'"zsh": {"count": 1, "average": 10, "total": 10}}}}\n')


def test_avg_maps_are_stats_with_top_and_div_as_bpftrace_026_tests_expect():
    snap = keyed("@", [("a", 10), ("b", 20), ("c", 30), ("d", 40)], "avg")
    assert map_line(snap, 2, 10) == b'{"type": "stats", "data": {"@": {"c": 3, "d": 4}}}\n'
    assert map_line(snap, 10, 10) == \
        b'{"type": "stats", "data": {"@": {"a": 1, "b": 2, "c": 3, "d": 4}}}\n'


def test_count_maps_are_maps():
    assert map_line(scalar("@c", 2, "count")) == b'{"type": "map", "data": {"@c": 2}}\n'


# ---- histograms -------------------------------------------------------------------------------

OUTPUTS = "tests/runtime/outputs"
REPO = Path("/work/.mirror/bpftrace+bpftrace/repo")


def bpftrace_026_expected(name: str):
    """One of bpftrace 0.26's expected JSON files, parsed, if its sources are at hand."""
    if not REPO.exists():
        pytest.skip("bpftrace's sources are not on this machine")
    proc = subprocess.run(["git", "-C", str(REPO), "show", f"v0.26.0:{OUTPUTS}/{name}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"bpftrace 0.26's {name} is not at hand")
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name, snapshot", [
    ("hist.json", scalar("@hist", log2_of([2, 1025]), "hist")),
    ("hist_zero.json", scalar("@hist", log2_of([]), "hist")),
    ("hist_multiple.json", keyed("@", [("bpftrace", log2_of([2])),
                                       ("curl", log2_of([-1, 0, 511, 1024, 1025]))], "hist")),
    ("hist_multiple_multiple_keys.json",
     keyed("@", [(("bpftrace", 2), log2_of([2])), (("curl", 3), log2_of([511, 1024]))], "hist")),
    ("hist_2args.json", scalar("@", log2_of(range(1024), 3), "hist")),
    ("hist_10g.json", scalar("@", log2_of([10 * 1024**3]), "hist")),
    ("lhist.json", scalar("@h", linear_of([2, 50, 1000], 0, 100, 10), "lhist")),
    ("lhist_zero.json", scalar("@h", linear_of([], 0, 100, 10), "lhist")),
    ("lhist_multiple.json", keyed("@stats", [("bpftrace", linear_of([2, 1000], 0, 100, 10)),
                                             ("curl", linear_of([50], 0, 100, 10))], "lhist")),
    ("stats.json", scalar("@stats", Stats(2, 12), "stats")),
    ("stats_multiple.json", keyed("@stats", [("curl", Stats(1, 2)), ("zsh", Stats(1, 10))],
                                  "stats")),
    ("map.json", keyed("@map", [("key1", 2), ("key2", 3)])),
    ("complex.json", keyed("@complex", [(("bpftrace", 2), 5)])),
])
def test_matches_bpftrace_026_expected_files(name, snapshot):
    assert parsed(map_line(snapshot)) == bpftrace_026_expected(name)


def test_hist_bytes():
    line = map_line(scalar("@h", log2_of([-1, 0, 5]), "hist"))
    assert line == (b'{"type": "hist", "data": {"@h": ['
                    b'{"max": -1, "count": 1},{"min": 0, "max": 0, "count": 1},'
                    b'{"min": 1, "max": 1, "count": 0},{"min": 2, "max": 3, "count": 0},'
                    b'{"min": 4, "max": 7, "count": 1}]}}\n')


def test_lhist_overflow_bucket_has_no_max():
    line = map_line(scalar("@l", linear_of([5, 100], 0, 10, 5), "lhist"))
    assert line == (b'{"type": "hist", "data": {"@l": [{"min": 5, "max": 9, "count": 1},'
                    b'{"min": 10, "count": 1}]}}\n')


def test_lhist_with_suffixed_negative_bounds_are_unsigned_numbers():
    # A K-labelled bound is a symbol to bpftrace, with an unsigned number: -1K wraps, and
    # 2^64 - 1024 is past what a double holds exactly, so it becomes a string.
    data = parsed(map_line(scalar("@l", linear_of([-1024], -2048, 2048, 1024), "lhist")))
    assert data["data"]["@l"] == [{"min": "18446744073709550592", "max": -1, "count": 1}]


def test_hist_keys_with_top_as_bpftrace_026_tests_expect():
    snap = keyed("@", [(1, log2_of([10])), (2, log2_of([20])), (3, log2_of([30]))], "hist")
    assert map_line(snap, 2) == (b'{"type": "hist", "data": {"@": {'
                                 b'"2": [{"min": 16, "max": 31, "count": 1}], '
                                 b'"3": [{"min": 16, "max": 31, "count": 1}]}}}\n')


def test_hist_div_divides_counts():
    line = map_line(scalar("@h", log2_of([4] * 30), "hist"), div=7)
    assert parsed(line)["data"]["@h"] == [{"min": 4, "max": 7, "count": 4}]


# ---- diagnostics ------------------------------------------------------------------------------


def test_helper_error_as_bpftrace_026_tests_expect(cap):
    cap.out.diagnostic("warning", "Bad address", "stdin", 1, 38, kind="helper_error",
                       details=[("helper", "probe_read"), ("retcode", -14)])
    assert cap.bytes() == (b'{"type": "helper_error", "msg": "Bad address", "helper": '
                           b'"probe_read", "retcode": -14, "filename": "stdin", "line": 1, '
                           b'"col": 38}\n')


def test_warnf_and_errorf(cap):
    cap.out.diagnostic("warning", "careful", "stdin", 2, 3)
    cap.out.diagnostic("error", 'bad "x"', "prog.bt", 4, 5, "BEGIN {}\n")
    lines = cap.bytes().splitlines(keepends=True)
    assert lines[0] == (b'{"type": "warnf", "msg": "careful", "filename": "stdin", "line": 2, '
                        b'"col": 3}\n')
    assert parsed(lines[1]) == {"type": "errorf", "msg": 'bad "x"', "filename": "prog.bt",
                                "line": 4, "col": 5}


def test_diagnostic_without_a_place_goes_to_stderr_as_text(cap):
    cap.out.diagnostic("warning", "Total lost event count: 5")
    assert cap.bytes() == b""
    assert cap.err() == b"WARNING: Total lost event count: 5\n"
