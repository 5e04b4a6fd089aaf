"""The parser: program text -> tracer.ast, and syntax errors rendered for a person."""

from __future__ import annotations

import pytest

from tracer import ast
from tracer.diagnostics import CompileError, Source, Span
from tracer.parser import parse


def parse_text(text: str) -> ast.Program:
    return parse(Source("stdin", text))


def parse_error(text: str, name: str = "stdin") -> CompileError:
    with pytest.raises(CompileError) as info:
        parse(Source(name, text))
    return info.value


def sx(node: ast.Node):
    """A compact s-expression of an expression tree, to compare tree shapes in one line."""
    if isinstance(node, ast.IntLit):
        return node.value
    if isinstance(node, ast.StrLit):
        return node.value
    if isinstance(node, (ast.Ident, ast.Var)):
        return node.name
    if isinstance(node, ast.Positional):
        return f"${node.index}"
    if isinstance(node, ast.ParamCount):
        return "$#"
    if isinstance(node, ast.Binary):
        return (node.op, sx(node.left), sx(node.right))
    if isinstance(node, ast.Unary):
        return (node.op, sx(node.operand))
    if isinstance(node, ast.FieldAccess):
        return ("->" if node.arrow else ".", sx(node.base), node.field_name)
    if isinstance(node, ast.MapRef):
        return (node.name, *[sx(k) for k in node.keys])
    if isinstance(node, ast.Call):
        return ("call", node.name, *[sx(a) for a in node.args])
    raise AssertionError(f"no s-expression for {type(node).__name__}")


def expr_of(src: str):
    """The tree of one expression, parsed as a statement of a BEGIN probe."""
    program = parse_text(f"BEGIN {{ {src}; }}")
    (stmt,) = program.probes[0].body.stmts
    assert isinstance(stmt, ast.ExprStmt)
    return sx(stmt.expr)


# ---- probes and attach lists ----------------------------------------------------------------


@pytest.mark.parametrize("attach, expected", [
    ("BEGIN", ["BEGIN"]),
    ("END", ["END"]),
    ("BEGIN, END", ["BEGIN", "END"]),
    ("BEGIN,END", ["BEGIN", "END"]),
    ("i:s:1, t:a:b", ["i:s:1", "t:a:b"]),
    ("interval:ms:100", ["interval:ms:100"]),
    ("uprobe:/bin/bash:readline", ["uprobe:/bin/bash:readline"]),
    ("uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc",
     ["uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc"]),
    ("tracepoint:syscalls:sys_enter_*", ["tracepoint:syscalls:sys_enter_*"]),
    ("kprobe:vfs_*", ["kprobe:vfs_*"]),
    ("t:syscalls:sys_enter_open*, t:syscalls:sys_exit_open*",
     ["t:syscalls:sys_enter_open*", "t:syscalls:sys_exit_open*"]),
    ("t:sched:sched_*,\n  uprobe:/bin/sh:main", ["t:sched:sched_*", "uprobe:/bin/sh:main"]),
])
def test_attach_list(attach, expected):
    program = parse_text(attach + " { @ = 1; }")
    (probe,) = program.probes
    assert [ap.text for ap in probe.attach_points] == expected
    assert probe.predicate is None


def test_attach_point_spans():
    (probe,) = parse_text("i:s:1, t:a:b { @ = 1; }").probes
    assert [ap.span for ap in probe.attach_points] == [Span(1, 1, 1, 6), Span(1, 8, 1, 13)]


def test_attach_point_directly_followed_by_block():
    (probe,) = parse_text("t:syscalls:sys_enter_openat{ @ = 1; }").probes
    assert [ap.text for ap in probe.attach_points] == ["t:syscalls:sys_enter_openat"]


