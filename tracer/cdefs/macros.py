"""C macros: their table and their expansion.

Expansion follows the C standard's algorithm as Dave Prosser wrote it down: every token carries
the set of macros whose expansion produced it (its *hide set*), a name in its own token's hide
set is never expanded again, and the result of an expansion is rescanned together with the
tokens after it (so ``#define f g`` then ``f(1)`` calls ``g``). Arguments are expanded before
they are substituted, except next to ``#`` (stringized as written) and ``##`` (pasted as
written). GNU's ``, ## __VA_ARGS__`` drops the comma when no variable arguments are given.

A macro's table entry is public in two forms: what the rest of tracer reads (the body text of
an object-like macro, a ``FunctionMacro`` for a function-like one) and the ``Macro`` the expander
works from. ``table()`` turns either form, or a mix, into the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Union

from ..diagnostics import CompileError, Span
from .ctokens import IDENT, PUNCT, STRING, Token, tokenize

VA_ARGS = "__VA_ARGS__"
MAX_TOKENS = 1_000_000  # an expansion that grows past this is a macro bomb, not a program


@dataclass(frozen=True)
class FunctionMacro:
    """A function-like macro as the rest of tracer sees it: ``#define MAX(a, b) ((a) > (b) ...``.
    A variadic macro's last parameter is ``__VA_ARGS__`` (or its GNU name)."""

    params: tuple[str, ...]
    body: str
    variadic: bool = False

    def __str__(self) -> str:
        params = list(self.params)
        if self.variadic:
            params[-1] = "..." if params[-1] == VA_ARGS else params[-1] + "..."
        return f"({', '.join(params)}) {self.body}"


PublicMacro = Union[str, FunctionMacro]


class Macro:
    """A macro as the expander uses it: name, parameters (None when object-like), the body's
    tokens, and where it was defined (None when it came from elsewhere: a header, a -D)."""

    __slots__ = ("name", "params", "variadic", "body", "span", "_tokens", "_index")

    def __init__(self, name: str, params: Optional[tuple[str, ...]], body: str,
                 variadic: bool = False, span: Optional[Span] = None,
                 tokens: Optional[list[Token]] = None):
        self.name, self.params, self.body = name, params, body
        self.variadic, self.span = variadic, span
        self._tokens = tokens
        self._index = {p: i for i, p in enumerate(params)} if params else {}

    @property
    def tokens(self) -> list[Token]:
        # Headers define thousands of macros and a program uses a few: tokenized when used.
        if self._tokens is None:
            self._tokens = tokenize(self.body)
            if self._tokens:
                self._tokens[0].space = False
        return self._tokens

    @property
    def public(self) -> PublicMacro:
        if self.params is None:
            return self.body
        return FunctionMacro(self.params, self.body, self.variadic)

    def same_as(self, other: "Macro") -> bool:
        """C's rule for a harmless redefinition: same parameters, same body tokens."""
        mine = [(t.text, t.space) for t in self.tokens]
        return self.params == other.params and mine == [(t.text, t.space) for t in other.tokens]


def table(macros: Mapping[str, object]) -> Mapping[str, Macro]:
    """A table the expander can use, from body texts, ``FunctionMacro``s or ``Macro``s. Entries
    are converted when first looked up: a header's table has thousands, a definition uses few."""
    return _Table(macros)


class _Table(Mapping):
    def __init__(self, source: Mapping[str, object]):
        self.source = source
        self.made: dict[str, Macro] = {}

    def __getitem__(self, name: str) -> Macro:
        made = self.made.get(name)
        if made is None:
            value = self.source[name]
            if isinstance(value, Macro):
                made = value
            elif isinstance(value, FunctionMacro):
                made = Macro(name, tuple(value.params), value.body, value.variadic)
            else:
                made = Macro(name, None, str(value))
            self.made[name] = made
        return made

    def __contains__(self, name: object) -> bool:
        return name in self.source

    def __iter__(self):
        return iter(self.source)

    def __len__(self) -> int:
        return len(self.source)


def expand(tokens: list[Token], macros: Mapping[str, Macro],
           protected: frozenset = frozenset()) -> list[Token]:
    """``tokens`` with every macro expanded. Names in ``protected`` and tokens marked not to be
    expanded stay as they are. Raises a located CompileError for a malformed call."""
    return _Expander(macros, protected).run(tokens)


