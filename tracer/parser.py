"""Program text -> ``tracer.ast.Program``.

lark parses with the grammar in ``grammar/tracer.lark``; a transformer builds the dataclass
nodes with their spans. Syntax errors become ``CompileError`` diagnostics that point at the
offending token, never lark's own exceptions.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re

import lark
from lark import Lark, Token, Transformer, v_args

from . import ast
from .diagnostics import CompileError, Diagnostic, Source, Span
from .grammar import grammar_text
from .paths import cache_dir

# Operators: the grammar's rule alias -> the operator's C spelling.
BINARY_OPS = {
    "or_": "||", "and_": "&&", "bor": "|", "bxor": "^", "band": "&",
    "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
    "shl": "<<", "shr": ">>", "add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%",
}
UNARY_OPS = {"not_": "!", "neg": "-", "bnot": "~"}

# How lark names terminals, in the words a user would use.
TOKEN_WORDS = {
    "ATTACH_POINT": "a probe (such as BEGIN or tracepoint:CATEGORY:EVENT)",
    "END_PREDICATE": "'/' closing the predicate",
    "MAP_NAME": "a map", "VAR": "a variable", "IDENT": "a name", "INT": "an integer",
    "STRING": "a string", "POSITIONAL": "a positional parameter",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "SEMICOLON": "';'", "COMMA": "','", "EQUAL": "'='", "SLASH": "'/'", "$END": "end of input",
}

ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\", '"': b'"', "'": b"'", "a": b"\a",
           "b": b"\b", "f": b"\f", "v": b"\v", "e": b"\x1b"}
ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    text = grammar_text()
    return Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=True,
                cache=_parser_cache_file(text))


def _parser_cache_file(grammar: str) -> str | bool:
    """Where lark may keep the built parser (it saves ~0.15 s a run), or False for nowhere.

    lark's own default is a pickle in /tmp, which anyone could plant for root to load; the
    cache only goes in tracer's cache directory, and only when it belongs to us."""
    directory = cache_dir()
    try:
        if os.stat(directory).st_uid != os.geteuid() or not os.access(directory, os.W_OK):
            return False
    except OSError:
        return False
    digest = hashlib.sha256(f"{grammar}{lark.__version__}".encode()).hexdigest()[:16]
    return os.path.join(directory, f"parser-{digest}.lark-cache")


def token_span(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line, tok.end_column)


