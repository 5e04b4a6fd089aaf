"""Generated C, checked for what it does (names, escaping, structure), never pinned whole."""

from __future__ import annotations

import ctypes
import re
import struct

import pytest

from tracer.codegen.cstring import c_string_literal
from tracer.compiler import compile_program
from tracer.layout import Layout
from tracer.options import CompileOptions
from tracer.types import (BOOL, COMM, COUNT, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32,
                          UINT64,
                          IntType, StringType, TupleType)


# ---- helpers: read C back -------------------------------------------------------------------

C_SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92,
                    '"': 34, "'": 39, "?": 63}


def decode_c_literal(literal: str) -> bytes:
    """The bytes a C string literal stands for (octal, hex and simple escapes)."""
    assert literal[0] == '"' and literal[-1] == '"', literal
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            assert ch != '"', f"unescaped quote in {literal}"
            out += ch.encode("utf-8")
            i += 1
            continue
        m = re.match(r"[0-7]{1,3}", body[i + 1:])
        if m:
            out.append(int(m.group(0), 8))
            i += 1 + len(m.group(0))
            continue
        m = re.match(r"x([0-9a-fA-F]+)", body[i + 1:])
        if m:
            out.append(int(m.group(1), 16))
            i += 1 + len(m.group(0))
            continue
        out.append(C_SIMPLE_ESCAPES[body[i + 1]])
        i += 2
    return bytes(out)


def split_c(text: str) -> tuple[str, list[str], list[str]]:
    """C text -> (the code with every string literal and comment removed, literals, comments)."""
    code, literals, comments = [], [], []
    i = 0
    while i < len(text):
        if text.startswith("/*", i):
            end = text.index("*/", i + 2) + 2
            comments.append(text[i:end])
            code.append(" ")
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            comments.append(text[i:end])
            i = end
        elif text[i] in "\"'":
            quote, j = text[i], i + 1
            while text[j] != quote:
                j += 2 if text[j] == "\\" else 1
            if quote == '"':
                literals.append(text[i:j + 1])
            code.append(" ")
            i = j + 1
        else:
            code.append(text[i])
            i += 1
    return "".join(code), literals, comments


def c_text(program: str, options: CompileOptions | None = None) -> str:
    return compile_program(program, "stdin", options).c_text


# ---- c_string_literal -----------------------------------------------------------------------

NASTY = [
    b"",
    b"plain text",
    b'"',
    b"\\",
    b"*/",
    b"/*",
    b"*/ int x; /*",
    b"\n",
    b"a\nb\tc\rd",
    b"\x00\x01\x7f",
    "é → ü".encode("utf-8"),
    b"\xff\xfe",
    b"??=",  # a trigraph
    b"??/",
    b'"); system("rm -rf /"); //',
    bytes(range(256)),
]


@pytest.mark.parametrize("data", NASTY)
def test_c_string_literal_is_printable_ascii(data):
    lit = c_string_literal(data)
    assert re.fullmatch(r'"[ -~]*"', lit), lit


@pytest.mark.parametrize("data", NASTY)
def test_c_string_literal_has_no_raw_quote_inside(data):
    # Every `"` inside the literal is escaped, so it cannot end the literal early.
    lit = c_string_literal(data)
    # What is left once every complete escape is removed has neither quotes nor backslashes
    # (so no backslash is left to escape the closing quote either).
    rest = re.sub(r"\\[0-7]{3}|\\.", "", lit[1:-1])
    assert '"' not in rest and "\\" not in rest


@pytest.mark.parametrize("data", NASTY)
def test_c_string_literal_has_no_comment_delimiters(data):
    lit = c_string_literal(data)
    assert "*/" not in lit
    assert "/*" not in lit


@pytest.mark.parametrize("data", NASTY)
def test_c_string_literal_round_trips(data):
    assert decode_c_literal(c_string_literal(data)) == data


@pytest.mark.parametrize("data", NASTY)
def test_c_string_literal_has_no_trigraphs(data):
    assert "??" not in c_string_literal(data)


def test_c_string_literal_escapes_are_three_octal_digits():
    # So that a digit after an escape is never read as part of it ("\0" then "1").
    lit = c_string_literal(b"\x001")
    assert decode_c_literal(lit) == b"\x001"
    assert lit == '"\\0001"'


def test_c_string_literal_keeps_plain_text_readable():
    assert c_string_literal(b"hello world 42") == '"hello world 42"'


# ---- user text never becomes C code ---------------------------------------------------------

EVIL_PROGRAM = r'''
BEGIN {
  @evil_name = 1;
  @evil_keyed["*/ evil_key /*"] = count();
  $evil_var = "*/ int evil_x; /*";
  @evil_str = $evil_var;
  printf("*/ int evil_fmt; /* %s\n", "\"); evil_call(); //");
  printf("%s\n", str($1));
}
'''


@pytest.fixture(scope="module")
def evil_c() -> str:
    return c_text(EVIL_PROGRAM, CompileOptions(params=['"); evil_param(); /*']))


def test_user_text_is_not_c_code(evil_c):
    code, _, _ = split_c(evil_c)
    assert "evil" not in code


