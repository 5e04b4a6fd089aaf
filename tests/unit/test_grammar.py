"""Each grammar rule of the 0.26 language: what it parses into, and what it refuses.

(test_parser.py covers attach points, predicates, operator precedence, literals and escapes.)
"""

from __future__ import annotations

import pytest

from tracer import ast
from tracer.diagnostics import CompileError, Source
from tracer.parser import parse


def body(src: str) -> list[ast.Stmt]:
    return parse(Source("stdin", f"BEGIN {{ {src} }}")).probes[0].body.stmts


def only(src: str) -> ast.Stmt:
    (stmt,) = body(src)
    return stmt


def expr(src: str) -> ast.Expr:
    stmt = only(f"$v = {src};")
    assert isinstance(stmt, ast.Assign)
    return stmt.value


def error(text: str) -> str:
    with pytest.raises(CompileError) as info:
        parse(Source("stdin", text))
    return info.value.diagnostics[0].message


# ---- statements and their separators ---------------------------------------------------------


def test_last_statement_needs_no_semicolon():
    assert [type(s).__name__ for s in body("$a = 1; @b = 2")] == ["Assign", "Assign"]


def test_compound_statements_need_no_semicolon():
    stmts = body("if (1) { } while (0) { } unroll(2) { } for ($i : 0..2) { } { } @x = 1;")
    assert [type(s).__name__ for s in stmts] == ["If", "While", "Unroll", "ForRange", "Block",
                                                 "Assign"]


def test_empty_statements_are_allowed():
    assert [type(s).__name__ for s in body(";; $a = 1;;")] == ["Assign"]


def test_two_simple_statements_need_a_semicolon():
    assert error("BEGIN { $a = 1 $b = 2 }").startswith("syntax error: unexpected '$b'")


# ---- if / else ---------------------------------------------------------------------------------


def test_if_else_if_else_chain():
    stmt = only("if ($x) { @a = 1; } else if ($y) { @b = 2; } else { @c = 3; }")
    assert isinstance(stmt, ast.If) and isinstance(stmt.otherwise, ast.If)
    assert isinstance(stmt.otherwise.otherwise, ast.Block)


def test_if_without_parentheses_takes_a_unary_condition():
    stmt = only("if $x { @a = 1; }")
    assert isinstance(stmt.cond, ast.Var)
    stmt = only("if !$x { }")
    assert isinstance(stmt.cond, ast.Unary)


def test_if_without_parentheses_does_not_take_a_binary_condition():
    # As 0.26: without parentheses the condition is a unary expression.
    assert "syntax error" in error("BEGIN { if $x > 1 { } }")


def test_else_needs_a_block_or_if():
    assert "syntax error" in error("BEGIN { if (1) { } else @a = 1; }")


# ---- loops and jumps ---------------------------------------------------------------------------


def test_while_and_unroll_with_and_without_parentheses():
    assert isinstance(only("while ($i < 3) { $i++; }"), ast.While)
    assert isinstance(only("while $i { }").cond, ast.Var)
    assert isinstance(only("unroll(5) { }").count, ast.IntLit)
    assert isinstance(only("unroll 5 { }").count, ast.IntLit)


@pytest.mark.parametrize("src", ["for ($i : 0..10) { }", "for $i : 0..10 { }",
                                 "for ($i : $a..$b) { }", "for ($i : 1..@n) { }"])
def test_for_range(src):
    stmt = only(src)
    assert isinstance(stmt, ast.ForRange) and stmt.var.name == "$i"


@pytest.mark.parametrize("src", ["for ($kv : @m) { }", "for $kv : @m { }"])
def test_for_map(src):
    stmt = only(src)
    assert isinstance(stmt, ast.ForMap) and stmt.map.name == "@m"


def test_for_over_something_else_is_refused():
    assert error("BEGIN { for ($x : $y) { } }") == "expected map or range in for loop"
    assert error("BEGIN { for ($x : @m[1]) { } }") == "expected map or range in for loop"


def test_jumps():
    stmts = body("while (1) { break; continue } return; return 1")
    assert [s.kind for s in stmts[0].body.stmts] == ["break", "continue"]
    assert (stmts[1].kind, stmts[1].value) == ("return", None)
    assert isinstance(stmts[2].value, ast.IntLit)


# ---- assignments ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"])
def test_every_compound_assignment(op):
    for target in ("$x", "@m", "@m[1, 2]"):
        stmt = only(f"{target} {op}= 3;")
        assert isinstance(stmt, ast.Assign) and stmt.op == op


@pytest.mark.parametrize("src, op, prefix", [("$x++", "++", False), ("$x--", "--", False),
                                             ("++$x", "++", True), ("--@m[1]", "--", True),
                                             ("@m++", "++", False)])
def test_increment_and_decrement(src, op, prefix):
    node = only(src + ";").expr
    assert isinstance(node, ast.IncDec) and (node.op, node.prefix) == (op, prefix)


def test_increment_of_something_else_is_refused():
    assert error("BEGIN { $x = 1++; }") == "increment/decrement requires a variable or map"


def test_let_forms():
    plain, typed, bare, string = body('let $a = 1; let $b: uint16 = 2; let $c; '
                                      'let $d: string[8] = "x";')
    assert (plain.type_spec, isinstance(plain.value, ast.IntLit)) == (None, True)
    assert typed.type_spec.name == "uint16" and typed.value.value == 2
    assert (bare.type_spec, bare.value) == (None, None)
    assert (string.type_spec.name, string.type_spec.array) == ("string", 8)


def test_discard():
    stmt = only("_ = strlen(\"x\");")
    assert isinstance(stmt, ast.Discard) and isinstance(stmt.expr, ast.Call)