def meta_span(meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def decode_string(tok: Token) -> bytes:
    """The bytes a string literal stands for, its escapes decoded as C (and bpftrace) do."""
    body = tok.value[1:-1]

    def replace(m: re.Match) -> str:
        esc = m.group(1)
        if esc[0] == "x":
            return chr(int(esc[1:], 16))
        if esc[0] in "01234567":
            value = int(esc, 8)
            if value > 0xFF:
                raise _escape_error(tok, m, "octal escape out of range")
            return chr(value)
        if esc in ESCAPES:
            return ESCAPES[esc].decode("latin-1")
        raise _escape_error(tok, m, f"invalid escape character '\\{esc}'")

    # Work in latin-1 so that every escape maps to exactly one byte, then re-encode the
    # user's own characters as UTF-8.
    out = bytearray()
    pos = 0
    for m in ESCAPE_RE.finditer(body):
        out += body[pos:m.start()].encode("utf-8")
        out += replace(m).encode("latin-1")
        pos = m.end()
    out += body[pos:].encode("utf-8")
    return bytes(out)


def _escape_error(tok: Token, m: re.Match, message: str) -> CompileError:
    col = tok.column + 1 + m.start()
    return CompileError.at(Span(tok.line, col, tok.line, col + len(m.group(0))), message)


def parse_int(tok: Token) -> int:
    text = tok.value.replace("_", "")
    value = int(text, 16) if text[:2].lower() == "0x" else int(text, 10)
    if value >= 1 << 64:
        raise CompileError.at(token_span(tok), f"integer {tok.value} does not fit in 64 bits")
    return value


@v_args(meta=True)
class _Builder(Transformer):
    def __init__(self, lines: list[str]):
        super().__init__()
        self.lines = lines

    def operator_span(self, op: str, left: ast.Expr, right: ast.Expr) -> Span:
        """Where the operator itself stands, between its operands (for warnings about it)."""
        if left.span.end_line == right.span.line:
            line = self.lines[left.span.end_line - 1]
            at = line.find(op, left.span.end_col - 1, right.span.col - 1)
            if at >= 0:
                return Span(left.span.end_line, at + 1, left.span.end_line, at + 1 + len(op))
        return Span(left.span.end_line, left.span.end_col, right.span.line, right.span.col)

    def start(self, meta, probes):
        span = meta_span(meta) if not meta.empty else Span(1, 1, 1, 1)
        return ast.Program(span, list(probes))

    def probe(self, meta, children):
        attach_points = children[0]
        predicate = children[1] if len(children) == 3 else None
        return ast.Probe(meta_span(meta), attach_points, predicate, children[-1])

    def attach_list(self, meta, tokens):
        return [ast.AttachPoint(token_span(t), t.value) for t in tokens]

    def predicate(self, meta, children):
        return children[0]

    def block(self, meta, children):
        return children[0]

    def stmts(self, meta, children):
        return [c for c in children if c is not None]

    def expr_stmt(self, meta, children):
        return ast.ExprStmt(meta_span(meta), children[0])

    def map_assign(self, meta, children):
        return ast.MapAssign(meta_span(meta), children[0], children[1])

    def var_assign(self, meta, children):
        var_tok, value = children
        return ast.VarAssign(meta_span(meta), ast.Var(token_span(var_tok), var_tok.value), value)

    def int_lit(self, meta, children):
        return ast.IntLit(token_span(children[0]), parse_int(children[0]))

    def str_lit(self, meta, children):
        return ast.StrLit(token_span(children[0]), decode_string(children[0]))

    def var(self, meta, children):
        return ast.Var(token_span(children[0]), children[0].value)

    def positional(self, meta, children):
        return ast.Positional(token_span(children[0]), int(children[0].value[1:]))

    def param_count(self, meta, children):
        return ast.ParamCount(token_span(children[0]))

    def ident(self, meta, children):
        return ast.Ident(token_span(children[0]), children[0].value)

    def call(self, meta, children):
        name, *args = children
        args = [a for a in args if a is not None]
        return ast.Call(meta_span(meta), name.value, args, token_span(name))

    def map(self, meta, children):
        name, *keys = children
        return ast.MapRef(meta_span(meta), name.value, list(keys))

    def arrow_field(self, meta, children):
        return ast.FieldAccess(meta_span(meta), children[0], children[1].value, True)

    def dot_field(self, meta, children):
        return ast.FieldAccess(meta_span(meta), children[0], children[1].value, False)


def _binary(op: str):
    def build(self, meta, children):
        left, right = children
        return ast.Binary(meta_span(meta), op, left, right, self.operator_span(op, left, right))
    return build


def _unary(op: str):
    def build(self, meta, children):
        return ast.Unary(meta_span(meta), op, children[0])
    return build


for _alias, _op in BINARY_OPS.items():
    setattr(_Builder, _alias, v_args(meta=True)(_binary(_op)))
for _alias, _op in UNARY_OPS.items():
    setattr(_Builder, _alias, v_args(meta=True)(_unary(_op)))


def strip_shebang(text: str) -> str:
    """Blank a `#!` first line (keeping line numbers) so a script can be executable."""
    if text.startswith("#!"):
        newline = text.find("\n")
        return "" if newline < 0 else text[newline:]
    return text


def parse(source: Source) -> ast.Program:
    text = strip_shebang(source.text)
    try:
        tree = _lark().parse(text)
        program = _Builder(text.splitlines()).transform(tree)
    except lark.exceptions.VisitError as err:  # raised inside the builder
        if isinstance(err.orig_exc, CompileError):
            raise CompileError(err.orig_exc.diagnostics, source) from None
        raise
    except CompileError as err:
        raise CompileError(err.diagnostics, source) from None
    except lark.exceptions.UnexpectedInput as err:
        raise CompileError([_syntax_diagnostic(err, text)], source) from None
    if not program.probes:
        raise CompileError([Diagnostic("error", "no probes: a program needs at least one probe",
                                       Span(1, 1, 1, 1), "for example: BEGIN { printf(\"hello\\n\"); }")],
                           source)
    return program


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, text: str) -> Diagnostic:
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        span = Span(err.line, err.column, err.line, err.column + 1)
        return Diagnostic("error", f"syntax error: unexpected character {char!r}", span)
    if isinstance(err, lark.exceptions.UnexpectedEOF) or (
            isinstance(err, lark.exceptions.UnexpectedToken) and err.token.type == "$END"):
        lines = text.splitlines() or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = _expected_words(getattr(err, "expected", ()))
        return Diagnostic("error", "syntax error: unexpected end of program" + expected,
                          Span(line, max(col - 1, 1), line, col))
    assert isinstance(err, lark.exceptions.UnexpectedToken)
    tok = err.token
    expected = _expected_words(err.expected)
    return Diagnostic("error", f"syntax error: unexpected {tok.value!r}{expected}", token_span(tok))


def _expected_words(expected) -> str:
    names = sorted(set(expected))
    if not names or len(names) > 6:
        return ""
    words = [TOKEN_WORDS.get(n, _literal_of(n)) for n in names]
    return ", expecting " + " or ".join(words)


def _literal_of(terminal_name: str) -> str:
    for term in _lark().terminals:
        if term.name == terminal_name and hasattr(term.pattern, "value"):
            if type(term.pattern).__name__ == "PatternStr":
                return repr(term.pattern.value)
    return terminal_name.lower()
