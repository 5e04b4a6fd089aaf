"""Literals as bpftrace 0.26 reads them: integers (with separators, bases, exponents and
suffixes) and string escapes. Used by the parser for the program's literals and by the checker
for positional parameters, so that ``$1`` means what the same text would mean in the program.
"""

from __future__ import annotations

import re
from typing import Optional

U64_MAX = (1 << 64) - 1

# Suffix -> (largest value before scaling, scale). C's integer suffixes only bound the value;
# the duration suffixes turn the number into nanoseconds.
SUFFIXES = {
    "": (U64_MAX, 1),
    "u": ((1 << 32) - 1, 1), "ul": (U64_MAX, 1), "ull": (U64_MAX, 1),
    "l": ((1 << 63) - 1, 1), "ll": ((1 << 63) - 1, 1),
    "ns": (U64_MAX, 1), "us": (U64_MAX, 1_000), "ms": (U64_MAX, 1_000_000),
    "s": (U64_MAX, 1_000_000_000), "m": (U64_MAX, 60_000_000_000),
    "h": (U64_MAX, 3_600_000_000_000), "d": (U64_MAX, 86_400_000_000_000),
}

_HEX = re.compile(r"0[xX](?P<digits>[0-9a-fA-F_]+)(?P<suffix>[A-Za-z_]\w*)?\Z", re.ASCII)
_DEC = re.compile(r"(?P<digits>[0-9][0-9_]*)(?:[eE](?P<exp>[0-9][0-9_]*))?"
                  r"(?P<suffix>[A-Za-z_]\w*)?\Z", re.ASCII)


class LiteralError(Exception):
    def __init__(self, message: str, start: int = 0, end: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.start, self.end = start, end  # where in the text, when known


def parse_int(text: str) -> int:
    """The value of an integer literal (no sign). Raises LiteralError with bpftrace's words."""
    m = _HEX.match(text) or _DEC.match(text)
    if not m:
        raise LiteralError(f"invalid integer: {short(text)}")
    digits = m.group("digits")
    if digits.endswith("_") or (m.groupdict().get("exp") or "").endswith("_"):
        raise LiteralError("trailing underscore in integer literal")
    suffix = m.group("suffix") or ""
    # C's suffixes are accepted in either case; durations only in lower case, as in bpftrace.
    key = suffix.lower() if suffix.lower() in ("u", "ul", "ull", "l", "ll") else suffix
    if key not in SUFFIXES:
        start = m.start("suffix")
        raise LiteralError(f"invalid integer suffix '{suffix}'", start, len(text))
    digits = digits.replace("_", "")
    # Past 22 significant digits (octal's most) no base fits 64 bits; refuse before converting,
    # so that a literal of thousands of digits costs nothing.
    if len(digits.lstrip("0")) > 22:
        raise LiteralError(f"overflow error, maximum value is {U64_MAX}: {short(text)}")
    if m.re is _HEX:
        value = int(digits, 16)
    elif len(digits) > 1 and digits[0] == "0" and digits[1] in "01234567":
        if any(ch in "89" for ch in digits):
            raise LiteralError(f"invalid integer: {short(text)}")
        value = int(digits, 8)
    else:
        value = int(digits, 10)
    exp = m.groupdict().get("exp")
    if exp is not None:
        exp = exp.replace("_", "")
        if not 1 <= value <= 9:
            raise LiteralError(f"coefficient part of scientific literal must be 1-9: "
                               f"{short(text)}")
        if len(exp.lstrip("0")) > 2 or value * 10 ** int(exp) > U64_MAX:
            raise LiteralError(f"overflow error, maximum value is {U64_MAX}: {short(text)}")
        value *= 10 ** int(exp)
    limit, scale = SUFFIXES[key]
    if value > limit // scale:
        raise LiteralError(f"overflow error, maximum value is {limit}: {short(text)}")
    return value * scale


def short(text: str) -> str:
    """A literal for a message: a very long one is cut, so the message stays readable."""
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def parse_signed_int(text: str) -> int:
    """An integer as a positional parameter gives it: a literal with an optional minus."""
    negative = text.startswith("-")
    value = parse_int(text[1:] if negative else text)
    if negative:
        if value > 1 << 63:
            raise LiteralError(f"overflow error, minimum value is {-(1 << 63)}: {short(text)}")
        return -value
    return value


SIMPLE_ESCAPES = {"n": 0x0A, "t": 0x09, "r": 0x0D, '"': 0x22, "\\": 0x5C}


def decode_string(body: str) -> bytes:
    """The bytes a string literal's body (between its quotes) stands for.

    The escapes are bpftrace's: ``\\n \\t \\r \\" \\\\``, octal (up to three digits) and
    ``\\xHH``. Other characters are the program's own bytes: UTF-8, or the raw bytes of a file
    that was not (kept as surrogate escapes when it was read)."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            j = body.find("\\", i)
            j = n if j < 0 else j
            out += body[i:j].encode("utf-8", "surrogateescape")
            i = j
            continue
        if i + 1 >= n:
            raise LiteralError("unterminated string", i, n)
        esc = body[i + 1]
        if esc in SIMPLE_ESCAPES:
            out.append(SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in "01234567":
            j = i + 1
            while j < n and j < i + 4 and body[j] in "01234567":
                j += 1
            value = int(body[i + 1:j], 8)
            if value > 0xFF:
                raise LiteralError(f"octal escape sequence out of range '\\{body[i + 1:j]}'",
                                   i, j)
            out.append(value)
            i = j
        elif esc in "xX":
            j = i + 2
            while j < n and j < i + 4 and body[j] in "0123456789abcdefABCDEF":
                j += 1
            if j == i + 2:
                raise LiteralError("invalid hex escape sequence", i, j)
            out.append(int(body[i + 2:j], 16))
            i = j
        else:
            raise LiteralError(f"invalid escape character '\\{esc}'", i, i + 2)
    return bytes(out)
