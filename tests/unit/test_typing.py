"""The checker's typing rules (bpftrace 0.26's), scoping, and its refusals, one rule a test."""

from __future__ import annotations

import pytest

from tracer import ast
from tracer.compiler import compile_program
from tracer.diagnostics import CompileError
from tracer.options import CompileOptions
from tracer.types import (BOOL, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64,
                          IntType, PointerType, StringType, TupleType, promote, promote_int)


def compiled(text: str, **options):
    return compile_program(text, "stdin", CompileOptions(**options), environ={})


def errors(text: str, **options) -> list[str]:
    with pytest.raises(CompileError) as info:
        compiled(text, **options)
    return [d.message for d in info.value.diagnostics]


def type_of(src: str, **options):
    """The type of ``src`` assigned to a fresh variable in a BEGIN probe."""
    c = compiled(f"BEGIN {{ $result = {src}; }}", **options)
    (variable,) = [v for v in c.facts.variables[0] if v.name == "$result"]
    return variable.type


def map_type(text: str, name: str):
    info = compiled(text).facts.maps[name]
    return info.key, info.value


# ---- literals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("src, typ", [
    ("0", INT8), ("127", INT8), ("128", INT16), ("32767", INT16), ("32768", INT32),
    ("2147483648", INT64), ("9223372036854775808", UINT64), ("-1", INT8), ("-129", INT16),
    ("-2147483649", INT64), ("true", BOOL), ('"abc"', StringType(4)),
])
def test_literal_types(src, typ):
    assert type_of(src) == typ


def test_non_negative_literals_are_flexible():
    assert type_of("5").flexible and not type_of("-5").flexible


# ---- promotion: what holds two types -----------------------------------------------------------


@pytest.mark.parametrize("a, b, want", [
    (INT8, INT16, INT16),
    (UINT8, UINT32, UINT32),
    (INT32, UINT16, INT32),  # the signed side is wider: it holds both
    (UINT32, INT16, INT64),  # twice the wider size, signed
    (UINT64, INT64, INT64),  # nothing holds both: int64 (bpftrace warns of it)
    (IntType(8, True, True), UINT32, UINT32),  # a flexible literal takes the other's sign
])
def test_integer_promotion(a, b, want):
    assert promote_int(a, b) == want


def test_string_promotion_keeps_the_larger_capacity():
    assert promote(StringType(3), StringType(10)) == StringType(10)


def test_tuples_promote_element_by_element():
    assert promote(TupleType((INT8, StringType(2))), TupleType((INT32, StringType(5)))) == \
        TupleType((INT32, StringType(5)))


def test_incompatible_types_do_not_promote():
    assert promote(INT64, StringType(2)) is None
    assert promote(TupleType((INT8,)), TupleType((INT8, INT8))) is None


def test_a_variable_takes_the_type_holding_every_assignment():
    assert type_of("1; $result = (uint32)5") == UINT32
    assert type_of('"ab"; $result = "abcdef"') == StringType(7)


def test_a_variable_widened_later_is_read_with_its_final_type():
    c = compiled("BEGIN { $a = 1; $i = 0; while ($i < 3) { $b = $a; $a = (int64)$i; $i++; } }")
    types = {v.name: v.type for v in c.facts.variables[0]}
    assert types["$a"] == INT64 and types["$b"] == INT64


# ---- operators ---------------------------------------------------------------------------------


@pytest.mark.parametrize("src, typ", [
    ("(uint8)1 + (uint8)2", UINT64),  # arithmetic is 64-bit
    ("(int8)1 + (uint8)2", INT64),
    ("(uint32)5 - (uint32)1", INT64),  # subtraction is always signed (0.26)
    ("(uint8)1 << 3", UINT64),
    ("1 < 2", BOOL), ("1 == 1", BOOL), ("$x && 0", BOOL), ("!5", BOOL),
    ('"a" == "b"', BOOL), ("(1, 2) == (1, 2)", BOOL),
    ("-(uint8)3", UINT64), ("-(int8)3", INT64), ("~(uint16)1", UINT64), ("~(int32)1", INT64),
    ("*(uint16 *)0", UINT16), ("*1000", UINT64),
    ("true & false", BOOL),
])
def test_operator_result_types(src, typ):
    assert type_of(src.replace("$x", "1")) == typ


