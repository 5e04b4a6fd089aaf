"""Byte-level mutations of programs that were valid (or nearly).

Why: the generators only write well-formed text; crashes hide just past the edge of it -- a
program cut off inside a string, a stray 0xFF byte, a digit that Unicode knows but ASCII does
not (`٣`, `²`), a span pasted into the wrong place. Each mutation works on the UTF-8 bytes,
and the result is decoded the way tracer reads a program file (UTF-8 with surrogate escapes),
so invalid UTF-8 reaches the compiler exactly as it would from disk.
"""

from __future__ import annotations

import random
import re

from . import vocab

# Bytes and snippets worth inserting: structure, operators that combine into longer ones,
# escapes, invalid UTF-8, and non-ASCII digits and letters.
INTERESTING = [
    b"\xff", b"\x00", b"\xc3", b"\x80", b"\xe2\x80", "\u0663".encode(), "\u00b2".encode(),
    "\u00e9".encode(), "\U0001F600".encode(), b"{", b"}", b"(", b")", b"[", b"]", b'"', b"\\",
    b"/", b"*", b"/*", b"*/", b"//", b"$", b"@", b":", b";", b",", b".", b"..", b"++", b"--",
    b"->", b"?", b"!", b"-", b"0x", b"1e", b"_", b"$1", b"$#", b"@[", b"\n", b"\t", b"\r", b" ",
    b"\\x", b"\\0", b"let ", b"for ", b"if ", b"unroll ", b"while ", b"macro ", b"config = { ",
    b"BEGIN ", b"(uint8)", b"sizeof(", b"str(", b"count()", b"exit()", b"args.", b"return",
    b"break", b"#!"]


def mutate(data: bytes, rng: random.Random, donor: bytes = b"") -> bytes:
    """``data`` with one to four mutations; ``donor`` is another program to splice from.
    Half the time only word-level ones, which keep most programs parseable, so that what
    they change reaches the checker and the code generator rather than stopping at a
    syntax error."""
    ops = WORD_MUTATIONS if rng.random() < 0.5 else MUTATIONS
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        data = rng.choice(ops)(data, rng, donor)
    return data


def _span(data: bytes, rng: random.Random, longest: int = 32) -> tuple[int, int]:
    if not data:
        return 0, 0
    start = rng.randrange(len(data))
    return start, min(len(data), start + rng.randint(1, longest))


def _point(data: bytes, rng: random.Random) -> int:
    return rng.randint(0, len(data))


def truncate(data, rng, donor):
    return data[:_point(data, rng)]


def delete(data, rng, donor):
    start, end = _span(data, rng)
    return data[:start] + data[end:]


def insert(data, rng, donor):
    at = _point(data, rng)
    return data[:at] + rng.choice(INTERESTING) + data[at:]


def random_bytes(data, rng, donor):
    at = _point(data, rng)
    noise = bytes(rng.choice([rng.randrange(256), 0xFF, 0x80, 0x00])
                  for _ in range(rng.randint(1, 6)))
    return data[:at] + noise + data[at:]


def replace_byte(data, rng, donor):
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]


def duplicate(data, rng, donor):
    start, end = _span(data, rng, 64)
    at = _point(data, rng)
    return data[:at] + data[start:end] * rng.choice([1, 1, 2, 8]) + data[at:]


def splice(data, rng, donor):
    """A span of another program pasted in: valid text, wrong place."""
    start, end = _span(donor, rng, 80)
    at = _point(data, rng)
    return data[:at] + donor[start:end] + data[at:]


def swap_token(data, rng, donor):
    """One character class for another: a digit for a Unicode digit, a quote for nothing ..."""
    table = {b"1": "\u0661".encode(), b"2": "\u00b2".encode(), b'"': b"", b";": b"",
             b"(": b"", b")": b"", b"{": b"", b"}": b"", b"$": b"@", b"@": b"$", b"=": b"==",
             b" ": b"", b"0": b"0x", b".": b"..", b"\\": b"\\\\"}
    key = rng.choice(sorted(table))
    positions = [i for i in range(len(data)) if data[i:i + 1] == key]
    if not positions:
        return insert(data, rng, donor)
    at = rng.choice(positions)
    return data[:at] + table[key] + data[at + 1:]


def huge_number(data, rng, donor):
    """A digit run grown to hundreds or thousands of digits."""
    digits = [i for i in range(len(data)) if data[i:i + 1].isdigit()]
    at = rng.choice(digits) if digits else _point(data, rng)
    return data[:at] + b"9" * rng.choice([25, 300, 4000]) + data[at:]


def odd_literal(data, rng, donor):
    """A literal of a form the lexer accepts but the program did not use."""
    at = _point(data, rng)
    text = vocab.int_literal(rng) if rng.random() < 0.5 else vocab.string_literal(rng)
    return data[:at] + text.encode() + data[at:]


WORD = re.compile(rb'"(?:\\.|[^"\\\n])*"|\$[A-Za-z_]\w*|@\w*|\d\w*|[A-Za-z_]\w*|'
                  rb'==|!=|<=|>=|<<|>>|&&|\|\||[-+*/%&|^<>]')
OPERATORS = vocab.ARITH_OPS + vocab.COMPARE_OPS + vocab.LOGIC_OPS


def swap_word(data, rng, donor):
    """One word for another of its class: a literal, variable, map, builtin, type or operator.
    The program mostly still parses, so this reaches the checker with what it did not expect."""
    words = list(WORD.finditer(data))
    if not words:
        return insert(data, rng, donor)
    m = rng.choice(words)
    word = m.group().decode("utf-8", "surrogateescape")
    if word[0] == '"':
        new = vocab.string_literal(rng)
    elif word[0] == "$":
        new = rng.choice(vocab.VARS + ["$1", "$#", "$kv", "$0"])
    elif word[0] == "@":
        new = rng.choice(vocab.MAPS)
    elif word[0].isdigit():
        new = vocab.int_literal(rng)
    elif word in vocab.BUILTINS or word in vocab.INT_TYPES or word in vocab.FUNCTIONS:
        new = rng.choice(vocab.BUILTINS + vocab.INT_TYPES + vocab.FUNCTIONS + ["args"])
    elif word[0].isalpha() or word[0] == "_":
        new = rng.choice(["if", "while", "let", "for", "unroll", "return", "true", "false",
                          "sizeof", "config", "macro", "struct", "string", "bool", word * 2])
    else:
        new = rng.choice(OPERATORS)
    return data[:m.start()] + new.encode("utf-8", "surrogateescape") + data[m.end():]


def dup_statement(data, rng, donor):
    """A statement repeated (or moved next to another): re-assignments with other types,
    a second declaration, code after exit()."""
    ends = [i for i in range(len(data)) if data[i:i + 1] in (b";", b"{", b"}")]
    if len(ends) < 2:
        return duplicate(data, rng, donor)
    i = rng.randrange(len(ends) - 1)
    stmt = data[ends[i] + 1:ends[i + 1] + 1]
    at = rng.choice(ends) + 1
    return data[:at] + b" " + stmt + b" " + data[at:]


MUTATIONS = [truncate, delete, delete, insert, insert, insert, random_bytes, replace_byte,
             duplicate, splice, swap_token, swap_token, huge_number, odd_literal,
             swap_word, swap_word, swap_word, swap_word, dup_statement, dup_statement]
WORD_MUTATIONS = [swap_word, swap_word, swap_word, dup_statement, dup_statement, odd_literal]


def decode(data: bytes) -> str:
    """Bytes as tracer reads a program file."""
    return data.decode("utf-8", "surrogateescape")
