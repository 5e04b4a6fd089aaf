"""printf formats: parse_format + render against C's printf semantics.

bpftrace hands each format and 64-bit argument to C's printf, so tracer's output must be what
C prints. The first table was measured from bpftrace 0.17; the second is plain C (glibc), and
``test_c_table_is_what_glibc_prints`` checks that table against the C library itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from tracer.printf import Conversion, FormatError, conversions, parse_format, render


def fmt(spec: str, *values) -> str:
    return render(parse_format(spec), list(values))


def fmt_bytes(spec: str, *values) -> bytes:
    """What reaches stdout: the output stage encodes with surrogateescape."""
    return fmt(spec, *values).encode("utf-8", "surrogateescape")


# Measured from bpftrace 0.17.
BPFTRACE = [
    ("%d", 5000000000, "705032704"),
    ("%ld", 5000000000, "5000000000"),
    ("%lld", 5000000000, "5000000000"),
    ("%u", -1, "4294967295"),
    ("%lu", -1, "18446744073709551615"),
    ("%x", -1, "ffffffff"),
    ("%lx", -1, "f" * 16),
    ("%X", 255, "FF"),
    ("%o", 8, "10"),
    ("%p", 4096, "0x1000"),
    ("%hd", 70000, "4464"),
    ("%hhd", 300, "44"),
    ("%c", 321, "A"),
    ("%5.2s", "abcdef", "   ab"),
    ("%-5d|", 42, "42   |"),
    ("%05x", 42, "0002a"),
]


@pytest.mark.parametrize("spec, value, expected", BPFTRACE)
def test_matches_bpftrace(spec, value, expected):
    assert fmt(spec, value) == expected


# What C's printf prints for a 64-bit argument (the same table is checked against glibc below).
C_SEMANTICS = [
    ("%d", -1, "-1"),
    ("%i", -3, "-3"),
    ("%ld", -1, "-1"),
    ("%d", 2**31, "-2147483648"),
    ("%u", 2**32, "0"),
    ("%lu", 2**64 - 1, "18446744073709551615"),
    ("%ld", 2**63, "-9223372036854775808"),
    ("%hu", -1, "65535"),
    ("%hhu", -1, "255"),
    ("%hhx", -1, "ff"),
    ("%zu", -1, "18446744073709551615"),
    ("%lX", 2**63, "8000000000000000"),
    ("%lo", 8, "10"),
    ("%p", 2**63, "0x8000000000000000"),
    ("%10p|", 4096, "    0x1000|"),
    ("%-10p|", 4096, "0x1000    |"),
    ("%p", 0, "(nil)"),
    ("%5d|", -42, "  -42|"),
    ("%-8x|", 255, "ff      |"),
    ("%.3d", -5, "-005"),
    ("%5.3x", 10, "  00a"),
    ("%c", 65, "A"),
    ("%3c|", 66, "  B|"),
    ("%-3c|", 66, "B  |"),
    ("%s", "hello", "hello"),
    ("%10s|", "hi", "        hi|"),
    ("%-10s|", "hi", "hi        |"),
    ("%.3s", "abcdef", "abc"),
    ("%.0s|", "abc", "|"),
    # precision 0 of the value 0 prints no digits at all
    ("%.0d|", 0, "|"),
    # with a precision, the 0 flag is ignored
    ("%08.3d|", 5, "     005|"),
    # %p pads with zeros after the 0x
    ("%010p|", 4096, "0x00001000|"),
]


@pytest.mark.parametrize("spec, value, expected", C_SEMANTICS)
def test_matches_c(spec, value, expected):
    assert fmt(spec, value) == expected


# Flags tracer accepts beyond bpftrace's `-` and `0`: if they are accepted, they must mean
# what they mean in C.
C_FLAGS = [
    ("%#x", 255, "0xff"),
    ("%#X", 255, "0XFF"),
    ("%#x", 0, "0"),  # no prefix for zero
    ("%#o", 8, "010"),  # C's alternate octal form is a leading 0, not Python's 0o
    ("%#o", 0, "0"),
    ("%+d", 5, "+5"),
    ("% d", 5, " 5"),
    ("%+u", 5, "5"),  # + and space only apply to signed conversions
    ("% u", 5, "5"),
    ("%+x", 5, "5"),
]


@pytest.mark.parametrize("spec, value, expected", C_FLAGS)
def test_flags_match_c(spec, value, expected):
    try:
        parts = parse_format(spec)
    except FormatError:
        return  # refusing the flag is also correct (bpftrace does not know it)
    assert render(parts, [value]) == expected


def _glibc_snprintf():
    name = ctypes.util.find_library("c")
    assert name is not None, "no C library to compare with (tracer itself needs one)"
    libc = ctypes.CDLL(name)
    libc.snprintf.restype = ctypes.c_int

    def snprintf(spec: str, value) -> str:
        buf = ctypes.create_string_buffer(512)
        arg = ctypes.c_char_p(value.encode()) if isinstance(value, str) else ctypes.c_int64(value)
        libc.snprintf(buf, len(buf), spec.encode(), arg)
        return buf.value.decode()

    return snprintf


@pytest.mark.parametrize("spec, value, expected", BPFTRACE + C_SEMANTICS + C_FLAGS)
def test_c_table_is_what_glibc_prints(spec, value, expected):
    # Not a test of tracer: a check that the expectations above are C's own answers.
    assert _glibc_snprintf()(spec, value) == expected


# ---- strings are measured in bytes, as C measures them --------------------------------------


def test_string_width_counts_bytes():
    # "é" is two bytes in UTF-8: C pads it with 3 spaces to a width of 5, not 4.
    assert fmt_bytes("%5s|", "é") == b"   \xc3\xa9|"


def test_string_precision_counts_bytes():
    # C copies at most one byte: half of "é".
    assert fmt_bytes("%.1s|", "é") == b"\xc3|"


def test_undecodable_bytes_survive():
    raw = b"\xff\xfeab"
    value = raw.decode("utf-8", "surrogateescape")
    assert fmt_bytes("<%s>", value) == b"<\xff\xfeab>"


def test_c_of_a_high_byte_is_that_byte():
    assert fmt_bytes("%c", 0xE9) == b"\xe9"


# ---- parsing --------------------------------------------------------------------------------


def test_percent_percent():
    assert fmt("%%") == "%"
    assert fmt("a%%b %d%%", 3) == "a%b 3%"
    assert conversions(parse_format("100%%")) == []


def test_literal_text_around_conversions():
    parts = parse_format("pid=%d comm=%s\n")
    assert [p if isinstance(p, str) else p.text for p in parts] == \
        ["pid=", "%d", " comm=", "%s", "\n"]
    assert fmt("pid=%d comm=%s\n", 42, "bash") == "pid=42 comm=bash\n"


@pytest.mark.parametrize("spec, conv, bits, wants_string", [
    ("%d", "d", 32, False),
    ("%ld", "d", 64, False),
    ("%lld", "d", 64, False),
    ("%hd", "d", 16, False),
    ("%hhu", "u", 8, False),
    ("%zx", "x", 64, False),
    ("%c", "c", 8, False),
    ("%-20s", "s", 32, True),
])
def test_conversion_fields(spec, conv, bits, wants_string):
    (c,) = parse_format(spec)
    assert isinstance(c, Conversion)
    assert (c.text, c.conv, c.wants_string) == (spec, conv, wants_string)
    if not wants_string:
        assert c.bits == bits


@pytest.mark.parametrize("spec, offset, bad", [
    ("%z", 0, "%z"),
    ("ab %y", 3, "%y"),
    ("%d %q", 3, "%q"),
    ("%f", 0, "%f"),
    ("x %5", 2, "%5"),
    ("%", 0, "%"),
    ("100%", 3, "%"),
])
def test_unsupported_specifier(spec, offset, bad):
    with pytest.raises(FormatError) as info:
        parse_format(spec)
    assert info.value.offset == offset
    assert info.value.message == f"printf: unsupported format specifier '{bad}'"