@pytest.mark.parametrize("src, message", [
    ('"a" + 1', "The + operator can not be used on expressions of types string[2], int8"),
    ('"a" < "b"', "The < operator can not be used on expressions of types string[2], "
                  "string[2]"),
    ('-"a"', "The - operator can not be used on expressions of type string[2]"),
    ("(1, 2) + 1", "The + operator can not be used on expressions of types (int8, int8), int8"),
])
def test_operator_refusals(src, message):
    assert errors(f"BEGIN {{ $v = {src}; }}") == [message]


def test_pointer_arithmetic_keeps_the_pointer():
    # An integer made a pointer outside a uprobe points into the kernel.
    assert type_of("(uint32 *)0 + 2") == PointerType(UINT32, user=False)


# ---- casts, sizeof, ternaries ------------------------------------------------------------------


@pytest.mark.parametrize("src, typ", [
    ("(uint8)300", UINT8), ("(int16)-1", INT16), ("(bool)5", BOOL), ('(bool)"x"', BOOL),
    ("(uint64 *)0", PointerType(UINT64, user=False)), ("(int64)true", INT64),
])
def test_casts(src, typ):
    assert type_of(src) == typ


def test_impossible_casts_are_refused():
    assert errors('BEGIN { $v = (uint8)"x"; }') == ['Cannot cast from "string[2]" to "uint8"']
    # A name in parentheses before a value: typedef names come with kernel types (BTF).
    assert errors("BEGIN { $v = (nosuchtype)1; }")[0] == \
        "syntax error: unexpected '1', expecting ';'"


def test_sizeof_is_a_constant_of_the_type_size():
    c = compiled("BEGIN { @a = sizeof(uint16); @b = sizeof(((int8)1, (int64)2)); "
                 "@c = sizeof(\"abc\"); }")
    sizes = [n.size for n in ast.walk(c.program) if isinstance(n, ast.Sizeof)]
    assert sizes == [2, 16, 4]


def test_ternary_branches_merge():
    assert type_of("1 ? (uint8)1 : (int32)2") == INT32
    assert type_of('1 ? "a" : "abc"') == StringType(4)
    assert errors('BEGIN { $v = 1 ? 1 : "a"; }') == [
        "Ternary operator must return the same type: have 'int8' and 'string[2]'"]


# ---- scopes ------------------------------------------------------------------------------------


def test_a_variable_is_seen_in_nested_blocks():
    compiled("BEGIN { $a = 1; if ($a) { $a = 2; { @x = $a; } } }")


def test_a_variable_of_an_inner_block_is_not_seen_outside():
    assert errors("BEGIN { if (1) { $x = 1; } @y = $x; }") == [
        "Undefined or undeclared variable: $x"]


def test_sibling_blocks_have_their_own_variables():
    c = compiled('BEGIN { if (1) { $x = 1; } else { $x = "s"; } }')
    assert [(v.name, v.type) for v in c.facts.variables[0]] == [
        ("$x", INT8), ("$x", StringType(2))]


def test_let_may_not_shadow():
    assert errors("BEGIN { let $x = 1; if (1) { let $x = 2; } }") == [
        "Variable $x was already declared. Variable shadowing is not allowed."]


def test_let_without_a_value_starts_at_zero_and_warns_if_never_assigned():
    c = compiled("BEGIN { let $x; let $y; $y = 1; @a = $y; }")
    assert [w.message for w in c.warnings] == ["Variable $x was never assigned to."]


