"""printf formats: parse_format, the checks, and render, against bpftrace 0.26's semantics.

bpftrace 0.26 formats each value through a C++ output stream set up from the specifier (width,
fill, left/right, base, showbase, showpos), after casting integers to the C type the length
modifier names. STREAM is what that prints; ``test_stream_table_is_what_libstdcxx_prints``
checks the table against the C++ library itself. The bytes of 0.17, where it agrees with 0.26,
are compared in test_printf_oracle.py.
"""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from tracer import types as T
from tracer.layout import Record
from tracer.values import Buffer, Stack, Stats
from tracer.printf import (Conversion, FormatError, bind_types, count_error, conversions,
                           parse_format, render, text_of)


def fmt(spec: str, *values) -> str:
    return render(parse_format(spec), list(values))


def fmt_bytes(spec: str, *values) -> bytes:
    """What reaches stdout: the output stage encodes with surrogateescape."""
    return fmt(spec, *values).encode("utf-8", "surrogateescape")


# ---- numbers, characters, pointers and strings ----------------------------------------------

STREAM = [
    # the length modifier's C type decides how many bits are printed
    ("%d", 5000000000, "705032704"),
    ("%d", 2**31, "-2147483648"),
    ("%ld", -1, "-1"),
    ("%lld", 2**63, "-9223372036854775808"),
    ("%hd", 70000, "4464"),
    ("%hhd", 200, "-56"),
    ("%Ld", 5000000000, "705032704"),  # a run of length letters C has no type for: int
    ("%hld", 5000000000, "705032704"),
    ("%u", -1, "4294967295"),
    ("%u", 2**32, "0"),
    ("%lu", -1, "18446744073709551615"),
    ("%tu", -1, "18446744073709551615"),
    ("%zu", -1, "18446744073709551615"),
    ("%hu", -1, "65535"),
    ("%hhu", -1, "255"),
    ("%x", -1, "ffffffff"),
    ("%jx", -1, "f" * 16),
    ("%lX", 2**63, "8000000000000000"),
    ("%hho", 511, "377"),
    ("%o", 8, "10"),
    # width, fill, alignment: the whole text is padded, on one side
    ("%5d|", -42, "  -42|"),
    ("%-5d|", 42, "42   |"),
    ("%05d", 42, "00042"),
    ("%05d", -42, "00-42"),
    ("%-05d|", 42, "42000|"),
    ("%00d", 5, "5"),
    ("%3d|", 12345, "12345|"),
    # the precision and the space flag are ignored
    ("%.3d", -5, "-5"),
    ("%08.3d", 5, "00000005"),
    ("%.0d|", 0, "0|"),
    ("% d", 5, "5"),
    # + signs signed conversions only
    ("%+d", 5, "+5"),
    ("%+d", 0, "+0"),
    ("%+d", -5, "-5"),
    ("%+05d", 5, "000+5"),
    ("%+u", 5, "5"),
    ("%+x", 5, "5"),
    # # prefixes non-zero hex and octal values
    ("%#x", 255, "0xff"),
    ("%#X", 255, "0XFF"),
    ("%#x", 0, "0"),
    ("%#o", 8, "010"),
    ("%#o", 0, "0"),
    ("%#d", 5, "5"),
    ("%#010x", 255, "0000000xff"),
    # %p: a 64-bit void *, whatever the length modifier
    ("%p", 4096, "0x1000"),
    ("%p", 0, "0"),
    ("%p", 2**63, "0x8000000000000000"),
    ("%hhp", 4096, "0x1000"),
    ("%010p", 4096, "00000x1000"),
    ("%-10p|", 4096, "0x1000    |"),
    ("%10p|", 4096, "    0x1000|"),
    # %c: one byte
    ("%c", 321, "A"),
    ("%05c", 65, "0000A"),
    ("%+c", 65, "A"),
    ("%-3c|", 66, "B  |"),
    ("%3c|", 0, "  \x00|"),
    # strings: padded, never cut
    ("%s", "hello", "hello"),
    ("%10s|", "hi", "        hi|"),
    ("%-10s|", "hi", "hi        |"),
    ("%06s", "ab", "0000ab"),
    ("%-06s|", "ab", "ab0000|"),
    ("%.2s", "abcdef", "abcdef"),
    ("%5.2s", "abcdef", "abcdef"),
    ("%-10.10s|", "comm", "comm      |"),
    # '*' is accepted, consumes no argument, and is ignored
    ("%*d", 7, "7"),
    ("%.*d", 7, "7"),
    ("%-*.*d|", 7, "7|"),
]