def test_several_probes_in_order():
    program = parse_text("BEGIN { @a = 1; }\ni:s:1 { @b = 2; } END { @c = 3; }")
    assert [[ap.text for ap in p.attach_points] for p in program.probes] == \
        [["BEGIN"], ["i:s:1"], ["END"]]
    assert [sx(p.body.stmts[0].target) for p in program.probes] == [("@a",), ("@b",), ("@c",)]
    assert [p.span.line for p in program.probes] == [1, 2, 2]


def test_no_spaces_at_all():
    (probe,) = parse_text("BEGIN{@=1}").probes
    assert sx(probe.body.stmts[0].target) == ("@",)
    assert sx(probe.body.stmts[0].value) == 1


# ---- predicates -----------------------------------------------------------------------------


@pytest.mark.parametrize("predicate, expected", [
    ("/$x / 2 > 1/", (">", ("/", "$x", 2), 1)),
    ("/pid == 1/", ("==", "pid", 1)),
    ("/pid/", "pid"),
    ("/1/", 1),
    ("/8 / 4 / 2/", ("/", ("/", 8, 4), 2)),
    ('/comm == "bash"/', ("==", "comm", b"bash")),
    ("/!(pid == 1) && tid != 2/", ("&&", ("!", ("==", "pid", 1)), ("!=", "tid", 2))),
    ("/args->fd / 2/", ("/", ("->", "args", "fd"), 2)),
])
def test_predicate(predicate, expected):
    (probe,) = parse_text(f"i:s:1 {predicate} {{ @ = 1; }}").probes
    assert sx(probe.predicate) == expected
    assert sx(probe.body.stmts[0].value) == 1


def test_predicate_closing_slash_on_its_own_line_before_block():
    (probe,) = parse_text("BEGIN\n/ 6 / 3 /\n{ @ = 1; }").probes
    assert sx(probe.predicate) == ("/", 6, 3)


def test_division_in_body_is_not_a_predicate():
    (probe,) = parse_text("BEGIN { @ = 6 / 3 / 2 }").probes
    assert probe.predicate is None
    assert sx(probe.body.stmts[0].value) == ("/", ("/", 6, 3), 2)


# ---- expressions: precedence, associativity, unary operators -------------------------------


@pytest.mark.parametrize("src, expected", [
    ("1 + 2 * 3", ("+", 1, ("*", 2, 3))),
    ("1 * 2 + 3", ("+", ("*", 1, 2), 3)),
    ("(1 + 2) * 3", ("*", ("+", 1, 2), 3)),
    ("1 - 2 - 3", ("-", ("-", 1, 2), 3)),
    ("8 / 4 / 2", ("/", ("/", 8, 4), 2)),
    ("7 % 4 * 2", ("*", ("%", 7, 4), 2)),
    ("a || b && c", ("||", "a", ("&&", "b", "c"))),
    ("a && b || c", ("||", ("&&", "a", "b"), "c")),
    ("a || b || c", ("||", ("||", "a", "b"), "c")),
    ("1 + 2 < 3 * 4", ("<", ("+", 1, 2), ("*", 3, 4))),
    ("1 < 2 == 3 > 4", ("==", ("<", 1, 2), (">", 3, 4))),
    ("1 <= 2 != 3 >= 4", ("!=", ("<=", 1, 2), (">=", 3, 4))),
    ("a == b && c != d", ("&&", ("==", "a", "b"), ("!=", "c", "d"))),
    ("a | b ^ c & d", ("|", "a", ("^", "b", ("&", "c", "d")))),
    ("a & b == c", ("&", "a", ("==", "b", "c"))),
    ("a | b && c", ("&&", ("|", "a", "b"), "c")),
    ("1 << 2 + 3", ("<<", 1, ("+", 2, 3))),
    ("1 >> 2 < 3", ("<", (">>", 1, 2), 3)),
    ("-x * 2", ("*", ("-", "x"), 2)),
    ("-1", -1),  # a negative literal is one value (bpftrace folds it)
    ("-(1)", -1),
    ("1 - 1", ("-", 1, 1)),
    ("- -x", ("-", ("-", "x"))),
    ("!!x", ("!", ("!", "x"))),
    ("~x & 3", ("&", ("~", "x"), 3)),
    ("!a && b", ("&&", ("!", "a"), "b")),
    ("!(a && b)", ("!", ("&&", "a", "b"))),
    ("-args->f", ("-", ("->", "args", "f"))),
    ("args->f", ("->", "args", "f")),
    ("args.f", (".", "args", "f")),
    ("args->a + args.b", ("+", ("->", "args", "a"), (".", "args", "b"))),
    ("$1 + $# + $x", ("+", ("+", "$1", "$#"), "$x")),
    ("@m[1] + @", ("+", ("@m", 1), ("@",))),
    ('printf("%d\\n", 1 + 2)', ("call", "printf", b"%d\n", ("+", 1, 2))),
    ("exit()", ("call", "exit")),
    ("str($1)", ("call", "str", "$1")),
])
def test_expression_tree(src, expected):
    assert expr_of(src) == expected