def test_let_with_a_type_fixes_it():
    assert type_of("0; let $n: uint16 = 7; $result = $n") == UINT16
    assert errors("BEGIN { let $n: uint16 = -1; }") == [
        "Type mismatch for $n: value -1 does not fit in 'uint16'"]
    assert errors("BEGIN { let $n: uint16 = 1; $n = (uint64)5; }") == [
        "Integer size mismatch. Assignment type 'uint64' is larger than the variable type "
        "'uint16'."]


def test_variables_are_per_probe():
    assert errors("BEGIN { $x = 1; } END { @v = $x; }") == [
        "Undefined or undeclared variable: $x"]


def test_variable_type_cannot_change_kind():
    assert errors('BEGIN { $x = 1; $x = "a"; }') == [
        "Type mismatch for $x: trying to assign value of type 'string[2]' when variable "
        "already has a type 'int8'"]


# ---- loops and jumps ---------------------------------------------------------------------------


def test_for_range_variable_is_an_integer_scoped_to_the_loop():
    c = compiled("BEGIN { for ($i : 0..(uint32)5) { @x = $i; } }")
    assert c.facts.variables[0][0].type == UINT32
    assert errors("BEGIN { for ($i : 0..5) { } @x = $i; }") == [
        "Undefined or undeclared variable: $i"]


def test_for_map_variable_is_a_key_value_tuple():
    c = compiled('BEGIN { @m[1, "a"] = (uint16)2; for ($kv : @m) { @x = $kv.1; } }')
    assert c.facts.variables[0][0].type == TupleType((TupleType((INT8, StringType(2))), UINT16))


@pytest.mark.parametrize("text, message", [
    ("BEGIN { for ($i : 0..\"a\") { } }", "Loop range requires an integer for the end value"),
    ("BEGIN { $i = 1; for ($i : 0..2) { } }", "Loop declaration shadows existing variable: $i"),
    ("BEGIN { break; }", "'break' statement is not allowed in a probe"),
    ("BEGIN { if (1) { continue; } }", "'continue' statement is not allowed in a probe"),
    ("BEGIN { for ($i : 0..2) { return; } }", "'return' statement is not allowed in a for-loop"),
    ("BEGIN { for ($i : 0..2) { exit(); } }", "exit() is not allowed in a for-loop"),
    ("BEGIN { @c = count(); for ($kv : @c) { } }",
     "a for loop cannot iterate over @c: it holds count() values, kept per CPU"),
    ("BEGIN { @s = 1; for ($kv : @s) { } }", "@s has no keys to iterate over"),
    ("BEGIN { unroll(0) { } }", "unroll minimum value is 1"),
    ("BEGIN { unroll(101) { } }", "unroll maximum value is 100"),
    ("BEGIN { unroll($x) { } }", "invalid unroll value"),
])
def test_loop_refusals(text, message):
    assert message in errors(text)


def test_break_and_continue_in_while():
    compiled("BEGIN { $i = 0; while ($i < 5) { $i++; if ($i == 1) { continue; } break; } }")


def test_unreachable_statement_warns():
    c = compiled("BEGIN { $i = 0; while ($i < 5) { break; $i++; } }")
    assert [w.message for w in c.warnings] == ["Unreachable statement."]


# ---- maps --------------------------------------------------------------------------------------


def test_map_types_across_probes():
    assert map_type('BEGIN { @m["a"] = (uint8)1; } END { @m["abcd"] = (int32)2; }', "@m") == \
        (StringType(5), INT32)


def test_multi_key_and_tuple_key_are_the_same_map():
    assert map_type('BEGIN { @m[1, "a"] = 1; @m[(2, "b")] = 2; }', "@m")[0] == \
        TupleType((INT8, StringType(2)))


def test_map_read_before_any_assignment_is_an_integer():
    assert map_type("BEGIN { @n = @n + 1; }", "@n")[1] == INT64