@pytest.mark.parametrize("spec, value, expected", STREAM)
def test_matches_bpftrace_0_26(spec, value, expected):
    assert fmt(spec, value) == expected


# A C++ program that formats one case per input line as bpftrace 0.26 sets up its stream: the
# value cast to the type the conversion and length modifier name, then written to the stream.
CXX_HARNESS = r"""
#include <cstddef>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

template <typename T, typename Cast> void put(std::ostream &out, long long v) {
  out << static_cast<T>(static_cast<Cast>(v));
}

template <typename T> void put_signed(std::ostream &out, const std::string &len, long long v) {
  if (len == "hh") put<T, signed char>(out, v);
  else if (len == "h") put<T, short>(out, v);
  else if (len == "l" || len == "ll" || len == "j" || len == "z" || len == "t")
    put<T, long long>(out, v);
  else put<T, int>(out, v);
}

void put_unsigned(std::ostream &out, const std::string &len, long long v) {
  if (len == "hh") put<unsigned long, unsigned char>(out, v);
  else if (len == "h") put<unsigned long, unsigned short>(out, v);
  else if (len == "t") put<unsigned long, std::ptrdiff_t>(out, v);
  else if (len == "l" || len == "ll" || len == "j" || len == "z")
    put<unsigned long, unsigned long>(out, v);
  else put<unsigned long, unsigned int>(out, v);
}

int main() {
  std::string conv, len, value;
  int left, plus, alt, zero, width;
  while (std::cin >> conv >> len >> left >> plus >> alt >> zero >> width >> value) {
    std::ostringstream out;
    out << (left ? std::left : std::right);
    if (width > 0) out << std::setw(width);
    if (zero) out << std::setfill('0');
    if (conv == "o") out << std::oct;
    if (conv == "x") out << std::hex << std::nouppercase;
    if (conv == "X") out << std::hex << std::uppercase;
    if (alt) out << std::showbase;
    if (plus) out << std::showpos;
    if (conv == "s") out << value;
    else if (conv == "p")
      out << reinterpret_cast<void *>(static_cast<unsigned long long>(std::stoll(value)));
    else if (conv == "c") put_signed<char>(out, len, std::stoll(value));
    else if (conv == "d") put_signed<long long>(out, len, std::stoll(value));
    else put_unsigned(out, len, std::stoll(value));
    for (unsigned char c : out.str()) std::printf("%02x", c);
    std::printf("\n");
  }
}
"""


def test_stream_table_is_what_libstdcxx_prints(tmp_path):
    # Not a test of tracer: a check that STREAM holds the C++ library's own answers.
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler to compare with")
    (tmp_path / "h.cpp").write_text(CXX_HARNESS)
    subprocess.run([compiler, "-std=c++17", "-o", str(tmp_path / "h"), str(tmp_path / "h.cpp")],
                   check=True, capture_output=True)
    lines = []
    for spec, value, _ in STREAM:
        (c,) = conversions(parse_format(spec))
        shown = value if isinstance(value, str) else str(value - 2**64 if value >= 2**63 else value)
        lines.append(f"{c.conv} {c.length or '-'} {int(c.left)} {int(c.plus)} {int(c.alt)} "
                     f"{int(c.zero)} {c.width or 0} {shown}")
    proc = subprocess.run([str(tmp_path / "h")], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, check=True)
    printed = [bytes.fromhex(line).decode("utf-8", "surrogateescape")
               for line in proc.stdout.splitlines()]
    expected = [fmt(spec, value).split("|")[0] for spec, value, _ in STREAM]
    assert printed == expected
    assert printed == [e.split("|")[0] for _, _, e in STREAM]