def test_binary_operator_span_points_at_the_operator():
    (stmt,) = parse_text("BEGIN { 10 >= 2; }").probes[0].body.stmts
    assert stmt.expr.op_span == Span(1, 12, 1, 14)
    assert stmt.expr.span == Span(1, 9, 1, 16)


def test_field_access_arrow_flag():
    arrow = parse_text("BEGIN { args->f; }").probes[0].body.stmts[0].expr
    dot = parse_text("BEGIN { args.f; }").probes[0].body.stmts[0].expr
    assert (arrow.arrow, arrow.field_name, arrow.base.name) == (True, "f", "args")
    assert (dot.arrow, dot.field_name, dot.base.name) == (False, "f", "args")


# ---- statements and maps --------------------------------------------------------------------


def test_statements_and_map_keys():
    (probe,) = parse_text('BEGIN { $x = 1; @x[1, "a", $x] = $x; @ = 2; @[pid] = 3 }').probes
    kinds = [type(s).__name__ for s in probe.body.stmts]
    assert kinds == ["Assign", "Assign", "Assign", "Assign"]
    assert probe.body.stmts[0].target.name == "$x" and sx(probe.body.stmts[0].value) == 1
    assert sx(probe.body.stmts[1].target) == ("@x", 1, b"a", "$x")
    assert sx(probe.body.stmts[2].target) == ("@",)
    assert sx(probe.body.stmts[3].target) == ("@", "pid")


@pytest.mark.parametrize("body, count", [
    ("", 0),
    ("@ = 1", 1),
    ("@ = 1;", 1),
    ("@ = 1; @ = 2", 2),
    ("@ = 1; @ = 2;", 2),
])
def test_trailing_semicolon_is_optional(body, count):
    (probe,) = parse_text(f"BEGIN {{ {body} }}").probes
    assert len(probe.body.stmts) == count


# ---- string literals ------------------------------------------------------------------------


@pytest.mark.parametrize("literal, expected", [
    (r'"plain"', b"plain"),
    (r'"a\nb"', b"a\nb"),
    (r'"\t"', b"\t"),
    (r'"\\"', b"\\"),
    (r'"\""', b'"'),
    (r'"\101"', b"A"),
    (r'"\1012"', b"A2"),  # at most three octal digits
    (r'"\0"', b"\x00"),
    (r'"\x41"', b"A"),
    (r'"\x4g"', b"\x04g"),  # one or two hex digits
    (r'"\xff"', b"\xff"),
    (r'"\r"', b"\r"),
    (r'"\X41"', b"A"),
    ('"\udcff"', b"\xff"),  # a raw byte of a file that is not UTF-8 is kept as it is
    ('"é"', "é".encode("utf-8")),
    ('""', b""),
])
def test_string_escapes(literal, expected):
    assert expr_of(literal) == expected