@pytest.mark.parametrize("text, message", [
    ("BEGIN { @x = @y; }", "Undefined map: @y"),
    ("BEGIN { @m[1] = 1; @v = @m; }",
     "@m used as a map without an explicit key (scalar map), previously used with an "
     "explicit key (non-scalar map)"),
    ('BEGIN { @m[1] = 1; @m["a"] = 2; }',
     "Argument mismatch for @m: trying to access with arguments: 'string[2]' when map "
     "expects arguments: 'int8'"),
    ("BEGIN { @c = count(); @c = 1; }",
     "Type mismatch for @c: trying to assign value of type 'int8' when map already has a "
     "type 'count_t'"),
])
def test_map_refusals(text, message):
    assert message in errors(text)


# ---- tuples and records ------------------------------------------------------------------------


def test_tuple_element_types():
    assert type_of('(1, "a", (2, true)).2.1') == BOOL
    assert type_of("(1, (uint16)2, 3)[0 + 1]") == UINT16


def test_tuple_index_out_of_range():
    assert errors("BEGIN { $t = (1, 2); $v = $t.2; }") == [
        "Invalid tuple index: 2. Found 2 elements in tuple."]


def test_record_fields():
    assert type_of('(a=1, b="x").b') == StringType(2)
    assert errors("BEGIN { $r = (a=1); $v = $r.c; }") == [
        "Record does not contain a field named 'c'"]


def test_records_with_the_same_fields_in_another_order_merge():
    typ = type_of("(a=1, b=(uint32)2); $result = (b=(uint8)3, a=(int16)4)")
    assert typ == TupleType((INT16, UINT32), ("a", "b"))


# ---- functions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("src, typ", [
    ('strlen("abc")', UINT64), ('strcontains("abc", "b")', BOOL), ('strstr("abc", "b")', INT64),
    ('strncmp("a", "b", 1)', INT64), ('strcap("abc")', INT8),
    ("str($1)", StringType(6)), ("str($1 + 2)", StringType(4)), ("str(0, 16)", StringType(16)),
    ('getopt("n", 5)', INT8), ('getopt("flag")', BOOL), ('getopt("s", "abc")', StringType(4)),
])
def test_function_result_types(src, typ):
    assert type_of(src, params=["hello"]) == typ


def test_str_of_an_address_takes_max_strlen():
    assert type_of("str(0)") == StringType(1024)
    c = compiled("config = { max_strlen = 40 } BEGIN { $s = str(0); }")
    assert c.facts.variables[0][0].type == StringType(40)


@pytest.mark.parametrize("text, message", [
    ('BEGIN { printf("%d\\n", "s"); }',
     "unsupported format specifier for type 'string[2]': d"),
    ("BEGIN { printf($x); }", "printf() expects a string literal (None provided)"),
    ('BEGIN { $n = 1; $v = strncmp("a", "b", $n); }',
     "strncmp() expects an integer literal (int8 provided)"),
    ("BEGIN { $v = strlen(1); }", "strlen() expects a string here, not int8"),
    ("BEGIN { $v = printf(\"x\"); }", "printf() has no value; use it as a statement of its own"),
    ("BEGIN { $v = count(); }", "count() must be assigned to a map, as in @name = count()"),
    ("BEGIN { exit(1, 2); }", "exit() takes 0 to 1 arguments (2 provided)"),
    ("BEGIN { $v = nosuch(1); }", "Unknown function: 'nosuch'"),
])
def test_function_refusals(text, message):
    assert message in errors(text)


def test_getopt_reads_the_named_parameters():
    c = compiled('BEGIN { @a = getopt("n", 5); @b = getopt("f"); @c = getopt("s", "x"); }',
                 named={"n": "0x10", "f": True, "s": "given"})
    values = [n.info["value"] for n in ast.walk(c.program) if isinstance(n, ast.Call)]
    assert values == [16, True, b"given"]


def test_getopt_refusals():
    assert errors('BEGIN { @a = getopt("n", 5); }', named={"n": "many"}) == [
        "program command line option --n invalid integer (value: many)"]
    assert errors('BEGIN { @a = getopt("n", 5); }', named={"m": "1"}) == [
        "unexpected program command line options: --m"]