class _Expander:
    def __init__(self, macros: Mapping[str, Macro], protected: frozenset):
        self.macros, self.protected = macros, protected
        self.produced = 0

    def run(self, tokens: list[Token]) -> list[Token]:
        macros, protected = self.macros, self.protected
        out: list[Token] = []
        stack = tokens[::-1]  # the next token is at the end
        while stack:
            tok = stack.pop()
            name = tok.text
            if (tok.kind != IDENT or name not in macros or not tok.expand
                    or name in tok.hide or name in protected):
                out.append(tok)
                continue
            macro = macros[name]
            if macro.params is None:
                replacement = self.substitute(macro, tok, None, tok.hide | {name})
            else:
                if not stack or not stack[-1].is_punct("("):
                    out.append(tok)  # a function-like macro's name alone is just a name
                    continue
                args, close = self.arguments(macro, tok, stack)
                hide = (tok.hide & close.hide) | {name}
                replacement = self.substitute(macro, tok, args, hide)
            self.produced += len(replacement)
            if self.produced > MAX_TOKENS:
                raise CompileError.at(tok.span, f"expanding macro '{name}' never ends")
            if replacement:
                # The first token takes the place of the name, and its spacing.
                replacement[0].space = tok.space
            stack.extend(reversed(replacement))
        return out

    def arguments(self, macro: Macro, name: Token, stack: list[Token]):
        """Take ``( ... )`` off the stack: the arguments' tokens and the closing parenthesis."""
        stack.pop()  # "("
        args: list[list[Token]] = [[]]
        depth = 0
        while stack:
            tok = stack.pop()
            if tok.kind == PUNCT:
                if tok.text == "(":
                    depth += 1
                elif tok.text == ")":
                    if depth == 0:
                        return self.check_count(macro, name, args), tok
                    depth -= 1
                elif tok.text == "," and depth == 0:
                    # A variadic macro's extra arguments all go, commas included, to the last.
                    if not (macro.variadic and len(args) == len(macro.params)):
                        args.append([])
                        continue
            args[-1].append(tok)
        raise CompileError.at(name.span, f"unterminated call of macro '{macro.name}': "
                                         "missing ')'")

    @staticmethod
    def check_count(macro: Macro, name: Token, args: list[list[Token]]) -> list[list[Token]]:
        want = len(macro.params)
        if want == 0 and args == [[]]:
            return []
        if macro.variadic and len(args) == want - 1:
            args.append([])  # no variable arguments at all
        if len(args) != want:
            raise CompileError.at(name.span, f"macro '{macro.name}' takes {want} argument"
                                             f"{'s' if want != 1 else ''}, {len(args)} given")
        return args

    def substitute(self, macro: Macro, at: Token, args: Optional[list[list[Token]]],
                   hide: frozenset) -> list[Token]:
        """The body with parameters replaced, ``#`` and ``##`` applied, every token given the
        hide set ``hide``. Tokens of the body take the place of the macro's name ``at``."""
        body = macro.tokens
        index = macro._index
        expanded: dict[int, list[Token]] = {}
        out: list[Token] = []
        i, n = 0, len(body)
        while i < n:
            tok = body[i]
            after = body[i + 1] if i + 1 < n else None
            if args is not None and tok.is_punct("#") and after is not None and \
                    after.kind == IDENT and after.text in index:
                text = stringize(args[index[after.text]])
                out.append(tok.copy(hide, at, kind=STRING, text=text))
                i += 2
                continue
            if tok.is_punct("##") and out and after is not None:
                i += 2
                right = self.operand(after, args, index, hide, at)
                if not right:
                    if after.text == VA_ARGS and macro.variadic and out[-1].is_punct(","):
                        out.pop()  # GNU: `, ## __VA_ARGS__` with no arguments loses the comma
                    continue
                out.extend(paste(out.pop(), right[0], hide, at))
                out.extend(right[1:])
                continue
            if args is not None and tok.kind == IDENT and tok.text in index:
                k = index[tok.text]
                if after is not None and after.is_punct("##"):
                    out.extend(t.copy(hide | t.hide) for t in args[k])
                else:
                    if k not in expanded:
                        expanded[k] = _Expander(self.macros, self.protected).run(args[k])
                    copies = [t.copy(hide | t.hide) for t in expanded[k]]
                    if copies:
                        copies[0].space = tok.space
                    out.extend(copies)
                i += 1
                continue
            out.append(tok.copy(hide, at))
            i += 1
        return out

    @staticmethod
    def operand(tok: Token, args, index, hide, at) -> list[Token]:
        """The right side of ``##``: an argument as written, or the body's token."""
        if args is not None and tok.kind == IDENT and tok.text in index:
            return [t.copy(hide | t.hide) for t in args[index[tok.text]]]
        return [tok.copy(hide, at)]


def stringize(tokens: list[Token]) -> str:
    """``#arg``: the argument's spelling as a string literal, one space where it had any."""
    parts = []
    for i, tok in enumerate(tokens):
        if i and tok.space:
            parts.append(" ")
        text = tok.text
        if tok.kind in (STRING, "char"):
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(text)
    return '"' + "".join(parts) + '"'


def paste(left: Token, right: Token, hide: frozenset, at: Token) -> list[Token]:
    """``a ## b``: one token spelled as both together. Where that is not one token (which C
    calls undefined), both are kept as they were."""
    text = left.text + right.text
    tokens = tokenize(text)
    if len(tokens) != 1:
        return [left, right]
    return [left.copy(hide, at, kind=tokens[0].kind, text=text)]
