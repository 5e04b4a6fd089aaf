"""``Layout.reader()``, ``read_all`` and ``read_column`` against ``Layout.decode``, which defines
what a layout's bytes mean: the same values, of the same Python types, for every kind of field and
every kind of buffer."""

from __future__ import annotations

import mmap
import random
import struct

import pytest

from tracer.layout import Layout, RawSymbolic, Record
from tracer.types import (BOOL, BoolType, IntType, PointerType, StringType, SymbolicType,
                          TupleType, VoidType)

INTS = [IntType(bits, signed) for bits in (8, 16, 32, 64) for signed in (True, False)]


def same(a, b) -> bool:
    """Equal values of the same types, a record's field names included (a Record equals a plain
    tuple of its values, so == alone would not notice a lost name)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        if isinstance(a, Record) and a.names != b.names:
            return False
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _random_tuple(rng: random.Random, depth: int, record: bool) -> TupleType:
    elements = tuple(random_type(rng, depth + 1) for _ in range(rng.randint(0, 4)))
    return TupleType(elements, tuple(f"f{i}" for i in range(len(elements))) if record else None)


# How to make a random type of each kind (tuples and records nest further types).
_MAKERS = {
    "int": lambda rng, depth: rng.choice(INTS),
    "bool": lambda rng, depth: BOOL,
    "string": lambda rng, depth: StringType(rng.choice([1, 3, 8, 16, 64])),
    "pointer": lambda rng, depth: PointerType(),
    "symbolic": lambda rng, depth: SymbolicType(rng.choice(["kstack", "ksym", "buffer"]),
                                                rng.randint(1, 3)),
    "tuple": lambda rng, depth: _random_tuple(rng, depth, False),
    "record": lambda rng, depth: _random_tuple(rng, depth, True),
}


def random_type(rng: random.Random, depth: int = 0):
    kinds = ["int", "int", "bool", "string", "pointer", "symbolic"]
    if depth < 3:
        kinds += ["tuple", "record"]
    return _MAKERS[rng.choice(kinds)](rng, depth)


def random_bytes(rng: random.Random, n: int) -> bytes:
    # Many NULs, some invalid UTF-8, some plain ASCII: strings end early, late or never.
    alphabet = [0, 0, 0, 1, 2, 0x41, 0x7A, 0x80, 0xC3, 0xA9, 0xFF]
    return bytes(rng.choice(alphabet) if rng.random() < 0.7 else rng.randrange(256)
                 for _ in range(n))


def as_buffers(data: bytes):
    """The same bytes as every kind of buffer the reader accepts."""
    m = mmap.mmap(-1, max(len(data), 1))
    m[:len(data)] = data
    return [data, bytearray(data), memoryview(data), m]


@pytest.mark.parametrize("seed", range(40))
def test_reader_equals_decode_for_random_layouts(seed):
    rng = random.Random(seed)
    layout = Layout.of([random_type(rng) for _ in range(rng.randint(1, 5))])
    read = layout.reader()
    for _ in range(20):
        lead = rng.randint(0, 9)  # the struct at some offset inside a bigger buffer
        data = random_bytes(rng, lead + layout.size + rng.randint(0, 5))
        expected = layout.decode(data[lead:lead + layout.size])
        for buffer in as_buffers(data):
            got = read(buffer, lead)
            assert type(got) is list and same(got, expected), (layout.types, got, expected)


@pytest.mark.parametrize("typ", INTS, ids=str)
def test_integers_of_every_size_and_sign_at_their_limits(typ):
    layout = Layout.of([IntType(8, False), typ])  # an int after a byte: padding before it
    fmt = {1: "b", 2: "h", 4: "i", 8: "q"}[typ.size]
    fmt = fmt if typ.signed else fmt.upper()
    limit = 1 << (typ.bits - 1)
    for value in ([-limit, -1, 0, 1, limit - 1] if typ.signed else [0, 1, limit, 2 * limit - 1]):
        data = bytearray(layout.size)
        data[0] = 0xAB
        struct.pack_into("<" + fmt, data, layout.offsets[1], value)
        assert layout.reader()(bytes(data), 0) == [0xAB, value]
        assert layout.reader()(bytes(data), 0) == layout.decode(bytes(data))


def test_bools_are_true_for_any_byte_but_zero():
    layout = Layout.of([BOOL, BoolType(), BOOL, BOOL])
    got = layout.reader()(bytes([0, 1, 2, 0xFF]), 0)
    assert got == [False, True, True, True]
    assert all(type(v) is bool for v in got)
    assert got == layout.decode(bytes([0, 1, 2, 0xFF]))


@pytest.mark.parametrize("raw, text", [
    (b"abc\0zzzz", "abc"),            # cut at the first NUL, whatever follows
    (b"abcdefgh", "abcdefgh"),        # no NUL: the whole capacity
    (b"\0bcdefgh", ""),
    (b"\xc3\xa9\xff\0\0\0\0\0", "\u00e9\udcff"),  # invalid UTF-8 kept as surrogate escapes
])
def test_strings_cut_at_nul_and_decoded_as_decode_does(raw, text):
    layout = Layout.of([StringType(8), IntType(8, False)])
    data = raw + b"\x07"
    assert layout.reader()(data, 0) == [text, 7] == layout.decode(data)


def test_tuples_and_records_keep_their_kind_and_names():
    inner = TupleType((IntType(16, True), StringType(4)), ("a", "b"))
    outer = TupleType((IntType(8, False), inner, BOOL))
    layout = Layout.of([outer, IntType(32, True)])
    data = bytearray(layout.size)
    data[0] = 5
    struct.pack_into("<h4s", data, inner_offset := outer.offsets[1], -2, b"xy\0\0")
    data[outer.offsets[2]] = 1
    struct.pack_into("<i", data, layout.offsets[1], -9)
    got = layout.reader()(bytes(data), 0)
    assert inner_offset == 2
    assert same(got, [(5, Record(("a", "b"), (-2, "xy")), True), -9])
    assert same(got, layout.decode(bytes(data)))


def test_symbolic_values_keep_their_words_unsigned():
    typ = SymbolicType("kstack", 3)
    layout = Layout.of([IntType(32, True), typ])
    data = struct.pack("<i4xQQQ", -1, 1, 2**64 - 1, 7)
    assert layout.reader()(data, 0) == [-1, RawSymbolic(typ, (1, 2**64 - 1, 7))]
    assert layout.reader()(data, 0) == layout.decode(data)


@pytest.mark.parametrize("seed", range(10))
def test_read_all_and_read_column_equal_decode_struct_by_struct(seed):
    rng = random.Random(1000 + seed)
    layout = Layout.of([random_type(rng) for _ in range(rng.randint(1, 3))])
    count = rng.randint(0, 50)
    data = random_bytes(rng, count * layout.size)
    expected = [layout.decode(data[i * layout.size:(i + 1) * layout.size]) for i in range(count)]
    assert same(layout.read_all(data), expected)
    for index in range(len(layout.types)):
        assert same(layout.read_column(memoryview(data), index), [e[index] for e in expected])


def test_bulk_reads_include_the_trailing_padding():
    layout = Layout.of([IntType(64, True), IntType(8, True)])  # 9 bytes of fields, 16 in all
    assert layout.size == 16
    data = struct.pack("<qb7x", -3, 4) + struct.pack("<qb7x", 5, -6)
    assert layout.read_all(data) == [[-3, 4], [5, -6]]
    assert layout.read_column(data, 1) == [4, -6]
    # A single read does not need the padding to be there.
    assert layout.reader()(data[:9], 0) == [-3, 4]


def test_a_type_the_reader_does_not_know_fails_as_decode_does():
    layout = Layout.of([IntType(64, True), VoidType()])
    with pytest.raises(TypeError):
        layout.decode(bytes(layout.size))
    with pytest.raises(TypeError):
        layout.reader()(bytes(layout.size), 0)


def test_the_reader_is_made_once_per_layout():
    layout = Layout.of([IntType(64, True), StringType(16)])
    assert layout.reader() is layout.reader()
    assert Layout.of([IntType(64, True), StringType(16)]).reader() is layout.reader()
    assert layout == Layout.of([IntType(64, True), StringType(16)])  # still equal by its fields
