"""The program's own text, between the preprocessor's directives: which parts of it macros
apply to, where the C definitions written at top level are, and the text the parser is given,
with the way back from its positions to the user's.

Macros apply where the program computes: inside the braces of a probe (or of a ``macro``
definition) and in a probe's predicate ``/.../``. They do not apply to attach points, which are
not C (``kprobe:AF_INET`` names a kernel function, whatever a header defines), nor inside
``config = { ... }``, nor to the language's keywords, nor to the names of ``$variables`` and
``@maps``, nor inside strings and comments. bpftrace 0.17 expands every identifier its lexer
does not already know as a builtin or function, attach points included (``#define P BEGIN`` then
``P { }`` makes it fail with "Invalid probe type"); newer bpftrace only expands identifiers that
stand as expressions. A field name after ``.`` or ``->`` is expanded, as C and bpftrace 0.17 do.

A C definition starts at top level with ``struct``, ``union``, ``enum`` or ``typedef`` (no
probe starts with those words) and runs to its ``;``; like bpftrace 0.17, a ``struct ... { }``
that no ``;`` follows ends at its closing brace. It is blanked out of the parser's text, newlines
kept, so every other position stays where it was.

Scanning goes chunk by chunk (the lines between two directives, each expanded with the macros
defined at that point), keeping its state from one chunk to the next: a probe's body may hold
an ``#ifdef``.
"""

from __future__ import annotations

import bisect
import re
from typing import Optional

from .ctokens import Token, glues, tokenize
from .macros import Macro, expand

# The language's own words: a macro of the same name would turn the program into another one.
KEYWORDS = frozenset({
    "if", "else", "while", "for", "unroll", "return", "break", "continue", "let", "true",
    "false", "sizeof", "offsetof", "struct", "union", "enum", "macro", "config", "import",
})
DEFINITION_WORDS = frozenset({"struct", "union", "enum", "typedef"})

# An attach point, as the grammar's ATTACH_POINT reads one (grammar/tracer.lark): a name, then
# colon-separated parts that may be paths, quoted strings or wildcards.
_ATTACH = r"""[A-Za-z_][A-Za-z0-9_]*(?::(?:"(?:\\.|[^"\\\n])*"|\.{0,2}/[^\s:,{]*|[^\s:,{/"]*))*"""
_SKIP = r"""(?:\s|//[^\n]*|/\*[\s\S]*?\*/)"""
_TOP = re.compile(rf"""(?P<ws>{_SKIP}+)|(?P<word>{_ATTACH})|(?P<string>"(?:\\.|[^"\\\n])*")
                      |(?P<open>\{{)|(?P<close>\}})|(?P<slash>/)|(?P<other>[\s\S])""", re.X)
_LITERALS = r""""(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|//[^\n]*|/\*[\s\S]*?\*/"""
_BRACES = re.compile(rf"""{_LITERALS}|(?P<open>\{{)|(?P<close>\}})""")
_DEFINITION = re.compile(rf"""{_LITERALS}|(?P<open>\{{)|(?P<close>\}})|(?P<semi>;)""")
_WHITESPACE = re.compile(rf"{_SKIP}*")
_NOT_NEWLINE = re.compile(r"[^\n]")
_NAME = re.compile(r"(?<![$@A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*")

TOP, BODY, PREDICATE, DEFINITION, AFTER_DEFINITION = range(5)