# ---- macros ------------------------------------------------------------------------------------


def test_macro_expansion_is_hygienic():
    c = compiled("macro inc($v) { $tmp = 1; $v += $tmp; } BEGIN { $tmp = 10; $x = 0; inc($x); }")
    names = sorted(v.name for v in c.facts.variables[0])
    assert names == ["$tmp", "$tmp#inc1", "$x"]


@pytest.mark.parametrize("text, message", [
    ("macro m() { @x = 1; } BEGIN { m(); }",
     "Unhygienic access to map: @x. Maps must be passed into the macro as arguments."),
    ("macro m($a) { $a } BEGIN { m(1); }",
     "Mismatched arg. m() expects a variable for arg $a but got an expression."),
    ("macro m(@a) { 1 } BEGIN { m($x); }",
     "Mismatched arg. m() expects a map for arg @a but got a variable."),
    ("macro m() { 1 } macro m() { 2 } BEGIN { }", "Redefinition of macro: m"),
    ("macro a() { b() } macro b() { a() } BEGIN { $v = a(); }",
     "Recursive macro call detected. Call chain: a > b > a"),
    ("macro m(x) { x } BEGIN { $v = m(); }", "Call to m() has arguments that do not match any "
                                             "definition."),
    ("macro m() { return; } BEGIN { }", "'return' statement is not allowed in a macro"),
    ("macro m() { break; } BEGIN { while (1) { m(); } }",
     "'break' statement is not allowed in a macro"),
])
def test_macro_refusals(text, message):
    assert message in errors(text)


def test_a_loop_inside_a_macro_may_break_and_a_bare_name_calls_it():
    c = compiled("macro depth() { 3 } macro walk(@m) { for ($j : 0..depth) { "
                 "if ($j == 2) { break; } @m[$j] = 1; } } BEGIN { walk(@seen); }")
    assert c.facts.maps["@seen"].key == INT8


# ---- config ------------------------------------------------------------------------------------


def test_config_values_and_environment_precedence():
    c = compile_program("config = { max_strlen = 16; missing_probes = warn } BEGIN { }",
                        environ={"BPFTRACE_MAX_STRLEN": "32"})
    assert (c.config.max_strlen, c.config.missing_probes) == (32, "warn")


@pytest.mark.parametrize("text, message", [
    ("config = { nope = 1 } BEGIN { }", "nope: not a known configuration option"),
    ("config = { max_strlen = 0 } BEGIN { }", "max_strlen: must be at least 1"),
    ("config = { missing_probes = maybe } BEGIN { }",
     "missing_probes: expects one of error, warn, ignore, not 'maybe'"),
    ("config = { print_maps_on_exit = 7 } BEGIN { }",
     "print_maps_on_exit: expects true or false (or 1 or 0)"),
])
def test_config_refusals(text, message):
    assert errors(text) == [message]


def test_older_config_names_still_work():
    c = compile_program("config = { strlen = 48 } BEGIN { }", environ={})
    assert c.config.max_strlen == 48


# ---- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("opening, closing", [("-(", ")"), ("str(", ")"), ("!(", ")")])
def test_bpftraces_nesting_depth_compiles_and_dumps(opening, closing):
    # bpftrace takes expressions 5,000 levels deep; so does tracer, with two attach points
    # (each gets its own copy of the tree) and in -d's dump of the tree.
    inner = '"x"' if opening == "str(" else "1"
    text = "BEGIN, END { @v = " + opening * 5000 + inner + closing * 5000 + "; }"
    c = compiled(text)
    assert len(c.sites) == 2
    assert ast.dump(c.program).count("\n") > 5000


def test_deeper_than_the_limit_is_a_located_error():
    text = "BEGIN { @v = " + "-(" * 12000 + "1" + ")" * 12000 + "; }"
    assert errors(text) == ["the expression is nested more than 10000 levels deep"]
