"""C integer constant expressions: the condition of ``#if``, an array's length, an enumerator's
value, the value of a macro a header defines.

Arithmetic is C's on 64-bit integers (what ``#if`` uses, intmax_t): a value is signed unless a
``u`` suffix, a literal too big for int64 or an unsigned operand makes it unsigned, and unsigned
arithmetic wraps. ``&&``, ``||`` and ``?:`` only evaluate the side they need, so ``0 && 1/0`` is
fine, as in C. Casts to integer types are understood where asked for (a header's
``((__u32)1 << 4)``), never in ``#if``, where C has none.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, Optional

from ..diagnostics import CompileError, Span
from ..types import INT_TYPE_NAMES, IntType
from .ctokens import CHAR, IDENT, NUMBER, PUNCT, Token
from .macros import FunctionMacro, Macro, expand, table

MASK = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1

# Binary operators: precedence (higher binds tighter), as in C.
PRECEDENCE = {
    "*": 10, "/": 10, "%": 10, "+": 9, "-": 9, "<<": 8, ">>": 8,
    "<": 7, "<=": 7, ">": 7, ">=": 7, "==": 6, "!=": 6,
    "&": 5, "^": 4, "|": 3, "&&": 2, "||": 1,
}
COMPARISONS = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
ARITHMETIC = {
    "*": lambda a, b: a * b, "+": lambda a, b: a + b, "-": lambda a, b: a - b,
    "&": lambda a, b: a & b, "^": lambda a, b: a ^ b, "|": lambda a, b: a | b,
}
UNARY = {
    "-": lambda v, u: (-v, u), "+": lambda v, u: (v, u), "~": lambda v, u: (~v, u),
    "!": lambda v, u: (int(v == 0), False),
}
# Most macro constants are one literal: read without tokenizing.
_PLAIN = re.compile(r"\(?\s*(-?)\s*(?:0[xX]([0-9a-fA-F]+)|([1-9][0-9]*)|0([0-7]*))([uUlL]*)"
                    r"\s*\)?\Z")
_SUFFIXES = {"", "u", "l", "ul", "lu", "ll", "ull", "llu"}
_INTEGER = re.compile(r"(0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)([uUlL]*)\Z")
_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "a": 7, "b": 8, "f": 12, "v": 11, "e": 27,
            "\\": 92, "'": 39, '"': 34, "?": 63}
# Words a cast's type may be made of, besides the integer type names the language knows.
_CAST_WORDS = frozenset({"signed", "unsigned", "char", "short", "int", "long", "const",
                         "volatile", "__force", "__user", "__kernel", "_Bool", "bool", "void",
                         "struct", "union", "enum"})
_CAST_TYPES = {
    ("char",): (8, True), ("signed", "char"): (8, True), ("unsigned", "char"): (8, False),
    ("short",): (16, True), ("unsigned", "short"): (16, False),
    ("int",): (32, True), ("signed",): (32, True), ("unsigned",): (32, False),
    ("unsigned", "int"): (32, False), ("long",): (64, True), ("unsigned", "long"): (64, False),
    ("long", "long"): (64, True), ("unsigned", "long", "long"): (64, False),
    ("_Bool",): (1, False), ("bool",): (1, False),
}

Value = tuple[int, bool]  # (value, unsigned)
NameValue = Callable[[Token], Optional[int]]


def wrap(value: int, unsigned: bool) -> Value:
    value &= MASK
    if not unsigned and value > INT64_MAX:
        value -= 1 << 64
    return value, unsigned


def evaluate(tokens: list[Token], where: Optional[Span] = None,
             name_value: Optional[NameValue] = None, casts: bool = False) -> int:
    """The value of the expression ``tokens``. An identifier is given its value by
    ``name_value`` (None: it is not a constant, and that is an error). Errors are located
    CompileErrors; ``where`` is the place to report an empty expression."""
    if not tokens:
        raise CompileError.at(where, "expected an integer constant expression")
    parser = _Parser(tokens, name_value, casts)
    value, _ = parser.comma(True)
    if parser.pos < len(tokens):
        tok = tokens[parser.pos]
        raise CompileError.at(tok.span, f"unexpected '{tok.text}' in a constant expression")
    return value


def macro_values(macros: Mapping[str, object],
                 names: Optional[Iterable[str]] = None) -> dict[str, int]:
    """The object-like macros (of ``names``, by default all) that are integer constants ->
    their values, as C would compute them where the macro is used: ``#define AF_INET PF_INET``
    is 2, ``#define FLAG (1 << 4)`` is 16. ``macros``: name -> body text, FunctionMacro or
    Macro (``Preprocessed.macros``, ``include_macros``'s result, or both merged)."""
    made = table(macros)
    out = {}
    for name in macros if names is None else names:
        body = macros[name]
        if isinstance(body, FunctionMacro) or (isinstance(body, Macro) and body.params is not None):
            continue
        text = body.body if isinstance(body, Macro) else str(body)
        m = _PLAIN.match(text)
        if m and not (m.group(1) and "u" in m.group(5).lower()):
            sign, hexa, decimal, octal, _ = m.groups()
            value = int(hexa, 16) if hexa else int(decimal) if decimal else int(octal or "0", 8)
            out[name] = -value if sign else value
            continue
        try:
            tokens = expand([Token(IDENT, name, 1, 1, 1, 1 + len(name))], made)
            out[name] = evaluate(tokens, casts=True)
        except (CompileError, RecursionError):
            continue  # not an integer: a string, a function call, a type, a statement
    return out


def integer_literal(tok: Token) -> Value:
    """A C integer constant: decimal, octal, hex or binary, with u/l suffixes."""
    m = _INTEGER.match(tok.text)
    if not m or m.group(2).lower() not in _SUFFIXES:
        raise CompileError.at(tok.span, f"'{tok.text}' is not an integer constant")
    digits, suffix = m.group(1), m.group(2).lower()
    if digits[:2] in ("0x", "0X"):
        value = int(digits[2:], 16)
    elif digits[:2] in ("0b", "0B"):
        value = int(digits[2:], 2)
    elif len(digits) > 1 and digits[0] == "0":
        if not all(c in "01234567" for c in digits):
            raise CompileError.at(tok.span, f"invalid digit in octal constant '{tok.text}'")
        value = int(digits, 8)
    else:
        value = int(digits)
    if value > MASK:
        raise CompileError.at(tok.span, f"integer constant '{tok.text}' is too large")
    return value, "u" in suffix or value > INT64_MAX


def char_literal(tok: Token) -> Value:
    """'a', '\\n', '\\x41', '\\101': the value of the (signed, as on x86) char."""
    body = tok.text[1:-1]
    chars, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            chars.append(ord(c))
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in ("x", "X"):
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            chars.append(int(m.group(), 16) if m else 0)
            i += 2 + (len(m.group()) if m else 0)
        elif nxt.isdigit() and nxt in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            chars.append(int(m.group(), 8))
            i += 1 + len(m.group())
        else:
            chars.append(_ESCAPES.get(nxt, ord(nxt) if nxt else 0))
            i += 2
    if not chars:
        raise CompileError.at(tok.span, "empty character constant")
    if len(chars) == 1:
        value = chars[0] & 0xFF
        return (value - 256 if value > 127 else value), False
    value = 0
    for c in chars:  # gcc's value of a multi-character constant
        value = (value << 8) | (c & 0xFF)
    return wrap(value & 0xFFFFFFFF, False)


class _Parser:
    def __init__(self, tokens: list[Token], name_value: Optional[NameValue], casts: bool):
        self.tokens, self.name_value, self.casts = tokens, name_value, casts
        self.pos = 0

    def peek(self) -> Optional[Token]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expect(self, text: str, after: Token) -> None:
        tok = self.peek()
        if tok is None or not tok.is_punct(text):
            where = tok.span if tok is not None else after.span
            raise CompileError.at(where, f"expected '{text}' in a constant expression")
        self.pos += 1

    def comma(self, live: bool) -> Value:
        value = self.conditional(live)
        while (tok := self.peek()) is not None and tok.is_punct(","):
            self.pos += 1
            value = self.conditional(live)
        return value

    def conditional(self, live: bool) -> Value:
        cond = self.binary(1, live)
        tok = self.peek()
        if tok is None or not tok.is_punct("?"):
            return cond
        self.pos += 1
        taken = cond[0] != 0
        yes = self.comma(live and taken)
        self.expect(":", tok)
        no = self.conditional(live and not taken)
        unsigned = yes[1] or no[1]
        return wrap((yes if taken else no)[0], unsigned)

    def binary(self, level: int, live: bool) -> Value:
        left = self.unary(live)
        while True:
            tok = self.peek()
            if tok is None or tok.kind != PUNCT or PRECEDENCE.get(tok.text, 0) < level:
                return left
            op, prec = tok.text, PRECEDENCE[tok.text]
            self.pos += 1
            if op in ("&&", "||"):
                # The right side is only evaluated when it decides the result.
                needed = (left[0] != 0) if op == "&&" else (left[0] == 0)
                right = self.binary(prec + 1, live and needed)
                result = (left[0] != 0 and right[0] != 0) if op == "&&" else \
                    (left[0] != 0 or right[0] != 0)
                left = (int(result), False)
                continue
            right = self.binary(prec + 1, live)
            left = self.apply(op, left, right, tok, live)

    def apply(self, op: str, left: Value, right: Value, tok: Token, live: bool) -> Value:
        if op in ("<<", ">>"):
            count = right[0]
            value, unsigned = left
            if count < 0 or count >= 64:
                return (0, unsigned) if op == "<<" or value >= 0 else (-1, unsigned)
            return wrap(value << count if op == "<<" else value >> count, unsigned)
        unsigned = left[1] or right[1]
        a, b = (wrap(left[0], True)[0], wrap(right[0], True)[0]) if unsigned else \
            (left[0], right[0])
        if op in COMPARISONS:
            return int(COMPARISONS[op](a, b)), False
        if op in ARITHMETIC:
            return wrap(ARITHMETIC[op](a, b), unsigned)
        if b == 0:
            if live:
                raise CompileError.at(tok.span, "division by zero in a constant expression")
            return 0, unsigned
        quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C truncates
        return wrap(quotient if op == "/" else a - quotient * b, unsigned)

    def unary(self, live: bool) -> Value:
        tok = self.peek()
        if tok is None:
            last = self.tokens[-1]
            raise CompileError.at(last.span, f"expected a value after '{last.text}'")
        if tok.kind == PUNCT and tok.text in UNARY:
            self.pos += 1
            value, unsigned = self.unary(live)
            return wrap(*UNARY[tok.text](value, unsigned))
        if tok.is_punct("("):
            cast = self.cast_type() if self.casts else None
            if cast is not None:
                value, _ = self.unary(live)
                return cast(value)
            self.pos += 1
            value = self.comma(live)
            self.expect(")", tok)
            return value
        self.pos += 1
        if tok.kind == NUMBER:
            return integer_literal(tok)
        if tok.kind == CHAR:
            return char_literal(tok)
        if tok.kind == IDENT:
            value = self.name_value(tok) if self.name_value is not None else None
            if value is None:
                raise CompileError.at(tok.span, f"'{tok.text}' is not an integer constant")
            return value, value > INT64_MAX
        raise CompileError.at(tok.span, f"unexpected '{tok.text}' in a constant expression")

    def cast_type(self) -> Optional[Callable[[int], Value]]:
        """At ``(``: if a type name and ``)`` follow, step over them and give the conversion."""
        words, i = [], self.pos + 1
        pointer = False
        while i < len(self.tokens) and not self.tokens[i].is_punct(")"):
            tok = self.tokens[i]
            if tok.is_punct("*"):
                pointer = True
            elif tok.kind != IDENT or not _type_word(tok.text):
                return None
            else:
                words.append(tok.text)
            i += 1
        if not words or i >= len(self.tokens):
            return None
        self.pos = i + 1
        if pointer:
            return lambda v: wrap(v, True)
        key = _cast_key(words)
        bits_signed = _CAST_TYPES.get(key)
        if bits_signed is None and len(key) == 1 and isinstance(INT_TYPE_NAMES.get(key[0]),
                                                                  IntType):
            named = INT_TYPE_NAMES[key[0]]
            bits_signed = (named.bits, named.is_signed)
        if bits_signed is None:
            # A typedef we cannot size (gfp_t, or a pointer type such as __sighandler_t):
            # what the value becomes is unknown.
            raise CompileError.at(self.tokens[self.pos - 1].span,
                                  f"cast to '{' '.join(words)}', a type of unknown size")
        bits, signed = bits_signed
        if bits == 1:
            return lambda v: (int(v != 0), False)

        def convert(v: int) -> Value:
            v &= (1 << bits) - 1
            if signed and v >= 1 << (bits - 1):
                v -= 1 << bits
            return v, not signed and bits == 64
        return convert


_QUALIFIERS = frozenset({"const", "volatile", "__force", "__user", "__kernel"})


def _cast_key(words: list[str]) -> tuple[str, ...]:
    """The type's words as _CAST_TYPES spells them: "unsigned long int" -> unsigned long."""
    key = [w for w in words if w not in _QUALIFIERS]
    if len(key) > 1:
        key = [w for w in key if w != "int"]
    if len(key) > 1 and "char" not in key:
        key = [w for w in key if w != "signed"]
    return tuple(key)


def _type_word(word: str) -> bool:
    # A typedef ends in _t by convention: `(gfp_t)x` is a cast, not a parenthesised name.
    return word in _CAST_WORDS or word in INT_TYPE_NAMES or word.endswith("_t")