class Output:
    """The parser's text as it is built, and for each line where it differs from the user's,
    segments (output column, input line, input column, end column of the macro name or None):
    from that output column on, text was copied from that input position (end None) or made
    by the macro named there."""

    def __init__(self):
        self.parts: list[str] = []
        self.line, self.col = 1, 1
        self.last = ""
        self.segments: dict[int, list[tuple[int, int, int, Optional[int]]]] = {}

    def text(self) -> str:
        return "".join(self.parts)

    def copy(self, text: str, line: int, col: int) -> None:
        """``text``, which is at ``line``:``col`` of the input."""
        if not text:
            return
        segments = self.segments.get(self.line)
        if segments:
            out_col, in_line, in_col, macro_end = segments[-1]
            # Still the same copied stretch as the last segment's: nothing new to say.
            if not (macro_end is None and in_line == line and
                    in_col + self.col - out_col == col):
                segments.append((self.col, line, col, None))
        elif (line, col) != (self.line, self.col):
            self.segments[self.line] = [(self.col, line, col, None)]
        self._advance(text)

    def produce(self, tok: Token) -> None:
        """A token an expansion made (or an argument it copied, which keeps its place)."""
        end = None if tok.own else tok.end_col
        segments = self.segments.setdefault(self.line, [])
        if end is None or not segments or segments[-1][1:] != (tok.line, tok.col, end):
            segments.append((self.col, tok.line, tok.col, end))
        self._advance(tok.text)

    def space(self) -> None:
        self.parts.append(" ")
        self.col += 1
        self.last = " "

    def newlines(self, count: int) -> None:
        if count:
            self.parts.append("\n" * count)
            self.line += count
            self.col = 1
            self.last = "\n"

    def blank_line(self, newline: bool) -> None:
        """A directive's line, or a line an #if left out: empty in the output."""
        if newline:
            self.newlines(1)

    def _advance(self, text: str) -> None:
        self.parts.append(text)
        newlines = text.count("\n")
        if newlines:
            self.line += newlines
            self.col = len(text) - text.rfind("\n")
        else:
            self.col += len(text)
        self.last = text[-1]


