"""C tokens with their place in the user's file.

The preprocessor, the macro expander, the constant-expression evaluator and the parser of struct
definitions all read C as tokens; they share this one tokenizer so that they agree on where a
token starts and ends. Whitespace and comments are not tokens: a token only records whether
something separated it from the one before (``space``), which is all that stringizing and
re-spelling an expansion need. A backslash-newline counts as whitespace, so a directive
continued over several lines is tokenized in place and every token keeps its true line.

``$name`` and ``@name`` are single tokens: they are the program's variables and maps, and the
name after the sigil must never be taken for a macro.
"""

from __future__ import annotations

import re
from typing import Optional

from ..diagnostics import Span

IDENT, NUMBER, STRING, CHAR, PUNCT, VAR = "ident", "number", "string", "char", "punct", "var"

_TOKEN = re.compile(r"""
    (?P<ws>(?:[ \t\r\f\v\n]|\\\r?\n|//[^\n]*|/\*[\s\S]*?\*/)+)
  | (?P<var>[$@][A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<char>'(?:\\.|[^'\\\n])*')
  | (?P<punct>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||\#\#|[-+*/%&|^]=|\S)
""", re.VERBOSE)


class Token:
    """One token. ``line``/``col`` (1-based) and ``end_line``/``end_col`` (exclusive) are where it
    is in the user's file; a token made by a macro carries the place of the macro's name there.

    ``start``/``end`` are offsets into the text it was read from and ``index`` its place in that
    text's token list (both -1 for a token a macro made); ``raw`` says it is that very token, not
    a copy; ``own`` that its spelling is the one at its place in the file (a macro argument copied
    into a body keeps both its place and its spelling, a token of the macro's body does not).
    ``hide`` is the set of macros whose expansion made it (C's "hide set"): a name never expands
    inside its own expansion. ``expand`` is False where macros must not apply to it."""

    __slots__ = ("kind", "text", "line", "col", "end_line", "end_col", "space", "hide",
                 "start", "end", "index", "raw", "own", "expand")

    def __init__(self, kind: str, text: str, line: int, col: int, end_line: int, end_col: int,
                 space: bool = False, start: int = -1, end: int = -1, index: int = -1):
        self.kind, self.text = kind, text
        self.line, self.col, self.end_line, self.end_col = line, col, end_line, end_col
        self.space = space
        self.hide: frozenset = frozenset()
        self.start, self.end, self.index = start, end, index
        self.raw = index >= 0
        self.own = True
        self.expand = True

    @property
    def span(self) -> Span:
        return Span(self.line, self.col, self.end_line, self.end_col)

    def is_punct(self, text: str) -> bool:
        return self.kind == PUNCT and self.text == text

    def copy(self, hide: Optional[frozenset] = None, at: Optional["Token"] = None,
             kind: Optional[str] = None, text: Optional[str] = None) -> "Token":
        """A copy made by an expansion: placed at ``at`` (the macro's name) unless it keeps its
        own place, with hide set ``hide``."""
        where = at if at is not None else self
        tok = Token(kind or self.kind, self.text if text is None else text, where.line,
                    where.col, where.end_line, where.end_col, self.space)
        tok.hide = self.hide if hide is None else hide
        tok.own = at is None and text is None and self.own
        tok.expand = self.expand
        return tok

    def __repr__(self) -> str:
        return f"Token({self.kind}, {self.text!r}, {self.line}:{self.col})"


def tokenize(text: str, line: int = 1, col: int = 1, start: int = 0,
             end: Optional[int] = None) -> list[Token]:
    """The tokens of ``text[start:end]``; ``text[start]`` is at ``line``:``col`` of the file.

    A column counts characters, as the diagnostics do; lines restart at column 1."""
    end = len(text) if end is None else end
    tokens: list[Token] = []
    # The file position of text[line_start] is (line, 1); before the first newline the text
    # starts at column ``col``.
    line_start = start - (col - 1)
    space = False
    pos = start
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos, end)
        kind, value = m.lastgroup, m.group()
        nxt = m.end()
        if kind == "ws":
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = pos + value.rfind("\n") + 1
            space = True
        else:
            c = pos - line_start + 1
            tokens.append(Token(kind, value, line, c, line, c + len(value), space, pos, nxt,
                                len(tokens)))
            space = False
        pos = nxt
    return tokens


def spell(tokens: list[Token]) -> str:
    """The tokens written out, one space wherever the source had whitespace."""
    out = []
    for i, tok in enumerate(tokens):
        if i and (tok.space or glues(out[-1], tok.text)):
            out.append(" ")
        out.append(tok.text)
    return "".join(out)


_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$@")
_OPERATOR = frozenset("+-*/%&|^!<>=.:#?")


def glues(left: str, right: str) -> bool:
    """Whether writing ``right`` straight after ``left`` would read as other tokens (``-`` then
    ``-`` is ``--``, ``a`` then ``b`` is ``ab``): then a space must go between them."""
    if not left or not right:
        return False
    a, b = left[-1], right[0]
    return ((a in _WORD and b in _WORD) or (a in _OPERATOR and b in _OPERATOR)
            or (a == "." and b.isdigit()))