@pytest.mark.parametrize("escape", ["a", "b", "f", "v", "e", "'", "?"])
def test_escapes_bpftrace_refuses_are_refused(escape):
    # C's other escapes are not bpftrace's (0.17 and 0.26 both refuse them).
    err = parse_error(f'BEGIN {{ "\\{escape}" }}')
    assert err.diagnostics[0].message == f"invalid escape character '\\{escape}'"


def test_invalid_escape_is_an_error_at_the_escape():
    err = parse_error(r'BEGIN { "a\q" }')
    assert err.render() == (
        "stdin:1:11: error: invalid escape character '\\q'\n"
        'BEGIN { "a\\q" }\n'
        "          ~~"
    )


def test_octal_escape_out_of_range():
    err = parse_error(r'BEGIN { "\777" }')
    assert err.diagnostics[0].message == "octal escape sequence out of range '\\777'"
    assert err.diagnostics[0].span == Span(1, 10, 1, 14)


@pytest.mark.parametrize("text", ['BEGIN { @ = "abc }', 'BEGIN { @ = "ab\nc" }'])
def test_unterminated_string(text):
    err = parse_error(text)
    assert err.render().splitlines()[0] == "stdin:1:13: error: syntax error: unterminated string"


# ---- integer literals -----------------------------------------------------------------------


@pytest.mark.parametrize("literal, expected", [
    ("0", 0),
    ("42", 42),
    ("0x1F", 31),
    ("0X10", 16),
    ("0xff", 255),
    ("1_000_000", 1_000_000),
    ("18446744073709551615", 2**64 - 1),
    ("0xffffffffffffffff", 2**64 - 1),
])
def test_integer_literals(literal, expected):
    assert expr_of(literal) == expected


def test_integer_too_large():
    err = parse_error("BEGIN { @ = 18446744073709551616 }")
    assert err.render() == (
        "stdin:1:13: error: overflow error, maximum value is 18446744073709551615: "
        "18446744073709551616\n"
        "BEGIN { @ = 18446744073709551616 }\n"
        "            ~~~~~~~~~~~~~~~~~~~~"
    )


def test_hex_integer_too_large():
    err = parse_error("BEGIN { @ = 0x10000000000000000 }")
    assert err.diagnostics[0].message == \
        "overflow error, maximum value is 18446744073709551615: 0x10000000000000000"


# ---- comments and shebang -------------------------------------------------------------------


def test_comments_are_ignored():
    text = ("// leading comment\n"
            "BEGIN /* between */ { @ = /* inside */ 1; } // trailing\n"
            "/* several\n   lines */\n"
            "END { @ = 2 }")
    program = parse_text(text)
    assert [p.attach_points[0].text for p in program.probes] == ["BEGIN", "END"]
    assert [sx(p.body.stmts[0].value) for p in program.probes] == [1, 2]
    assert program.probes[1].span.line == 5


def test_comment_markers_inside_a_string_are_text():
    assert expr_of('"// not /* a comment */"') == b"// not /* a comment */"


def test_line_numbers_after_a_block_comment():
    err = parse_error("/* one\ntwo */\nBEGIN { @ = 1 +; }")
    assert err.render().splitlines()[0] == "stdin:3:16: error: syntax error: unexpected ';'"


def test_shebang_line_is_skipped_and_keeps_line_numbers():
    program = parse_text("#!/usr/bin/env tracer\nBEGIN { @ = 1; }\n")
    assert program.probes[0].span.line == 2
    err = parse_error("#!/usr/bin/env tracer\nBEGIN { @ = 1 +; }\n")
    assert err.render() == (
        "stdin:2:16: error: syntax error: unexpected ';'\n"
        "BEGIN { @ = 1 +; }\n"
        "               ~"
    )


def test_hash_elsewhere_is_not_a_shebang():
    err = parse_error("BEGIN { @ = 1; }\n#!/bin/sh\n")
    assert err.render().splitlines()[0] == "stdin:2:1: error: unknown preprocessor directive '#!'"


# ---- syntax errors, rendered ----------------------------------------------------------------