def test_bool_as_integer():
    assert fmt("%d %x %c", True, False, True) == "1 0 \x01"


# ---- %s of any value ------------------------------------------------------------------------

TEXT = [
    (5, "5"),
    (-5, "-5"),
    (True, "true"),
    (False, "false"),
    ((1, "abc"), "(1, abc)"),
    ((1, (2, 3), True), "(1, (2, 3), true)"),
    ((), "()"),
    (Record(("a", "b"), (1, "x")), "{ .a = 1, .b = x }"),
    (Record(("t",), ((1, 2),)), "{ .t = (1, 2) }"),
    (Record((), ()), "{}"),
    ((Record(("a",), (1,)), 2), "({ .a = 1 }, 2)"),
    (Buffer(b"ab\x01\xff~"), "ab\\x01\\xff~"),
    (Stack(("f1+4", "f2+8")), "\n        f1+4\n        f2+8\n"),
    (Stack(("ffffffff81000000 f1+4",), mode="perf"), "\n\tffffffff81000000 f1+4\n"),
    (Stack(("ffffffff81000000",), mode="raw"), "\nffffffff81000000\n"),
    (Stats(3, 64), "{ .count = 3, .average = 21, .total = 64 }"),
]


@pytest.mark.parametrize("value, expected", TEXT)
def test_text_of(value, expected):
    assert text_of(value) == expected
    assert fmt("%s", value) == expected


@pytest.mark.parametrize("spec, value, expected", [
    # the width pads the first piece of text only: the opening parenthesis or brace
    ("%10s|", (1, 2), "         (1, 2)|"),
    ("%-4s|", (1, 2), "(   1, 2)|"),
    ("%-4s|", Record(("a",), (1,)), "{   .a = 1 }|"),
    ("%6s|", Record((), ()), "    {}|"),
    ("%7s|", True, "   true|"),
    ("%05s", 42, "00042"),
    # + reaches every signed integer inside
    ("%+s", 5, "+5"),
    ("%+s", (1, -2, "x"), "(+1, -2, x)"),
    ("%+s", Record(("a",), (0,)), "{ .a = +0 }"),
    ("%+s", 2**64 - 1, "18446744073709551615"),  # past int64: unsigned
    ("%+s", True, "true"),
])
def test_text_with_flags(spec, value, expected):
    assert fmt(spec, value) == expected


def test_types_tell_pointers_and_unsigned_integers():
    parts = bind_types(parse_format("%s %+s %+s %s %s"),
                       [T.PointerType(T.INT32), T.UINT64, T.INT64,
                        T.TupleType((T.PointerType(), T.UINT8)), T.PointerType()])
    assert render(parts, [4096, 5, 5, (16, 7), 0]) == "0x1000 5 +5 (0x10, 7) 0x0"
    assert text_of(255, T.PointerType()) == "0xff"
    # unbound, a pointer is just its integer value
    assert fmt("%s", 4096) == "4096"


def test_bind_types_keeps_literals_and_conversions():
    parts = parse_format("a %d b %s\n")
    bound = bind_types(parts, [T.INT64, T.StringType(8)])
    assert bound == parts  # the type is not part of a conversion's identity
    assert [type(p) for p in bound] == [str, Conversion, str, Conversion, str]
    assert conversions(bound)[0].value_type == T.INT64


# ---- buffers and GFP flags ------------------------------------------------------------------

@pytest.mark.parametrize("spec, data, expected", [
    ("%r", b"ab\x01c\x7f ~", "ab\\x01c\\x7f ~"),
    ("%rx", b"AB\x00", "\\x41\\x42\\x00"),
    ("%rh", b"AB\xff", "41 42 ff"),
    ("%rh", b"", ""),
    ("%8r|", b"ab", "      ab|"),
    ("%-6rh|", b"\x0a", "0a    |"),
    ("%rxyz", b"A", "\\x41yz"),  # %rx, then literal text
])
def test_buffers(spec, data, expected):
    assert fmt(spec, Buffer(data)) == expected


