"""The text output format: bpftrace's bytes, exactly."""

from __future__ import annotations

import inspect
import io
import tempfile

import pytest

from tracer.layout import Layout
from tracer.output import MapSnapshot, TextOutput
from tracer.types import BOOL, COMM, COUNT, INT64, UINT64, StringType, TupleType


class Captured:
    """A TextOutput and the bytes it wrote, whether the output takes a stream or a file
    descriptor (its constructor's first parameter says which)."""

    def __init__(self):
        params = list(inspect.signature(TextOutput.__init__).parameters)[1:]
        if params and params[0] == "fd":
            self._file = tempfile.TemporaryFile(buffering=0)
            self.out = TextOutput(self._file.fileno())
        else:
            self._file = io.BytesIO()
            self.out = TextOutput(self._file)

    def bytes(self) -> bytes:
        self.out.flush()
        self._file.seek(0)
        return self._file.read()


@pytest.fixture
def cap():
    return Captured()


def map_bytes(snapshot: MapSnapshot) -> bytes:
    c = Captured()
    c.out.map(snapshot)
    return c.bytes()


@pytest.mark.parametrize("probes, expected", [
    (1, b"Attaching 1 probe...\n"),
    (2, b"Attaching 2 probes...\n"),
    (17, b"Attaching 17 probes...\n"),
])
def test_attached(cap, probes, expected):
    cap.out.attached(probes)
    assert cap.bytes() == expected


def test_end_of_trace(cap):
    cap.out.end_of_trace()
    assert cap.bytes() == b"\n\n"


def test_printf_text_is_written_as_is(cap):
    cap.out.printf("a\tb\n")
    cap.out.printf("no newline")
    assert cap.bytes() == b"a\tb\nno newline"


def test_nothing_is_lost_between_writes(cap):
    cap.out.attached(1)
    cap.out.printf("x\n")
    cap.out.end_of_trace()
    cap.out.map(MapSnapshot("@a", INT64, None, [(None, 1)]))
    assert cap.bytes() == b"Attaching 1 probe...\nx\n\n\n@a: 1\n"


@pytest.mark.parametrize("snapshot, expected", [
    (MapSnapshot("@a", INT64, None, [(None, 1)]), b"@a: 1\n"),
    (MapSnapshot("@", COUNT, None, [(None, 7)]), b"@: 7\n"),
    (MapSnapshot("@neg", INT64, None, [(None, -5)]), b"@neg: -5\n"),
    (MapSnapshot("@u", UINT64, None, [(None, 2**64 - 1)]), b"@u: 18446744073709551615\n"),
    (MapSnapshot("@s", StringType(8), None, [(None, "bash")]), b"@s: bash\n"),
])
def test_scalar_map(snapshot, expected):
    assert map_bytes(snapshot) == expected


def test_keyed_map_sorted_by_value_ascending():
    snap = MapSnapshot("@b", INT64, INT64, [(1, 2), (2, 1)])
    assert map_bytes(snap) == b"@b[2]: 1\n@b[1]: 2\n"


def test_count_map_sorted_by_value():
    snap = MapSnapshot("@", COUNT, COMM, [("bash", 10), ("sshd", 2), ("cron", 5)])
    assert map_bytes(snap) == b"@[sshd]: 2\n@[cron]: 5\n@[bash]: 10\n"


def test_negative_values_sort_first():
    snap = MapSnapshot("@v", INT64, INT64, [(1, 3), (2, -4), (3, 0)])
    assert map_bytes(snap) == b"@v[2]: -4\n@v[3]: 0\n@v[1]: 3\n"


def test_ties_are_ordered_by_key():
    snap = MapSnapshot("@b", INT64, INT64, [(3, 1), (1, 1), (2, 0), (10, 1)])
    assert map_bytes(snap) == b"@b[2]: 0\n@b[1]: 1\n@b[3]: 1\n@b[10]: 1\n"


def test_string_key_ties_are_ordered_by_key():
    snap = MapSnapshot("@c", COUNT, COMM, [("zsh", 1), ("awk", 1), ("make", 1)])
    assert map_bytes(snap) == b"@c[awk]: 1\n@c[make]: 1\n@c[zsh]: 1\n"


def test_tuple_keys():
    snap = MapSnapshot("@t", INT64, TupleType((COMM, INT64)), [(("k", 5), 3), (("a", 1), 4)])
    assert map_bytes(snap) == b"@t[k, 5]: 3\n@t[a, 1]: 4\n"


def test_string_values_sorted_by_key():
    snap = MapSnapshot("@s", StringType(8), COMM,
                       [("z", "aaa"), ("a", "zzz"), ("m", "mmm")])
    assert map_bytes(snap) == b"@s[a]: zzz\n@s[m]: mmm\n@s[z]: aaa\n"


@pytest.mark.parametrize("key_type", [INT64, None])
def test_empty_map(key_type):
    assert map_bytes(MapSnapshot("@e", INT64, key_type, [])) == b"\n"


def test_maps_one_after_another():
    c = Captured()
    c.out.map(MapSnapshot("@a", INT64, None, [(None, 1)]))
    c.out.map(MapSnapshot("@b", INT64, INT64, [(1, 2), (2, 1)]))
    assert c.bytes() == b"@a: 1\n@b[2]: 1\n@b[1]: 2\n"


# ---- bytes that are not UTF-8 ---------------------------------------------------------------


def test_non_utf8_value_round_trips_through_layout():
    layout = Layout.of([StringType(8)])
    (value,) = layout.decode(b"\xff" + b"\0" * 7)
    assert isinstance(value, str)
    assert map_bytes(MapSnapshot("@s", StringType(8), None, [(None, value)])) == b"@s: \xff\n"


def test_non_utf8_key_round_trips_through_layout():
    key_layout = Layout.of([StringType(16)])
    (key,) = key_layout.decode(b"a\xfe\xffb" + b"\0" * 12)
    out = map_bytes(MapSnapshot("@k", COUNT, StringType(16), [(key, 3)]))
    assert out == b"@k[a\xfe\xffb]: 3\n"


def test_non_utf8_printf_text(cap):
    cap.out.printf(b"\x80x\xc3\n".decode("utf-8", "surrogateescape"))
    assert cap.bytes() == b"\x80x\xc3\n"


def test_utf8_text_is_written_as_utf8(cap):
    cap.out.printf("é→\n")
    assert cap.bytes() == "é→\n".encode("utf-8")


# ---- values of bpftrace 0.26's types -----------------------------------------------------------


def test_bools_print_as_words():
    snap = MapSnapshot("@b", BOOL, BOOL, [(True, False), (False, True)])
    assert map_bytes(snap) == b"@b[true]: false\n@b[false]: true\n"


def test_tuple_values_and_nested_tuple_keys():
    key = TupleType((INT64, TupleType((COMM, INT64))))
    value = TupleType((INT64, COMM, TupleType((INT64, INT64))))
    snap = MapSnapshot("@t", value, key, [((1, ("x", 2)), (3, "y", (4, 5)))])
    assert map_bytes(snap) == b"@t[1, (x, 2)]: (3, y, (4, 5))\n"


def test_a_single_tuple_key_prints_like_several_keys():
    snap = MapSnapshot("@", INT64, TupleType((INT64, COMM)), [((1, "hello"), 1)])
    assert map_bytes(snap) == b"@[1, hello]: 1\n"