class ProgramScanner:
    def __init__(self, out: Output):
        self.out = out
        self.mode = TOP
        self.depth = 0  # braces open in the current probe body or definition
        self.expanding = True  # False in a config block
        self.config_next = False  # the next block at top level is a config block
        self.def_word = ""
        self.def_start = (0, 0)
        self.def_close = (0, 0)  # just after the closing brace of a struct definition
        self.definitions: list[tuple[tuple[int, int], tuple[int, int]]] = []
        # Per chunk:
        self.pending: Optional[list[int]] = None  # text to copy, not yet copied
        self.text = ""
        self.first_line = 1
        self.starts: list[int] = []
        self.macros: dict[str, Macro] = {}

    def locate(self, offset: int) -> tuple[int, int]:
        k = bisect.bisect_right(self.starts, offset) - 1
        return self.first_line + k, offset - self.starts[k] + 1

    def feed(self, text: str, first_line: int, macros: dict[str, Macro]) -> None:
        """Scan and emit the lines from ``first_line`` on (``text``: them, newlines included),
        expanding ``macros``."""
        self.text, self.first_line, self.macros = text, first_line, macros
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        steps = {TOP: self.top, BODY: self.body, PREDICATE: self.predicate,
                 DEFINITION: self.definition, AFTER_DEFINITION: self.after_definition}
        pos, n = 0, len(text)
        while pos < n:
            pos = steps[self.mode](pos)
        self.flush()

    def finish(self, end: tuple[int, int]) -> None:
        """The program ended: a definition still open ends with it."""
        if self.mode == DEFINITION:
            self.definitions.append((self.def_start, end))
        elif self.mode == AFTER_DEFINITION:
            self.definitions.append((self.def_start, self.def_close))
        self.mode = TOP

    # -- the modes: each emits from ``pos`` on and returns where it stopped -------------------

    def top(self, pos: int) -> int:
        m = _TOP.match(self.text, pos)
        kind, end = m.lastgroup, m.end()
        if kind == "word":
            word = m.group()
            if word in DEFINITION_WORDS:
                self.mode, self.def_word, self.depth = DEFINITION, word, 0
                self.def_start = self.locate(pos)
                return pos
            self.config_next = word == "config"
        elif kind == "open":
            self.mode, self.depth = BODY, 1
            self.expanding, self.config_next = not self.config_next, False
        elif kind == "slash":
            self.mode = PREDICATE
        self.verbatim(pos, end)
        return end

    def body(self, pos: int) -> int:
        start, text = pos, self.text
        for m in _BRACES.finditer(text, pos):
            kind = m.lastgroup
            if kind == "open":
                self.depth += 1
            elif kind == "close":
                self.depth -= 1
                if self.depth == 0:
                    self.region(start, m.start(), self.expanding)
                    self.verbatim(m.start(), m.end())
                    self.mode = TOP
                    return m.end()
        self.region(start, len(text), self.expanding)
        return len(text)

    def predicate(self, pos: int) -> int:
        for m in _BRACES.finditer(self.text, pos):
            if m.lastgroup == "open":
                self.region(pos, m.start(), True)
                self.verbatim(m.start(), m.end())
                self.mode, self.depth, self.expanding = BODY, 1, True
                return m.end()
        self.region(pos, len(self.text), True)
        return len(self.text)

    def definition(self, pos: int) -> int:
        start = pos
        for m in _DEFINITION.finditer(self.text, pos):
            kind = m.lastgroup
            if kind == "open":
                self.depth += 1
            elif kind == "close":
                self.depth -= 1
                if self.depth == 0 and self.def_word != "typedef":
                    self.blank(start, m.end())
                    self.def_close = self.locate(m.end())
                    self.mode = AFTER_DEFINITION
                    return m.end()
            elif kind == "semi" and self.depth <= 0:
                self.blank(start, m.end())
                self.definitions.append((self.def_start, self.locate(m.end())))
                self.mode = TOP
                return m.end()
        self.blank(start, len(self.text))
        return len(self.text)

    def after_definition(self, pos: int) -> int:
        """After a struct's closing brace: its `;`, an attribute, or already the next probe."""
        text = self.text
        q = _WHITESPACE.match(text, pos).end()
        self.verbatim(pos, q)
        if q >= len(text):
            return q
        if text[q] == ";":
            self.blank(q, q + 1)
            self.definitions.append((self.def_start, self.locate(q + 1)))
            self.mode = TOP
            return q + 1
        if text.startswith("__attribute__", q):
            self.mode = DEFINITION
            return q
        self.definitions.append((self.def_start, self.def_close))
        self.mode = TOP
        return q

    # -- emitting -----------------------------------------------------------------------------

    def verbatim(self, start: int, end: int) -> None:
        # Copies are gathered while they follow one another: most of a program is copied.
        if start >= end:
            return
        if self.pending is not None and self.pending[1] == start:
            self.pending[1] = end
        else:
            self.flush()
            self.pending = [start, end]

    def flush(self) -> None:
        if self.pending is not None:
            start, end = self.pending
            self.pending = None
            self.out.copy(self.text[start:end], *self.locate(start))

    def blank(self, start: int, end: int) -> None:
        if start < end:
            self.flush()
            self.out.copy(_NOT_NEWLINE.sub(" ", self.text[start:end]), *self.locate(start))

    def region(self, start: int, end: int, expanding: bool) -> None:
        """Text macros apply to (when ``expanding``)."""
        # Tokenizing costs more than looking for a macro's name, which most text has none of.
        if not expanding or not self.macros or start >= end or \
                self.macros.keys().isdisjoint(_NAME.findall(self.text, start, end)):
            self.verbatim(start, end)
            return
        line, col = self.locate(start)
        tokens = tokenize(self.text, line, col, start, end)
        result = expand(tokens, self.macros, KEYWORDS)
        if len(result) == len(tokens) and all(t.raw for t in result):
            self.verbatim(start, end)  # the names were only in strings or comments
            return
        self.render(start, end, tokens, result)

    def render(self, start: int, end: int, tokens: list[Token], result: list[Token]) -> None:
        """Write the expansion: the source as it was wherever nothing was expanded, the
        expansion's tokens in place of each macro call, and the newlines a call spanning lines
        held after it, so that every later line keeps its number."""
        text, out = self.text, self.out
        pos, previous, made = start, -1, []
        self.flush()
        for tok in result + [None]:
            if tok is not None and not tok.raw:
                made.append(tok)
                continue
            index = tok.index if tok is not None else len(tokens)
            upto = tok.end if tok is not None else end
            if index != previous + 1:
                first, last = tokens[previous + 1], tokens[index - 1]
                self.verbatim(pos, first.start)
                self.flush()
                for i, piece in enumerate(made):
                    before = out.last if i == 0 else made[i - 1].text
                    if (i and piece.space) or glues(before, piece.text):
                        out.space()
                    out.produce(piece)
                newlines = text.count("\n", first.start, last.end)
                out.newlines(newlines)
                if not newlines and last.end < upto and glues(out.last, text[last.end]):
                    out.space()
                pos = last.end
            self.verbatim(pos, upto)
            pos, previous, made = upto, index, []