def test_assigning_to_a_name_is_refused():
    assert error("BEGIN { x = 1; }") == "invalid assignment target"


# ---- expressions -------------------------------------------------------------------------------


def test_ternary_and_its_empty_middle_form():
    node = expr("$a ? 1 : 2")
    assert isinstance(node, ast.Ternary) and node.then.value == 1
    node = expr("$a ?: 2")
    assert isinstance(node, ast.Ternary) and node.then is None


def test_ternary_is_right_associative():
    node = expr("$a ? 1 : $b ? 2 : 3")
    assert isinstance(node.otherwise, ast.Ternary)


def test_casts():
    node = expr("(uint8)$x")
    assert isinstance(node, ast.Cast) and node.target_type.name == "uint8"
    node = expr("(struct task_struct *)$x")
    assert (node.target_type.name, node.target_type.pointers) == ("struct task_struct", 1)
    node = expr("(int32 **)0")
    assert node.target_type.pointers == 2


def test_a_cast_binds_tighter_than_a_binary_operator():
    node = expr("(int8)$x + 1")
    assert isinstance(node, ast.Binary) and isinstance(node.left, ast.Cast)


def test_a_parenthesised_name_is_not_a_cast():
    node = expr("(pid) * 2")
    assert isinstance(node, ast.Binary) and isinstance(node.left, ast.Ident)


def test_dereference_and_address_of():
    assert expr("*$p").op == "*"
    assert expr("&$x").op == "&"
    node = expr("$a * *$p")
    assert node.op == "*" and node.right.op == "*"


@pytest.mark.parametrize("src, count", [("()", 0), ("(1,)", 1), ("(1, 2)", 2),
                                        ("(1, \"a\", (2, 3),)", 3)])
def test_tuples(src, count):
    node = expr(src)
    assert isinstance(node, ast.TupleLit) and len(node.elements) == count


def test_a_parenthesised_expression_is_not_a_tuple():
    assert isinstance(expr("(1)"), ast.IntLit)


def test_records():
    node = expr('(a=1, b="x")')
    assert isinstance(node, ast.RecordLit) and node.names == ["a", "b"]


def test_record_names_must_differ():
    assert error("BEGIN { $r = (a=1, a=2); }") == "Named argument list already contains name: a"


def test_tuple_index_and_subscript():
    node = expr("$t.0.1")
    assert isinstance(node, ast.TupleIndex) and node.index == 1
    assert isinstance(node.base, ast.TupleIndex) and node.base.index == 0
    assert isinstance(expr("$t[1 + 1]"), ast.Index)


def test_field_access_by_dot_and_arrow():
    assert expr("args.filename").arrow is False
    assert expr("args->filename").arrow is True
    # A field may be named like a type or keyword-ish word.
    assert expr("args->string").field_name == "string"


def test_sizeof_of_a_type_and_of_an_expression():
    assert isinstance(expr("sizeof(uint32)").subject, ast.TypeSpec)
    assert isinstance(expr("sizeof($x + 1)").subject, ast.Binary)


def test_block_expression_value():
    node = expr("{ let $b = 1; $b + 1 }")
    assert isinstance(node, ast.BlockExpr)
    assert len(node.body.stmts) == 1 and isinstance(node.value, ast.Binary)


def test_block_expression_needs_a_value():
    assert "must end with an expression" in error("BEGIN { $v = { $a = 1; }; }")


def test_bool_literals():
    assert expr("true").value is True and expr("false").value is False


def test_builtins_may_be_called():
    node = expr("pid()")
    assert isinstance(node, ast.Call) and node.name == "pid" and node.args == []


# ---- top level: config and macros --------------------------------------------------------------


def test_config_block():
    program = parse(Source("stdin", 'config = { max_strlen = 64; missing_probes = warn; '
                                    'print_maps_on_exit = false; str_trunc_trailer = ".." } '
                                    'BEGIN { }'))
    items = {i.name: (i.value, i.is_word) for i in program.config.items}
    assert items == {"max_strlen": (64, False), "missing_probes": ("warn", True),
                     "print_maps_on_exit": (False, False), "str_trunc_trailer": ("..", False)}


def test_config_after_a_probe_is_refused():
    assert error("BEGIN { } config = { max_strlen = 4 }") == \
        "config must appear before probes and macros"


def test_only_one_config_block():
    assert error("config = { } config = { } BEGIN { }") == "duplicate config block"


def test_macro_definition():
    program = parse(Source("stdin", "macro add(x, $v, @m) { $v += 1; x + 1 } BEGIN { }"))
    (macro,) = program.macros
    assert [p.name for p in macro.params] == ["x", "$v", "@m"]
    assert len(macro.body.stmts) == 1 and isinstance(macro.value, ast.Binary)


def test_probe_may_follow_a_block_ending_in_a_name():
    # The state after a probe's `}` must not make a name there an attach point.
    program = parse(Source("stdin", "BEGIN { if (1) { } printf(\"x\"); } END { }"))
    assert len(program.probes) == 2


def test_shebang_line_is_ignored():
    program = parse(Source("stdin", "#!/usr/bin/env tracer\nBEGIN { }"))
    assert program.probes[0].span.line == 2


def test_a_tuple_index_may_have_leading_zeros():
    assert expr("$t." + "0" * 5000 + "1").index == 1


def test_a_tuple_index_too_long_for_any_tuple_is_refused():
    message = error("BEGIN { $t.1" + "9" * 4300 + "; }")
    assert "invalid tuple index: 1999" in message and "(4301 characters)" in message
