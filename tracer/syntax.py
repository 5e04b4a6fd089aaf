"""The parser's callbacks: grammar rules -> ``tracer.ast`` nodes, with their spans.

lark calls one method per rule (by the rule's name or alias) with the rule's children: our nodes
for sub-rules, and every token, punctuation included (``keep_all_tokens``), so that a node's
span runs from its first token to its last. Literal mistakes (a bad escape, an integer too
large) are reported and parsing goes on, so one run shows all of them.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from lark import Token, Transformer

from . import ast
from .diagnostics import Reporter, Span
from .literals import LiteralError, decode_string, parse_int, short

# Binary operators by precedence, loosest first (C's, and bpftrace's); all associate left.
BINARY_PRECEDENCE = {op: level for level, ops in enumerate([
    ("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", "<=", ">", ">="),
    ("<<", ">>"), ("+", "-"), ("*", "/", "%"),
]) for op in ops}
UNARY_OPS = {"not_": "!", "neg": "-", "bnot": "~", "deref": "*", "addr": "&"}
INC_DEC_OPS = {"pre_inc": ("++", True), "pre_dec": ("--", True),
               "post_inc": ("++", False), "post_dec": ("--", False)}

Item = Union[Token, ast.Node, None, list]


# Where the preprocessor expanded macros, the text the parser reads is not the program as
# written: this maps a (line, column) of the one back to the other. None: the same text.
_origin: Optional[Callable[[int, int], tuple[int, int]]] = None


def token_span(tok: Token) -> Span:
    if _origin is None:
        return Span(tok.line, tok.column, tok.end_line, tok.end_column)
    line, col = _origin(tok.line, tok.column)
    end_line, end_col = _origin(tok.end_line, tok.end_column)
    if (end_line, end_col) <= (line, col):  # a token a macro made: its name's span
        end_line, end_col = line, col + 1
    return Span(line, col, end_line, end_col)


def _start(item: Item) -> Optional[Span]:
    if isinstance(item, Token):
        return token_span(item)
    if isinstance(item, ast.Node):
        return item.span
    if isinstance(item, list):
        for sub in item:
            found = _start(sub)
            if found:
                return found
    return None


def _end(item: Item) -> Optional[Span]:
    if isinstance(item, list):
        for sub in reversed(item):
            found = _end(sub)
            if found:
                return found
        return None
    return _start(item)


def span_of(children: list) -> Span:
    """From the start of the first child to the end of the last."""
    first = next((s for s in map(_start, children) if s), None)
    last = next((s for s in map(_end, reversed(children)) if s), None)
    if first is None or last is None:
        return Span(1, 1, 1, 1)
    return Span(first.line, first.col, last.end_line, last.end_col)


def nodes(children: list) -> list:
    """The children that are nodes, without tokens and absent optional parts."""
    return [c for c in children if isinstance(c, ast.Node)]


def tokens(children: list, *types: str) -> list[Token]:
    return [c for c in children if isinstance(c, Token) and (not types or c.type in types)]


class Builder(Transformer):
    """lark's inline transformer for the grammar. One instance is shared by every parse:
    ``begin`` gives it the reporter of the parse under way."""

    def __init__(self):
        super().__init__(visit_tokens=False)
        self.reporter = Reporter()
        # Blocks whose last statement had no `;`, by id: a block used as a value ends so.
        self._trailing: dict[int, Optional[ast.Stmt]] = {}

    def begin(self, reporter: Reporter, origin=None) -> None:
        global _origin
        self.reporter = reporter
        self._trailing = {}
        _origin = origin

    def end(self) -> None:
        global _origin
        self.reporter = Reporter()
        self._trailing = {}
        _origin = None

    # -- top level ---------------------------------------------------------------------------

    def start(self, children):
        probes = [c for c in children if isinstance(c, ast.Probe)]
        configs = [c for c in children if isinstance(c, ast.Config)]
        macros = [c for c in children if isinstance(c, ast.MacroDef)]
        for extra in configs[1:]:
            self.reporter.error(extra.span, "duplicate config block")
        first_item = next((i for i, c in enumerate(children)
                           if isinstance(c, (ast.Probe, ast.MacroDef))), None)
        if configs and first_item is not None and first_item < children.index(configs[0]):
            self.reporter.error(configs[0].span, "config must appear before probes and macros")
        return ast.Program(span_of(children), probes, configs[0] if configs else None, macros)

    def config(self, children):
        return ast.Config(span_of(children), nodes(children))

    def config_item(self, children):
        name, value = children[0], children[2]
        item = value
        item.name, item.span = name.value, span_of(children)
        return item

    def config_int(self, children):
        return ast.ConfigItem(token_span(children[0]), "", self._int(children[0]))

    def config_string(self, children):
        return ast.ConfigItem(token_span(children[0]), "",
                              self._string(children[0]).decode("utf-8", "surrogateescape"))

    def config_true(self, children):
        return ast.ConfigItem(token_span(children[0]), "", True)

    def config_false(self, children):
        return ast.ConfigItem(token_span(children[0]), "", False)

    def config_word(self, children):
        return ast.ConfigItem(token_span(children[0]), "", children[0].value, is_word=True)

    def macro_def(self, children):
        name, block = children[1], children[-1]
        params = [c for c in children[3:-2] if isinstance(c, ast.MacroParam)]
        trailing = self._trailing.get(id(block))
        value = None
        if isinstance(trailing, ast.ExprStmt):
            value = trailing.expr
            block = ast.Block(block.span, block.stmts[:-1])
        return ast.MacroDef(span_of(children), name.value, params, block, value,
                            token_span(name))

    def macro_param(self, children):
        return ast.MacroParam(token_span(children[0]), children[0].value)

    def probe(self, children):
        attach_points = children[0]
        predicate = children[1] if len(children) == 3 else None
        return ast.Probe(span_of(children), attach_points, predicate, children[-1])

    def attach_list(self, children):
        return [ast.AttachPoint(token_span(t), t.value) for t in tokens(children, "ATTACH_POINT")]

    def predicate(self, children):
        return children[1]

    # -- statements --------------------------------------------------------------------------

    def block(self, children):
        stmts, trailing = [], None
        for child in children:
            if isinstance(child, _Last):  # the last statement, without its `;`
                stmts.append(child.stmt)
                trailing = child.stmt
            elif isinstance(child, ast.Stmt):
                stmts.append(child)
        block = ast.Block(span_of(children), stmts)
        self._trailing[id(block)] = trailing
        return block

    top_block = block

    def last_stmt(self, children):
        return _Last(children[0])

    def block_stmt(self, children):
        return children[0]

    def block_expr(self, children):
        block: ast.Block = children[0]
        trailing = self._trailing.get(id(block))
        stmts = list(block.stmts)
        if isinstance(trailing, ast.ExprStmt):
            stmts.pop()
            value = trailing.expr
        else:
            self.reporter.error(block.span, "a block used as a value must end with an "
                                            "expression, without a ';'")
            value = ast.IntLit(block.span, 0)
        return ast.BlockExpr(block.span, ast.Block(block.span, stmts), value)

    def expr_stmt(self, children):
        return ast.ExprStmt(span_of(children), children[0])

    def assign(self, children):
        return ast.Assign(span_of(children), children[0], children[2])

    def augmented_assign(self, children):
        op = children[1].value[:-1]
        return ast.Assign(span_of(children), children[0], children[2], op)

    def discard(self, children):
        name = children[0]
        if name.value != "_":
            self.reporter.error(token_span(name), "invalid assignment target",
                                hint=f"a variable is written ${name.value}, a map @{name.value}")
        return ast.Discard(span_of(children), children[2])

    def let(self, children):
        var_tok = children[1]
        var = ast.Var(token_span(var_tok), var_tok.value)
        found = nodes(children[2:])
        type_spec = next((n for n in found if isinstance(n, ast.TypeSpec)), None)
        value = next((n for n in found if isinstance(n, ast.Expr)), None)
        return ast.Let(span_of(children), var, type_spec, value)

    def break_(self, children):
        return ast.Jump(span_of(children), "break")

    def continue_(self, children):
        return ast.Jump(span_of(children), "continue")

    def return_(self, children):
        return ast.Jump(span_of(children), "return", children[1])

    def if_stmt(self, children):
        cond, then = children[1], children[2]
        otherwise = children[4] if len(children) > 4 else None
        return ast.If(span_of(children), cond, then, otherwise)

    def while_(self, children):
        return ast.While(span_of(children), children[1], children[2])

    def unroll(self, children):
        return ast.Unroll(span_of(children), children[1], children[2])

    def for_(self, children):
        var_tok = tokens(children, "VAR")[0]
        var = ast.Var(token_span(var_tok), var_tok.value)
        source = next(c for c in children if isinstance(c, (_Range, ast.Expr)))
        body = children[-1]
        if isinstance(source, _Range):
            return ast.ForRange(span_of(children), var, source.start, source.end, body)
        if not isinstance(source, ast.MapRef) or source.keys:
            self.reporter.error(source.span, "expected map or range in for loop")
            source = ast.MapRef(source.span, "@", [])
        return ast.ForMap(span_of(children), var, source, body)

    def for_source(self, children):
        first, rest = children[0], children[2] if len(children) > 2 else None
        if rest is None:
            return first
        return _Range(span_of(children), first, rest)

    # -- expressions -------------------------------------------------------------------------

    def binary(self, children):
        """operand (op operand)* -> a tree, by precedence climbing (iterative: a long chain
        of operators is as cheap as a short one)."""
        operands, operators = [children[0]], []

        def reduce() -> None:
            op_tok = operators.pop()
            right, left = operands.pop(), operands.pop()
            operands.append(ast.Binary(span_of([left, right]), op_tok.value, left, right,
                                       token_span(op_tok)))

        for i in range(1, len(children), 2):
            op_tok, operand = children[i], children[i + 1]
            level = BINARY_PRECEDENCE[op_tok.value]
            while operators and BINARY_PRECEDENCE[operators[-1].value] >= level:
                reduce()
            operators.append(op_tok)
            operands.append(operand)
        while operators:
            reduce()
        return operands[0]

    def ternary(self, children):
        return ast.Ternary(span_of(children), children[0], children[2], children[4])

    def elvis(self, children):
        return ast.Ternary(span_of(children), children[0], None, children[3])

    def cast(self, children):
        return ast.Cast(span_of(children), children[1], children[3])

    def arrow_field(self, children):
        return ast.FieldAccess(span_of(children), children[0], children[2].value, True)

    def dot_field(self, children):
        return ast.FieldAccess(span_of(children), children[0], children[2].value, False)

    def tuple_index(self, children):
        tok = children[2]
        # No tuple has 2**32 elements; a longer number is refused before int() sees it
        # (Python will not convert more than 4300 digits).
        too_long = len(tok.value.lstrip("0")) > 10
        if not tok.value.isdigit() or not tok.value.isascii() or too_long:
            self.reporter.error(token_span(tok), f"invalid tuple index: {short(tok.value)}")
            return ast.TupleIndex(span_of(children), children[0], 0)
        return ast.TupleIndex(span_of(children), children[0], int(tok.value.lstrip("0") or "0"))

    def index(self, children):
        return ast.Index(span_of(children), children[0], children[2])

    def int_lit(self, children):
        return ast.IntLit(token_span(children[0]), self._int(children[0]))

    def str_lit(self, children):
        return ast.StrLit(token_span(children[0]), self._string(children[0]))

    def true_(self, children):
        return ast.BoolLit(token_span(children[0]), True)

    def false_(self, children):
        return ast.BoolLit(token_span(children[0]), False)

    def var(self, children):
        return ast.Var(token_span(children[0]), children[0].value)

    def positional(self, children):
        tok = children[0]
        digits = tok.value[1:]
        if len(digits) > 18 or int(digits) < 1:
            self.reporter.error(token_span(tok), f"param {tok.value} is out of integer range "
                                                 f"[1, {2 ** 63 - 1}]")
            return ast.Positional(token_span(tok), 1)
        return ast.Positional(token_span(tok), int(digits))

    def param_count(self, children):
        return ast.ParamCount(token_span(children[0]))

    def ident(self, children):
        return ast.Ident(token_span(children[0]), children[0].value)

    def primary(self, children):
        # "(" expr ")": the parentheses only group.
        return children[1]

    def tuple(self, children):
        return ast.TupleLit(span_of(children), nodes(children))

    def record(self, children):
        fields = [c for c in children if isinstance(c, tuple)]
        names = [name.value for name, _ in fields]
        for i, (name, _) in enumerate(fields):
            if name.value in names[:i]:
                self.reporter.error(token_span(name), f"Named argument list already contains "
                                                      f"name: {name.value}")
        return ast.RecordLit(span_of(children), names, [value for _, value in fields])

    def field_value(self, children):
        return (children[0], children[2])

    def sizeof_type(self, children):
        return ast.Sizeof(span_of(children), children[2])

    def sizeof_expr(self, children):
        return ast.Sizeof(span_of(children), children[2])

    def offsetof(self, children):
        names = [t.value for t in tokens(children, "IDENT")]
        return ast.Offsetof(span_of(children), children[2], names)

    def call(self, children):
        name = children[0]
        return ast.Call(span_of(children), name.value, nodes(children[1:]), token_span(name))

    def map(self, children):
        name = children[0]
        return ast.MapRef(span_of(children), name.value, nodes(children[1:]))

    def type_spec(self, children):
        parts = [c for c in children if c is not None]
        head = parts[0]
        if head.type == "STRUCT_KW":
            name = f"{head.value} {parts[1].value}"
        else:
            name = head.value
        stars = len(tokens(parts, "STAR"))
        array, given = None, False
        if tokens(parts, "ARRAY_OPEN"):
            given = True
            ints = tokens(parts, "INT")
            array = self._int(ints[0]) if ints else None
        return ast.TypeSpec(span_of(children), name, stars, array, given)

    # -- literals ----------------------------------------------------------------------------

    def _int(self, tok: Token) -> int:
        try:
            return parse_int(tok.value)
        except LiteralError as err:
            span = token_span(tok)
            if err.end is not None and err.start:
                span = Span(tok.line, tok.column + err.start, tok.line, tok.column + err.end)
            self.reporter.error(span, err.message)
            return 0

    def _string(self, tok: Token) -> bytes:
        try:
            return decode_string(tok.value[1:-1])
        except LiteralError as err:
            col = tok.column + 1 + err.start
            end = tok.column + 1 + (err.end if err.end is not None else err.start + 1)
            self.reporter.error(Span(tok.line, col, tok.line, end), err.message)
            return b""


class _Range:
    """``start..end`` of a for loop, on its way to the ForRange node."""

    def __init__(self, span: Span, start: ast.Expr, end: ast.Expr):
        self.span, self.start, self.end = span, start, end


class _Last:
    """A block's last statement written without its `;`, on its way to the Block."""

    def __init__(self, stmt: ast.Stmt):
        self.stmt = stmt
        self.span = stmt.span


def _unary(op: str):
    def build(self, children):
        operand = children[1]
        if op == "-" and isinstance(operand, ast.IntLit) and operand.value > 0:
            # A negative literal is one value, as bpftrace folds it (its type is signed).
            return ast.IntLit(span_of(children), -operand.value)
        return ast.Unary(span_of(children), op, operand)
    return build


def _inc_dec(op: str, prefix: bool):
    def build(self, children):
        target = children[1] if prefix else children[0]
        if not isinstance(target, (ast.Var, ast.MapRef)):
            self.reporter.error(target.span, "increment/decrement requires a variable or map")
        return ast.IncDec(span_of(children), op, target, prefix)
    return build


for _alias, _op in UNARY_OPS.items():
    setattr(Builder, _alias, _unary(_op))
for _alias, (_op, _prefix) in INC_DEC_OPS.items():
    setattr(Builder, _alias, _inc_dec(_op, _prefix))