@pytest.mark.parametrize("flags, expected", [
    (0, "0"),
    (0xCC0, "GFP_KERNEL"),
    (0x820, "GFP_ATOMIC"),
    (0x822, "GFP_ATOMIC|__GFP_HIGHMEM"),
    (0x400CC0, "GFP_KERNEL_ACCOUNT"),
    (0x800, "__GFP_KSWAPD_RECLAIM"),
    (0x1, "GFP_DMA"),
    (0xCC0 | 1 << 40, "GFP_KERNEL|0x10000000000"),
    (0x200, "0x200"),  # the unused bit has no name
    (0x10, "0x10"),  # nor has __GFP_RECLAIMABLE in bpftrace's table
    (-1 & ((1 << 64) - 1), None),
])
def test_gfp_flags(flags, expected):
    text = fmt("%gr", flags)
    if expected is None:  # every bit set: the largest compound name comes first
        assert text.startswith("GFP_TRANSHUGE|") and text.endswith("|0xfffffffff8000210")
    else:
        assert text == expected


def test_values_a_conversion_cannot_print_are_embedded_as_bpftrace_does():
    assert fmt("%12gr|", 0x20) == "  __GFP_HIGH|"
    assert fmt("<%gr>", True) == "<!{invalid GFP flags conversion: true}>"
    assert fmt("<%d>", "abc") == "<!{invalid integer conversion: abc}>"
    assert fmt("%r", "text") == "text"


# ---- bytes ------------------------------------------------------------------------------------

def test_string_width_counts_bytes():
    # "é" is two bytes in UTF-8: a width of 5 adds 3 spaces, not 4.
    assert fmt_bytes("%5s|", "é") == b"   \xc3\xa9|"


def test_undecodable_bytes_survive():
    value = b"\xff\xfeab".decode("utf-8", "surrogateescape")
    assert fmt_bytes("<%s>", value) == b"<\xff\xfeab>"
    assert fmt_bytes("%4s|", value) == b"\xff\xfeab|"  # 4 bytes already


def test_format_text_survives():
    spec = b"\xe9t\xe9 %d \xff\n".decode("utf-8", "surrogateescape")
    assert fmt_bytes(spec, 3) == b"\xe9t\xe9 3 \xff\n"


def test_c_writes_one_byte():
    assert fmt_bytes("%c", 0xE9) == b"\xe9"
    assert fmt_bytes("%c%c", 0, 10) == b"\x00\n"


# ---- parsing ----------------------------------------------------------------------------------

def test_percent_percent():
    assert fmt("%%") == "%"
    assert fmt("a%%b %d%%", 3) == "a%b 3%"
    assert conversions(parse_format("100%%")) == []
    # flags, a width or a length before the second % change nothing (bpftrace 0.26)
    assert fmt("%5%|%-%|%l%") == "%|%|%"
    assert parse_format("a%%b") == ["a%b"]


def test_literal_text_around_conversions():
    parts = parse_format("pid=%d comm=%s\n")
    assert [p if isinstance(p, str) else p.text for p in parts] == \
        ["pid=", "%d", " comm=", "%s", "\n"]
    assert fmt("pid=%d comm=%s\n", 42, "bash") == "pid=42 comm=bash\n"
    assert parse_format("") == []


@pytest.mark.parametrize("spec, fields", [
    ("%-+ #010.5lld", dict(conv="d", length="ll", left=True, plus=True, space=True, alt=True,
                           zero=True, width=10, precision=5)),
    ("%d", dict(conv="d", length="", left=False, zero=False, width=None, precision=None)),
    ("%*.*x", dict(conv="x", width=None, precision=None)),
    ("%0010d", dict(zero=True, width=10)),
    ("%hhhd", dict(length="hhh")),
    ("%rx", dict(conv="rx")),
    ("%rh", dict(conv="rh")),
    ("%r", dict(conv="r")),
    ("%gr", dict(conv="gr")),
    ("%lc", dict(conv="c", length="l")),
    ("%i", dict(conv="i")),
])
def test_conversion_fields(spec, fields):
    (c,) = parse_format(spec)
    assert isinstance(c, Conversion) and c.text == spec
    assert {name: getattr(c, name) for name in fields} == fields


