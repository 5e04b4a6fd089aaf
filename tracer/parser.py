"""Program text -> ``tracer.ast.Program``.

lark parses with the grammar in ``grammar/tracer.lark`` (LALR) and builds our nodes as it goes
(``tracer.syntax.Builder`` is its inline transformer): no intermediate tree and no recursion, so
a program nested thousands of levels deep parses like any other. Syntax errors become
``CompileError`` diagnostics that point at the offending token, never lark's own exceptions.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from typing import Optional

import lark
from lark import Lark

from . import ast
from .cdefs.preprocess import Preprocessed
from .cdefs.program_c import preprocess_program
from .diagnostics import CompileError, Diagnostic, Reporter, Source, Span
from .grammar import grammar_text
from .paths import cache_dir, untrusted_directory
from .syntax import Builder, token_span

# How lark names terminals, in the words a user would use.
TOKEN_WORDS = {
    "ATTACH_POINT": "a probe (such as BEGIN or tracepoint:CATEGORY:EVENT)",
    "END_PREDICATE": "'/' closing the predicate",
    "MAP_NAME": "a map", "VAR": "a variable", "IDENT": "a name", "INT": "an integer",
    "STRING": "a string", "POSITIONAL": "a positional parameter", "TYPE_NAME": "a type",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "SEMICOLON": "';'", "COMMA": "','", "EQUAL": "'='", "SLASH": "'/'", "$END": "end of input",
    "COLON": "':'", "STAR": "'*'", "ARRAY_OPEN": "'['",
}


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    text = grammar_text()
    return Lark(text, parser="lalr", lexer="contextual", keep_all_tokens=True,
                maybe_placeholders=True, transformer=Builder(), cache=_parser_cache_file(text))


def _parser_cache_file(grammar: str) -> str | bool:
    """Where lark may keep the built parser (it saves ~0.15 s a run), or False for nowhere.

    lark's own default is a pickle in /tmp, which anyone could plant for root to load; the
    cache only goes in tracer's cache directory, and only when it belongs to us."""
    directory = cache_dir()
    if untrusted_directory(directory) or not os.access(directory, os.W_OK):
        return False
    digest = hashlib.sha256(f"{grammar}{lark.__version__}syntax-2".encode()).hexdigest()[:16]
    return os.path.join(directory, f"parser-{digest}.lark-cache")


def strip_shebang(text: str) -> str:
    """Blank a `#!` first line (keeping line numbers) so a script can be executable."""
    if text.startswith("#!"):
        newline = text.find("\n")
        return "" if newline < 0 else text[newline:]
    return text


def parse(source: Source, pre: Optional[Preprocessed] = None) -> ast.Program:
    """The program's syntax tree. ``pre`` is the program preprocessed (``preprocess_source``);
    without it the program is preprocessed here."""
    if pre is None:
        pre = preprocess_source(source)
    text = pre.text
    # Spans are of the program as written: where macros were expanded, mapped back.
    origin = pre.origin if pre.segments else None
    reporter = Reporter()
    parser = _lark()
    builder: Builder = parser.options.transformer
    builder.begin(reporter, origin)
    try:
        program = parser.parse(text)
    except CompileError as err:
        raise CompileError(err.diagnostics, source) from None
    except lark.exceptions.UnexpectedInput as err:
        diagnostics = reporter.errors + [_syntax_diagnostic(err, text)]
        if origin is not None:
            diagnostics = [_mapped(d, pre) for d in diagnostics]
        raise CompileError(diagnostics, source) from None
    finally:
        builder.end()
    if reporter.errors:
        raise CompileError(reporter.errors, source)
    if not program.probes:
        raise CompileError([Diagnostic("error", "no probes: a program needs at least one probe",
                                       Span(1, 1, 1, 1), "for example: BEGIN { printf(\"hello\\n\"); }")],
                           source)
    return program


def preprocess_source(source: Source) -> Preprocessed:
    """The program's directives run and macros expanded, its C definitions taken out."""
    try:
        return preprocess_program(strip_shebang(source.text))
    except CompileError as err:
        raise CompileError(err.diagnostics, source) from None


def _mapped(diagnostic: Diagnostic, pre: Preprocessed) -> Diagnostic:
    if diagnostic.span is None:
        return diagnostic
    return dataclasses.replace(diagnostic, span=pre.origin_span(diagnostic.span))


def _syntax_diagnostic(err: lark.exceptions.UnexpectedInput, text: str) -> Diagnostic:
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        span = Span(err.line, err.column, err.line, err.column + 1)
        if char == '"':
            return Diagnostic("error", "syntax error: unterminated string", span)
        return Diagnostic("error", f"syntax error: unexpected character {char!r}", span)
    if isinstance(err, lark.exceptions.UnexpectedEOF) or (
            isinstance(err, lark.exceptions.UnexpectedToken) and err.token.type == "$END"):
        lines = text.splitlines() or [""]
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = _expected_words(getattr(err, "expected", ()), at_end=True)
        return Diagnostic("error", "syntax error: unexpected end of program" + expected,
                          Span(line, max(col - 1, 1), line, col))
    assert isinstance(err, lark.exceptions.UnexpectedToken)
    tok = err.token
    expected = _expected_words(err.expected)
    value = tok.value if len(tok.value) <= 40 else tok.value[:37] + "..."
    return Diagnostic("error", f"syntax error: unexpected {value!r}{expected}", token_span(tok))


def _expected_words(expected, at_end: bool = False) -> str:
    names = sorted(set(expected))
    if len(names) > 6:
        # Many tokens could come next; the likeliest fix is a closing one (at the end of the
        # program, an unclosed block).
        order = ("RBRACE", "RPAR", "SEMICOLON") if at_end else ("SEMICOLON", "RBRACE", "RPAR")
        for closing in order:
            if closing in names:
                return f", expecting {TOKEN_WORDS[closing]}"
        return ""
    if not names:
        return ""
    words = [TOKEN_WORDS.get(n, _literal_of(n)) for n in names]
    return ", expecting " + " or ".join(words)


@functools.lru_cache(maxsize=None)
def _literal_of(terminal_name: str) -> str:
    for term in _lark().terminals:
        if term.name == terminal_name and type(term.pattern).__name__ == "PatternStr":
            return repr(term.pattern.value)
    return terminal_name.lower()