def test_user_strings_are_whole_string_literals(evil_c):
    _, literals, _ = split_c(evil_c)
    decoded = {decode_c_literal(lit) for lit in literals}
    assert b"*/ evil_key /*" in decoded
    assert b"*/ int evil_x; /*" in decoded
    assert b'"); evil_call(); //' in decoded
    assert b'"); evil_param(); /*' in decoded


def test_format_strings_stay_in_user_space(evil_c):
    # printf's format is rendered by tracer, so it never needs to be in the C at all.
    assert "evil_fmt" not in evil_c


def test_variable_names_are_not_in_the_c(evil_c):
    assert "evil_var" not in evil_c


def test_map_names_only_in_declaration_comments(evil_c):
    lines = [line for line in evil_c.splitlines() if "@evil" in line]
    assert len(lines) == 3
    for line in lines:
        assert re.fullmatch(r"BPF_(PERCPU_)?(HASH|ARRAY)\(m\d+, .*\); /\* @evil_\w+ \*/", line), line
    _, _, comments = split_c(evil_c)
    assert sorted(c for c in comments if "evil" in c) == \
        ["/* @evil_keyed */", "/* @evil_name */", "/* @evil_str */"]


def test_map_c_names_follow_map_name_order():
    compiled = compile_program("BEGIN { @zeta = 1; @alpha = 2; @ = 3; }")
    assert {name: m.c_name for name, m in compiled.resources.maps.items()} == \
        {"@": "m0", "@alpha": "m1", "@zeta": "m2"}
    for m in compiled.resources.maps.values():
        assert re.search(rf"^BPF_HASH\({m.c_name}, struct tup_\d+, struct tup_\d+, 4096\);",
                         compiled.c_text, re.M)


def test_scalar_count_is_a_percpu_array():
    text = c_text("BEGIN { @c = count(); @k[pid] = count(); }")
    assert re.search(r"^BPF_PERCPU_ARRAY\(m0, struct tracer_words1, 1\);", text, re.M)
    assert re.search(r"^BPF_PERCPU_HASH\(m1, struct tup_\d+, struct tracer_words1, \d+\);", text,
                     re.M)


def test_big_aggregation_slots_are_allocated_as_keys_arrive():
    text = c_text("BEGIN { @h[pid] = hist(1); @s[pid] = sum(1); }")
    assert re.search(r'^BPF_F_TABLE\("percpu_hash", struct tup_\d+, struct tracer_words65, m0, '
                     r'4096, 1\);', text, re.M)
    assert re.search(r"^BPF_PERCPU_HASH\(m1, struct tup_\d+, struct tracer_words1, 4096\);",
                     text, re.M)


def test_max_map_keys_sizes_the_maps():
    text = c_text("config = { max_map_keys = 17 } BEGIN { @k[pid] = 1; @c[tid] = count(); }")
    assert len(re.findall(r"^BPF_(PERCPU_)?HASH\(m\d, .*, 17\);", text, re.M)) == 2


# ---- one C function per attach point --------------------------------------------------------


def probe_functions(text: str) -> list[str]:
    return re.findall(r"^int (probe_\d+)\(", text, re.M)


@pytest.mark.parametrize("program, expected", [
    ("BEGIN { @ = 1; }", ["probe_0"]),
    ("BEGIN, END { @ = 1; }", ["probe_0", "probe_1"]),
    ("i:s:1, i:ms:10, END { @ = 1; }", ["probe_0", "probe_1", "probe_2"]),
    ("BEGIN { @a = 1; } END, i:s:1 { @b = 2; } END { @c = 3; }",
     ["probe_0", "probe_1", "probe_2", "probe_3"]),
])
def test_one_function_per_attach_point(program, expected):
    text = c_text(program)
    assert probe_functions(text) == expected
    assert text.count("int probe_") == len(expected)


def test_each_function_is_labelled_with_its_attach_point():
    text = c_text("BEGIN, END { @ = 1; } interval:s:1 { @ = 2; }")
    labels = re.findall(r"^/\* (.*) \*/\nint (probe_\d+)\(", text, re.M)
    assert labels == [("BEGIN", "probe_0"), ("END", "probe_1"), ("interval:s:1", "probe_2")]


def test_a_predicate_returns_early():
    text = c_text("BEGIN /pid == 12345/ { @ = 1; }")
    body = text[text.index("int probe_0("):]
    assert re.search(r"if \(!\(t\d+\)\) return 0;", body)
    assert body.index("12345") < body.index("return 0;") < body.index("m0.update(")


def test_exit_ends_the_probe():
    text = c_text('BEGIN { exit(); printf("after\\n"); }')
    body = text[text.index("int probe_0("):]
    exit_at = body.index("tracer_emit(")
    assert body[exit_at:].split("\n")[1].strip() == "return 0;"


# ---- printf events: one id per call site ----------------------------------------------------


def test_each_printf_call_gets_its_own_event():
    compiled = compile_program('BEGIN { printf("a\\n"); printf("a\\n"); } '
                               'END { printf("b %d\\n", 1); }')
    assert sorted(compiled.resources.events) == [1, 2, 3]
    assert re.findall(r"\bt\d+->f0 = (\d+);", compiled.c_text) == ["1", "2", "3"]


