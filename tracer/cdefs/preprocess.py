"""The C preprocessor's part of a program: the stage before the parser.

bpftrace scripts carry C: ``#include`` lines, ``#define`` constants, ``#ifndef
BPFTRACE_HAVE_BTF ... #else ... #endif`` blocks, struct definitions. ``preprocess`` reads the
directives line by line as a C preprocessor does, expands the script's macros in the program
(where, see ``scan``), and takes the top-level C definitions out for ``cparse``. Its result
keeps every line where it was: a directive's lines, and lines an ``#if`` leaves out, become
empty lines, and a definition becomes spaces. Only expansion moves columns, and ``origin``
gives them back.

``#include`` is recorded, not read: ``includes.include_macros`` asks the system's cpp for the
constants the headers define. Given a ``headers`` callback (which can be that function), each
live ``#include`` adds those constants to the macros, as C would: ``#if`` and the program see
them from there on. Without it the checker takes them as constants by name. A program with no
``#``, no definition and no predefined macro in it costs one scan of its text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Optional, Sequence, Union

from ..diagnostics import CompileError, Diagnostic, Span
from .cexpr import evaluate
from .ctokens import IDENT, NUMBER, STRING, Token, spell, tokenize
from .macros import VA_ARGS, FunctionMacro, Macro, expand, table
from .scan import Output, ProgramScanner

# Where a top-level definition could start: at the start of a line or after a probe's `}`, a
# `;` or a comment. Inside a probe, `struct` follows `(` (a cast, sizeof) or `:` (a type).
_DEFINITION_START = re.compile(r"(?:^|[};]|\*/)[ \t]*(?:struct|union|enum|typedef)(?![A-Za-z0-9_])",
                               re.MULTILINE)
# What can hide a `#` at the start of a line: strings, and comments that span lines.
_COMMENTS = re.compile(r""""(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|//[^\n]*"""
                       r"""|/\*[\s\S]*?(?:\*/|\Z)""")
CONDITIONALS = frozenset({"if", "ifdef", "ifndef", "elif", "elifdef", "elifndef", "else",
                          "endif"})


class Include(NamedTuple):
    name: str  # "linux/sched.h"
    angle: bool  # <linux/sched.h> rather than "linux/sched.h"
    span: Span  # the directive in the user's file


class Definition(NamedTuple):
    text: str  # `struct foo { int a; };`, exactly as written (directive lines in it empty)
    span: Span  # where it is in the user's file


@dataclass
class Preprocessed:
    text: str  # what the parser reads: same lines as the input
    includes: list[Include] = field(default_factory=list)
    # The macros defined at the end: name -> body text, or a FunctionMacro (params and body).
    macros: dict[str, Union[str, FunctionMacro]] = field(default_factory=dict)
    definitions: list[Definition] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    # Output line -> its segments (see scan.Output); a line not in it is as in the input.
    segments: dict[int, list] = field(default_factory=dict, repr=False)

    def origin(self, line: int, col: int) -> tuple[int, int]:
        """Where a position of ``text`` is in the input. A position in a macro's expansion is
        the macro name's."""
        seg = self._segment(line, col)
        if seg is None:
            return line, col
        out_col, in_line, in_col, macro_end = seg
        return (in_line, in_col) if macro_end is not None else (in_line, in_col + col - out_col)

    def origin_end(self, line: int, col: int) -> tuple[int, int]:
        """Where an end position (exclusive) of ``text`` is in the input: the end of the macro
        name when the text before it came from an expansion."""
        if col <= 1:
            return self.origin(line, col)
        seg = self._segment(line, col - 1)
        if seg is None:
            return line, col
        out_col, in_line, in_col, macro_end = seg
        return (in_line, macro_end) if macro_end is not None else \
            (in_line, in_col + col - out_col)

    def origin_span(self, span: Span) -> Span:
        line, col = self.origin(span.line, span.col)
        end_line, end_col = self.origin_end(span.end_line, span.end_col)
        if (end_line, end_col) <= (line, col):
            end_line, end_col = line, col + 1
        return Span(line, col, end_line, end_col)

    def _segment(self, line: int, col: int):
        segments = self.segments.get(line)
        if not segments:
            return None
        k = bisect.bisect_right(segments, (col, float("inf"))) - 1
        return segments[k] if k >= 0 else None