END = "the format string ends before its conversion (write %% for a literal %)"
DIGITS = "widths and precisions take the digits 0-9 only"
FLAG = "out of place (flags come right after %, in the order - + space # 0, each at most once)"
DOT = "'.' must be followed by a precision (digits or *)"
DIGIT = ("out of place (a width or precision is either digits or *, and comes before the length "
         "letters)")


@pytest.mark.parametrize("spec, offset, message", [
    ("%\u0663d\n", 0, f"invalid format specifier '%\u0663': {DIGITS}"),
    ("ab %5.\u0663d", 3, f"invalid format specifier '%5.\u0663': {DIGITS}"),
    ("%5\uff13d", 0, f"invalid format specifier '%5\uff13': {DIGITS}"),
    ("%", 0, f"invalid format specifier '%': {END}"),
    ("100%", 3, f"invalid format specifier '%': {END}"),
    ("%ll", 0, f"invalid format specifier '%ll': {END}"),
    ("x %-5", 2, f"invalid format specifier '%-5': {END}"),
    ("%d %5.", 3, f"invalid format specifier '%5.': {DOT}"),
    ("%y", 0, "invalid format specifier '%y': unknown conversion 'y' (write %% for a literal %)"),
    ("%d %q", 3,
     "invalid format specifier '%q': unknown conversion 'q' (write %% for a literal %)"),
    ("%lk", 0, "invalid format specifier '%lk': unknown conversion 'k' (write %% for a literal %)"),
    ("50%\n", 2,
     "invalid format specifier '%\\n': unknown conversion '\\n' (write %% for a literal %)"),
    ("%d %\udcff", 3,
     "invalid format specifier '%\\xff': unknown conversion '\\xff' (write %% for a literal %)"),
    ("%5-d", 0, f"invalid format specifier '%5-': flag '-' {FLAG}"),
    ("%--d", 0, f"invalid format specifier '%--': flag '-' {FLAG}"),
    ("%+-d", 0, f"invalid format specifier '%+-': flag '-' {FLAG}"),
    ("%0-5d", 0, f"invalid format specifier '%0-': flag '-' {FLAG}"),
    ("%#+x", 0, f"invalid format specifier '%#+': flag '+' {FLAG}"),
    ("%l+d", 0, f"invalid format specifier '%l+': flag '+' {FLAG}"),
    ("%*5d", 0, f"invalid format specifier '%*5': digit '5' {DIGIT}"),
    ("%.*5d", 0, f"invalid format specifier '%.*5': digit '5' {DIGIT}"),
    ("%l5d", 0, f"invalid format specifier '%l5': digit '5' {DIGIT}"),
    ("%# d", 0, f"invalid format specifier '%# ': flag ' ' {FLAG}"),
    ("%.d", 0, f"invalid format specifier '%.': {DOT}"),
    ("%5.-3d", 0, f"invalid format specifier '%5.': {DOT}"),
    ("%f", 0, "unsupported format specifier: f"),
    ("a %10.3Lf", 2, "unsupported format specifier: f"),
    ("%e", 0, "unsupported format specifier: e"),
    ("%G", 0, "unsupported format specifier: G"),
    ("%g", 0, "unsupported format specifier: g"),
    ("%a", 0, "unsupported format specifier: a"),
    ("%n", 0, "unsupported format specifier: n"),
    ("%99999999999d", 0,
     "invalid format specifier '%99999999999d': width too large (at most 2147483647)"),
    ("%.2147483648d", 0,
     "invalid format specifier '%.2147483648d': precision too large (at most 2147483647)"),
])
def test_refused_formats(spec, offset, message):
    with pytest.raises(FormatError) as info:
        parse_format(spec)
    assert (info.value.offset, info.value.message) == (offset, message)
    assert spec[info.value.offset] == "%"


@pytest.mark.parametrize("digit", ["\u0663", "\u06f3", "\u0969", "\uff13", "\U0001d7d1", "\u00b3"])
def test_only_ascii_digits_make_a_width(digit):
    with pytest.raises(FormatError):
        parse_format(f"%{digit}d")
    with pytest.raises(FormatError):
        parse_format(f"%.{digit}d")
    with pytest.raises(FormatError):
        parse_format(f"%1{digit}d")