def test_printf_in_a_probe_with_two_attach_points_gets_an_event_per_site():
    compiled = compile_program('BEGIN, END { printf("x %d\\n", 5); }')
    events = compiled.resources.events
    assert sorted(events) == [1, 2]
    assert events[1].facts == events[2].facts
    assert re.findall(r"\bt\d+->f0 = (\d+);", compiled.c_text) == ["1", "2"]


def test_printf_event_layout_holds_id_then_arguments():
    compiled = compile_program('BEGIN { printf("%d %s %s %d\\n", 1, comm, "xy", pid); }')
    layout = compiled.resources.events[1].layout
    assert layout.types == (UINT64, INT8, COMM, StringType(3), UINT32)
    assert layout.offsets == (0, 8, 9, 25, 28)
    assert layout.size == 32


# ---- Layout: C's struct layout of bpftrace's types ---------------------------------------------

TUPLE = TupleType((INT8, INT64))


@pytest.mark.parametrize("types, offsets, size", [
    ([UINT64], [0], 8),
    ([INT64, UINT64], [0, 8], 16),
    ([UINT64, StringType(16), UINT64], [0, 8, 24], 32),
    ([StringType(3), INT64], [0, 8], 16),
    ([StringType(3), StringType(5)], [0, 3], 8),
    ([INT8, INT16, INT32], [0, 2, 4], 8),
    ([INT32, INT16, INT8], [0, 4, 6], 8),
    ([INT8, INT64, INT8, INT64], [0, 8, 16, 24], 32),
    ([BOOL, UINT32, BOOL], [0, 4, 8], 12),
    ([INT8, TUPLE, INT8], [0, 8, 24], 32),
    ([StringType(13), COUNT], [0, 16], 24),
    ([], [], 1),
])
def test_layout_offsets(types, offsets, size):
    layout = Layout.of(types)
    assert list(layout.offsets) == offsets
    assert layout.size == size


_CTYPES = {1: (ctypes.c_int8, ctypes.c_uint8), 2: (ctypes.c_int16, ctypes.c_uint16),
           4: (ctypes.c_int32, ctypes.c_uint32), 8: (ctypes.c_int64, ctypes.c_uint64)}


def _ctype(typ):
    if isinstance(typ, StringType):
        return ctypes.c_char * typ.capacity
    if isinstance(typ, TupleType):
        return _ctypes_struct(typ.elements)
    if isinstance(typ, IntType):
        return _CTYPES[typ.size][0 if typ.signed else 1]
    return ctypes.c_uint8 if typ == BOOL else ctypes.c_uint64


def _ctypes_struct(types):
    members = [(f"f{i}", _ctype(t)) for i, t in enumerate(types)] or [("unused", ctypes.c_uint8)]
    return type("S", (ctypes.Structure,), {"_fields_": members})


@pytest.mark.parametrize("types", [
    [UINT64],
    [UINT64, StringType(16), UINT64],
    [StringType(3), INT64],
    [StringType(13), COUNT],
    [INT8, INT16, INT32, UINT8],
    [INT32, BOOL, INT16],
    [INT8, TUPLE, StringType(3), TupleType((BOOL, TupleType((INT16, StringType(5)))))],
    [StringType(5)],
    [],
])
def test_layout_agrees_with_the_c_compiler(types):
    # The struct laid out by the platform's C ABI (ctypes) has the offsets and the size that
    # Layout says: the kernel side and the Python side cannot disagree.
    layout = Layout.of(types)
    cstruct = _ctypes_struct(types)
    for i, offset in enumerate(layout.offsets):
        assert getattr(cstruct, f"f{i}").offset == offset
    assert ctypes.sizeof(cstruct) == layout.size


def test_tuple_structs_are_declared_with_their_members():
    text = c_text('BEGIN { @t = ((int8)1, "ab", ((int16)2, true)); }')
    assert "struct tup_0 {\n  s16 f0;\n  u8 f1;\n};" in text
    assert "struct tup_1 {\n  s8 f0;\n  char f1[3];\n  struct tup_0 f2;\n};" in text


def test_layout_decode():
    layout = Layout.of([INT64, StringType(8), UINT64])
    raw = struct.pack("<q8sQ", -2, b"ab\0junk!", 2**64 - 1)
    assert layout.decode(raw) == [-2, "ab", 2**64 - 1]


def test_layout_decode_narrow_ints_bools_and_tuples():
    layout = Layout.of([INT8, UINT16, BOOL, TupleType((INT32, StringType(3)))])
    raw = struct.pack("<bxHBxxx", -3, 65535, 1) + struct.pack("<i3sx", -7, b"hi\0")
    assert layout.decode(raw) == [-3, 65535, True, (-7, "hi")]


def test_layout_decode_string_that_fills_its_buffer():
    layout = Layout.of([StringType(4)])
    assert layout.decode(b"abcd" + b"\0" * 4) == ["abcd"]