# The live includes so far -> the macros they define (name -> body, or FunctionMacro).
HeaderMacros = Callable[[Sequence[Include]], Mapping[str, object]]


def preprocess(text: str, defined: Optional[Mapping[str, str]] = None,
               headers: Optional[HeaderMacros] = None) -> Preprocessed:
    """Run the directives of ``text``, expand its macros, take out its C definitions.
    ``defined``: macros defined before the program starts (``{"BPFTRACE_HAVE_BTF": "1"}``).
    ``headers``: called at each live ``#include`` with every live include so far, gives the
    macros they define (a script's own ``#define`` of a name wins over a header's).
    Raises a CompileError, located in ``text``, for a malformed directive or ``#error``."""
    defined = dict(defined or {})
    if "#" not in text and not _DEFINITION_START.search(text) and \
            not any(name in text for name in defined):
        return Preprocessed(text, macros=dict(defined))
    return _Preprocessor(text, defined, headers).run()


@dataclass
class _Conditional:
    span: Span
    parent_live: bool
    taken: bool  # a branch has been chosen
    live: bool  # the lines now are
    else_seen: bool = False


class _Preprocessor:
    def __init__(self, text: str, defined: Mapping[str, str],
                 headers: Optional[HeaderMacros] = None):
        self.lines = text.split("\n")
        self.headers = headers
        self.macros: dict[str, Macro] = {n: Macro(n, None, str(v)) for n, v in defined.items()}
        self.stack: list[_Conditional] = []
        self.includes: list[Include] = []
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.kept = list(self.lines)  # the input with directive and left-out lines emptied
        self.out = Output()
        self.scanner = ProgramScanner(self.out)

    @property
    def live(self) -> bool:
        return self.stack[-1].live if self.stack else True

    def run(self) -> Preprocessed:
        lines, n = self.lines, len(self.lines)
        in_comment = self.comment_lines()
        chunk = None  # first line (0-based) of the lines waiting to be scanned
        i = 0
        while i < n:
            directive = i not in in_comment and lines[i].lstrip(" \t\f\v").startswith("#")
            if not directive and self.live:
                chunk = i if chunk is None else chunk
                i += 1
                continue
            self.flush(chunk, i)
            chunk = None
            last = self.directive_end(i, in_comment) if directive else i
            if directive:
                self.directive(i, last)
            for k in range(i, last + 1):
                self.kept[k] = ""
                self.out.blank_line(k < n - 1)
            i = last + 1
        self.flush(chunk, n)
        for cond in self.stack:
            self.errors.append(Diagnostic("error", "unterminated conditional directive",
                                          cond.span))
        self.scanner.finish((n, len(lines[-1]) + 1))
        if self.errors:
            raise CompileError(self.errors)
        return Preprocessed(self.out.text(), self.includes,
                            {name: m.public for name, m in self.macros.items()},
                            [self.definition(start, end)
                             for start, end in self.scanner.definitions],
                            self.warnings, self.out.segments)

    def flush(self, first: Optional[int], end: int) -> None:
        """Scan lines ``first`` .. ``end`` - 1, the program's text between two directives."""
        if first is None:
            return
        text = "\n".join(self.lines[first:end]) + ("\n" if end < len(self.lines) else "")
        try:
            self.scanner.feed(text, first + 1, self.macros)
        except CompileError as err:
            self.errors.extend(err.diagnostics)
            self.scanner.pending = None  # the output is not used now: only errors are

    def definition(self, start: tuple[int, int], end: tuple[int, int]) -> Definition:
        (line, col), (end_line, end_col) = start, end
        if line == end_line:
            text = self.kept[line - 1][col - 1:end_col - 1]
        else:
            text = "\n".join([self.kept[line - 1][col - 1:], *self.kept[line:end_line - 1],
                              self.kept[end_line - 1][:end_col - 1]])
        return Definition(text, Span(line, col, end_line, end_col))

    # -- lines --------------------------------------------------------------------------------

    def comment_lines(self) -> dict[int, int]:
        """Lines (0-based) that start inside a block comment -> the comment's last line: a `#`
        there is no directive."""
        text = "\n".join(self.lines)
        if "/*" not in text:
            return {}
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        inside: dict[int, int] = {}
        for m in _COMMENTS.finditer(text):
            if not m.group().startswith("/*"):
                continue
            first = bisect.bisect_right(starts, m.start()) - 1
            last = bisect.bisect_right(starts, m.end() - 1) - 1
            for k in range(first + 1, last + 1):
                inside[k] = last
        return inside

    def directive_end(self, i: int, in_comment: dict[int, int]) -> int:
        """The last line of the directive starting on line ``i``: it goes on after a
        backslash at the end of a line, and to the end of a comment that starts in it."""
        last, n = i, len(self.lines)
        while True:
            if self.lines[last].rstrip("\r").endswith("\\") and last + 1 < n:
                last += 1
            elif last + 1 in in_comment:
                last = in_comment[last + 1]
            else:
                return last

    # -- directives ---------------------------------------------------------------------------

    def directive(self, first: int, last: int) -> None:
        text = "\n".join(self.lines[first:last + 1])
        tokens = tokenize(text, first + 1, 1)
        hash_tok = tokens[0]
        if hash_tok.text != "#":  # `##` or `#@`: no directive
            if self.live:
                self.errors.append(Diagnostic("error", "invalid preprocessor directive",
                                              hash_tok.span))
            return
        if len(tokens) == 1:
            return  # `#` alone does nothing
        name = tokens[1]
        span = Span(hash_tok.line, hash_tok.col, tokens[-1].end_line, tokens[-1].end_col)
        word = name.text if name.kind == IDENT else ""
        if word not in CONDITIONALS and not self.live:
            return  # in a left-out group only the nesting of conditionals counts
        handler = _HANDLERS.get(word)
        if handler is None:
            if name.kind == NUMBER:
                return  # a line marker (# 12 "file"), as cpp writes them
            self.errors.append(Diagnostic("error", f"unknown preprocessor directive "
                                                   f"'#{name.text}'", hash_tok.span.to(name.span)))
            return
        rest_text = text[name.end:].strip()
        try:
            handler(self, name, tokens[2:], span, rest_text)
        except CompileError as err:
            self.errors.extend(err.diagnostics)

    def define(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        if not args or args[0].kind != IDENT:
            where = args[0].span if args else name.span
            raise CompileError.at(where, "macro name must be an identifier")
        ident = args[0]
        if ident.text == "defined":
            raise CompileError.at(ident.span, "'defined' cannot be used as a macro name")
        params, variadic, body = None, False, args[1:]
        if body and body[0].is_punct("(") and not body[0].space:
            params, variadic, body = self.parameters(ident, body)
        if body:
            body[0].space = False
        macro = Macro(ident.text, params, spell(body), variadic, ident.span, body)
        old = self.macros.get(ident.text)
        if old is not None and not old.same_as(macro):
            self.warnings.append(Diagnostic("warning", f"'{ident.text}' redefined", ident.span))
        self.macros[ident.text] = macro

    @staticmethod
    def parameters(ident: Token, tokens: list[Token]):
        """``(a, b, ...)`` after a macro's name: (params, variadic, the body's tokens)."""
        params: list[str] = []
        i, variadic = 1, False
        while i < len(tokens):
            tok = tokens[i]
            if tok.is_punct(")") and not params and not variadic:
                return (), False, tokens[i + 1:]
            if tok.is_punct("..."):
                params.append(VA_ARGS)
                variadic, i = True, i + 1
            elif tok.kind == IDENT and tok.text not in params:
                params.append(tok.text)
                i += 1
                if i < len(tokens) and tokens[i].is_punct("..."):
                    variadic, i = True, i + 1  # GNU: `args...` names the variable arguments
            else:
                raise CompileError.at(tok.span, f"bad parameter list of macro '{ident.text}'")
            if i < len(tokens) and tokens[i].is_punct(")"):
                return tuple(params), variadic, tokens[i + 1:]
            if variadic or i >= len(tokens) or not tokens[i].is_punct(","):
                break
            i += 1
        where = tokens[min(i, len(tokens) - 1)].span
        raise CompileError.at(where, f"bad parameter list of macro '{ident.text}': expected ')'")

    def undef(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        self.macros.pop(self.one_name(name, args).text, None)

    def include(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        if args and args[0].is_punct("<") and ">" in rest:
            header, angle = rest[1:rest.index(">")].strip(), True
        elif args and args[0].kind == STRING:
            header, angle = args[0].text[1:-1], False
        else:
            # `#include MACRO`: C expands it, then wants one of the two forms.
            expanded = expand(args, self.macros)
            if expanded and expanded[0].kind == STRING:
                header, angle = expanded[0].text[1:-1], False
            elif len(expanded) > 2 and expanded[0].is_punct("<") and expanded[-1].is_punct(">"):
                header, angle = "".join(t.text for t in expanded[1:-1]), True
            else:
                raise CompileError.at(span, '#include expects "FILENAME" or <FILENAME>')
        if not header:
            raise CompileError.at(span, "empty file name in #include")
        self.includes.append(Include(header, angle, span))
        if self.headers is not None:
            found = self.headers(list(self.includes))
            made = table(found)
            for name in found:
                self.macros.setdefault(name, made[name])

    def if_(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        live = self.live
        value = live and self.condition(name, args)
        self.stack.append(_Conditional(span, live, value, value))

    def ifdef(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        live = self.live
        value = live and (self.one_name(name, args).text in self.macros) == (name.text == "ifdef")
        self.stack.append(_Conditional(span, live, value, value))

    def elif_(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        cond = self.innermost(name)
        if cond.else_seen:
            raise CompileError.at(name.span, f"#{name.text} after #else")
        if cond.taken or not cond.parent_live:
            cond.live = False
            return
        if name.text == "elif":
            value = self.condition(name, args)
        else:
            value = (self.one_name(name, args).text in self.macros) == (name.text == "elifdef")
        cond.live = cond.taken = value

    def else_(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        cond = self.innermost(name)
        if cond.else_seen:
            raise CompileError.at(name.span, "#else after #else")
        cond.else_seen = True
        cond.live = cond.parent_live and not cond.taken
        cond.taken = True

    def endif(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        self.innermost(name)
        self.stack.pop()

    def error(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        self.errors.append(Diagnostic("error", f"#error {rest}".rstrip(), span))

    def warning(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        self.warnings.append(Diagnostic("warning", f"#warning {rest}".rstrip(), span))

    def ignored(self, name: Token, args: list[Token], span: Span, rest: str) -> None:
        """#pragma (once, GCC ...) means nothing to a program; #line is not followed: positions
        stay those of the user's file."""

    # -- helpers ------------------------------------------------------------------------------

    def innermost(self, name: Token) -> _Conditional:
        if not self.stack:
            raise CompileError.at(name.span, f"#{name.text} without #if")
        return self.stack[-1]

    @staticmethod
    def one_name(name: Token, args: list[Token]) -> Token:
        if not args or args[0].kind != IDENT:
            where = args[0].span if args else name.span
            raise CompileError.at(where, f"#{name.text} expects a macro name")
        return args[0]

    def condition(self, name: Token, args: list[Token]) -> bool:
        """An #if's expression: `defined` first, then macros, then any name left is 0."""
        try:
            tokens = expand(self.replace_defined(args), self.macros)
            return evaluate(tokens, name.span, lambda tok: 0) != 0
        except CompileError as err:
            self.errors.extend(err.diagnostics)
            return False

    def replace_defined(self, tokens: list[Token]) -> list[Token]:
        out, i = [], 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.kind != IDENT or tok.text != "defined":
                out.append(tok)
                i += 1
                continue
            rest = tokens[i + 1:i + 4]
            if rest and rest[0].kind == IDENT:
                ident, i = rest[0], i + 2
            elif len(rest) == 3 and rest[0].is_punct("(") and rest[1].kind == IDENT and \
                    rest[2].is_punct(")"):
                ident, i = rest[1], i + 4
            else:
                raise CompileError.at(tok.span, "operator 'defined' requires an identifier")
            value = "1" if ident.text in self.macros else "0"
            out.append(Token(NUMBER, value, tok.line, tok.col, ident.end_line, ident.end_col,
                             tok.space))
        return out


_HANDLERS = {
    "define": _Preprocessor.define, "undef": _Preprocessor.undef,
    "include": _Preprocessor.include, "include_next": _Preprocessor.include,
    "if": _Preprocessor.if_, "ifdef": _Preprocessor.ifdef, "ifndef": _Preprocessor.ifdef,
    "elif": _Preprocessor.elif_, "elifdef": _Preprocessor.elif_,
    "elifndef": _Preprocessor.elif_, "else": _Preprocessor.else_,
    "endif": _Preprocessor.endif, "error": _Preprocessor.error,
    "warning": _Preprocessor.warning, "pragma": _Preprocessor.ignored,
    "line": _Preprocessor.ignored, "ident": _Preprocessor.ignored,
}