@pytest.mark.parametrize("text, rendered", [
    ('BEGIN { printf("x" }',
     "stdin:1:20: error: syntax error: unexpected '}', expecting ',' or ')'\n"
     'BEGIN { printf("x" }\n'
     "                   ~"),
    ("BEGIN { @x = 1 # }",
     "stdin:1:16: error: syntax error: unexpected character '#'\n"
     "BEGIN { @x = 1 # }\n"
     "               ~"),
    ("BEGIN { @ = $; }",
     "stdin:1:13: error: syntax error: unexpected character '$'\n"
     "BEGIN { @ = $; }\n"
     "            ~"),
    ('BEGIN { printf("x") @y = 1; }',
     "stdin:1:21: error: syntax error: unexpected '@y', expecting ';'\n"
     'BEGIN { printf("x") @y = 1; }\n'
     "                    ~~"),
    ("BEGIN { @x = = 1 }",
     "stdin:1:14: error: syntax error: unexpected '='\n"
     "BEGIN { @x = = 1 }\n"
     "             ~"),
    ("BEGIN { @a = 1; } }",
     "stdin:1:19: error: syntax error: unexpected '}', expecting a probe (such as BEGIN or "
     "tracepoint:CATEGORY:EVENT)\n"
     "BEGIN { @a = 1; } }\n"
     "                  ~"),
    ("BEGIN\n{\n  @ = 1 + ;\n}",
     "stdin:3:11: error: syntax error: unexpected ';'\n"
     "  @ = 1 + ;\n"
     "          ~"),
    # A tab counts as one column, and is shown as one space so the underline lines up.
    ("BEGIN {\n\t@ = 1 +;\n}",
     "stdin:2:9: error: syntax error: unexpected ';'\n"
     " @ = 1 +;\n"
     "        ~"),
])
def test_syntax_error_rendering(text, rendered):
    assert parse_error(text).render() == rendered


@pytest.mark.parametrize("text, rendered", [
    ("BEGIN { @x = 1",
     "stdin:1:14: error: syntax error: unexpected end of program, expecting '}'\n"
     "BEGIN { @x = 1\n"
     "             ~"),
    ("BEGIN {\n  @x = 1\n",
     "stdin:2:8: error: syntax error: unexpected end of program, expecting '}'\n"
     "  @x = 1\n"
     "       ~"),
    ("BEGIN { @ = 1 } foo",
     "stdin:1:19: error: syntax error: unexpected end of program, expecting ',' or '{' or '/'\n"
     "BEGIN { @ = 1 } foo\n"
     "                  ~"),
])
def test_unexpected_end_of_input(text, rendered):
    assert parse_error(text).render() == rendered


def test_errors_carry_the_source_name():
    err = parse_error("BEGIN { @ = 1 +; }", name="script.bt")
    assert err.render().startswith("script.bt:1:16: error: ")
    assert err.source == Source("script.bt", "BEGIN { @ = 1 +; }")


@pytest.mark.parametrize("text", ["", "   \n\t", "// only a comment\n", "/* nothing */"])
def test_empty_program(text):
    err = parse_error(text)
    assert len(err.diagnostics) == 1
    lines = err.render().splitlines()
    assert lines[0] == "stdin:1:1: error: no probes: a program needs at least one probe"
    assert lines[-1] == 'hint: for example: BEGIN { printf("hello\\n"); }'


def test_syntax_errors_are_compile_errors_not_lark_exceptions():
    # Whatever the mistake, the parser raises only CompileError (never lark's exceptions).
    for text in ["{", "}", "BEGIN", "BEGIN {", "@x = 1", "BEGIN { ( }", "BEGIN { @x[ = 1 }",
                 "BEGIN / {", "BEGIN { printf(,) }", "BEGIN { \x00 }"]:
        err = parse_error(text)
        assert err.diagnostics and err.diagnostics[0].severity == "error", text
        assert err.render().startswith("stdin:"), text