def test_any_format_parses_or_is_refused_and_renders():
    # The defect this guards against: a format that compiled, then failed when an event came.
    alphabet = "%%%%-+ #0123456789.*hlLjztdiuoxXcspgrfnqé\u0663\uff13\n"
    values = {"s": (1, "x"), "r": Buffer(b"\x00a"), "rx": Buffer(b"a"), "rh": Buffer(b"")}
    rng = random.Random(7)
    accepted = 0
    for _ in range(5000):
        spec = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        try:
            parts = parse_format(spec)
        except FormatError as err:
            assert spec[err.offset] == "%" and err.message
            continue
        accepted += 1
        args = [values.get(c.conv, -12345678901) for c in conversions(parts)]
        assert isinstance(render(parts, args), str)
    assert 100 < accepted < 4900


def test_largest_width_is_accepted():
    (c,) = parse_format("%2147483647d")
    assert c.width == 2**31 - 1


# ---- what the checker calls -------------------------------------------------------------------

def BufferType():
    """buf()'s value: a symbolic value whose words hold a length and 8 bytes."""
    return T.SymbolicType("buffer", 2, (8,))


TUPLE = T.TupleType((T.INT64, T.StringType(4)))
RECORD = T.TupleType((T.INT64, T.BOOL), ("a", "b"))


@pytest.mark.parametrize("spec, typ, message", [
    ("%d", T.INT64, None),
    ("%ld", T.UINT8, None),
    ("%d", T.BOOL, None),
    ("%x", T.PointerType(T.INT32), None),
    ("%c", T.INT8, None),
    ("%p", T.UINT64, None),
    ("%gr", T.UINT32, None),
    ("%d", T.StringType(6), "unsupported format specifier for type 'string[6]': d"),
    ("%-5lu", T.StringType(6), "unsupported format specifier for type 'string[6]': u"),
    ("%d", TUPLE, "unsupported format specifier for type '(int64,string[4])': d"),
    ("%x", RECORD, "unsupported format specifier for type 'record { .a = int64, .b = bool }': x"),
    ("%d", T.COUNT, "unsupported format specifier for type 'count_t': d"),
    ("%gr", T.StringType(3), "unsupported format specifier for type 'string[3]': gr"),
    ("%p", TUPLE, "unsupported format specifier for type '(int64,string[4])': p"),
    ("%r", T.INT64, "unsupported format specifier for type 'int64': r"),
    ("%rx", T.StringType(4), "unsupported format specifier for type 'string[4]': rx"),
    ("%rh", T.PointerType(), "unsupported format specifier for type 'void *': rh"),
    ("%r", BufferType(), None),
    ("%rh", BufferType(), None),
    ("%d", BufferType(), "unsupported format specifier for type 'buffer': d"),
    ("%d", T.VOID, "unable to print none type for specifier: d"),
    ("%s", T.VOID, "unable to print none type for specifier: s"),
])
def test_check(spec, typ, message):
    (c,) = parse_format(spec)
    assert c.check(typ) == message


@pytest.mark.parametrize("typ", [T.INT64, T.UINT8, T.BOOL, T.StringType(5), T.PointerType(),
                                 TUPLE, RECORD, T.COUNT, BufferType(), T.StructRef("struct x")])
def test_s_prints_any_value(typ):
    assert parse_format("%-10s")[0].check(typ) is None


@pytest.mark.parametrize("spec, supplied, message", [
    ("%d %s", 2, None),
    ("%d %s", 1, "not enough arguments for format string (1 supplied, 2 expected)"),
    ("%d", 3, "too many arguments for format string (3 supplied, 1 expected)"),
    ("100%%", 1, "too many arguments for format string (1 supplied, 0 expected)"),
    ("%*d", 2, "too many arguments for format string (2 supplied, 1 expected)"),
])
def test_count_error(spec, supplied, message):
    assert count_error(parse_format(spec), supplied) == message
