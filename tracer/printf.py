"""printf format strings (also errorf's and warnf's): parsed once at compile time, rendered in user
space for each event.

The checker calls ``parse_format`` (a malformed format is a ``FormatError``), ``count_error`` and
each ``Conversion.check``; ``bind_types`` tells the conversions their arguments' types; the output
stage calls ``render`` for every event.

bpftrace 0.26 does not hand values to C's printf: it writes them to a C++ output stream set up
from the specifier. That is the specification followed here, and it differs from C's printf:

* the width pads the whole text with the fill character, on the left (``-``: on the right); the
  ``0`` flag only makes the fill character '0', so ``%05d`` of -42 is ``00-42`` and ``%-05d`` of
  42 is ``42000``;
* the precision is ignored (it only applies to floating point, which bpftrace refuses), so
  ``%.2s`` does not cut a string; the space flag is ignored;
* ``#`` adds ``0x``/``0X``/``0`` to non-zero hex and octal values; ``+`` signs non-negative
  values of signed conversions only;
* ``%p`` prints ``0x`` and lowercase hex digits, and ``0`` for a null pointer;
* ``%s`` accepts any value: the width applies to the value's first piece of text only (for a
  tuple, its opening parenthesis) and ``+`` reaches every signed integer inside it;
* a ``*`` width or precision is accepted, consumes no argument, and is ignored;
* widths count bytes, as C++ counts a string's ``char``s.

Integers are first cast to the C type the length modifier names, then printed: ``%d`` of
5000000000 prints its low 32 bits as a signed int. Strings travel as ``str`` decoded with
surrogateescape, so any byte a probe read reaches stdout unchanged.

Where bpftrace 0.26 would print an unrecognised ``%`` sequence as literal text, tracer refuses
the format instead (a non-ASCII digit, an unknown conversion, a lone ``%`` ...): such a format is
almost always a mistake, and refusing it cannot print something unexpected.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

from .gfp import gfp_text
from .layout import CArray, Record
from .types import IntType, StringType
from .values import Buffer, Pointer, Stack, Stats

# bpftrace 0.26's grammar of a specifier: flags in this order, each at most once; a width and a
# precision in ASCII digits or '*'; any run of length letters; then the conversion. Its
# non-standard conversions (gr, rh, rx, r) follow the standard ones, so `%rx` is not read as `%r`.
SPEC_RE = re.compile(r"%(?P<left>-?)(?P<plus>\+?)(?P<space> ?)(?P<alt>#?)(?P<zero>0?)"
                     r"(?P<width>\*|[0-9]+)?(?:\.(?P<precision>\*|[0-9]+))?"
                     r"(?P<length>[hlLjzt]*)"
                     r"(?P<conv>[diouxXeEfFGaAcspn%]|gr|g|rh|rx|r)")
# Matched by that grammar but refused by bpftrace's checker: it has no floating point values,
# and %n prints nothing (in C it stores a count).
UNSUPPORTED = frozenset("eEfFgGaAn")
FLAG_CHARS = "-+ #0"
INT_MAX = 2**31 - 1  # bpftrace reads widths with std::stoi: a larger one cannot be a width
MASK64 = 2**64 - 1


class FormatError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset  # index into the format string of the '%' that starts the specifier


# ---- what each conversion accepts (for the checker) ------------------------------------------

# bpftrace's kind of each tracer type, as its printf checker tells types apart. Keyed by class
# name so that types tracer.types does not define yet (a buffer type for %r) need no import here.
TYPE_KINDS = {"IntType": "integer", "BoolType": "boolean", "PointerType": "pointer",
              "StringType": "string", "TupleType": "tuple", "VoidType": "none",
              "AggregateType": "aggregate", "StructRef": "c_type", "ArgsType": "record",
              "StructType": "c_struct", "ArrayType": "array", "OpaqueType": "c_type",
              "SymbolicType": "symbolic"}
INTEGER_KINDS = frozenset({"integer", "boolean", "pointer"})
# None: anything goes (bpftrace 0.26 prints any value with %s).
ACCEPTED_KINDS: dict[str, Optional[frozenset]] = {
    **dict.fromkeys(("d", "i", "u", "o", "x", "X", "c", "p", "gr"), INTEGER_KINDS),
    **dict.fromkeys(("r", "rx", "rh"), frozenset({"buffer"})),
    "s": None,
}


def _tuple_type_name(typ) -> str:
    if typ.names:
        return "record { " + ", ".join(f".{n} = {type_name(e)}"
                                       for n, e in zip(typ.names, typ.elements)) + " }"
    return "(" + ",".join(type_name(e) for e in typ.elements) + ")"


TYPE_NAMERS: dict[str, Callable[[Any], str]] = {
    "StringType": lambda t: f"string[{t.capacity}]",
    "PointerType": lambda t: f"{type_name(t.target) if t.target is not None else 'void'} *",
    "TupleType": _tuple_type_name,
}


def type_name(typ) -> str:
    """A type as bpftrace's messages spell it (``string[6]``, ``(int64,string[4])``)."""
    namer = TYPE_NAMERS.get(type(typ).__name__)
    return namer(typ) if namer else str(typ)


# ---- numbers ----------------------------------------------------------------------------------

# How many bits the C type named by a length modifier holds; any other run of length letters
# (none, L, hl ...) leaves bpftrace's default, int. ptrdiff_t (t) is signed even for %u, but it is
# 64 bits wide, so the unsigned result is the same.
LENGTH_BITS = {"hh": 8, "h": 16, "l": 64, "ll": 64, "j": 64, "z": 64, "t": 64}


def _signed_digits(conv: "Conversion") -> Callable[[int], str]:
    bits = LENGTH_BITS.get(conv.length, 32)
    mask, sign_bit = (1 << bits) - 1, 1 << (bits - 1)
    plus = "+" if conv.plus else ""

    def digits(value: int) -> str:
        value &= mask
        if value & sign_bit:
            return str(value - (mask + 1))
        return plus + str(value)
    return digits


def _unsigned_digits(base: str, prefix: str) -> Callable[["Conversion"], Callable[[int], str]]:
    """u, o, x and X: the value cast to an unsigned type; ``#`` adds ``prefix`` unless it is 0."""
    def build(conv: "Conversion") -> Callable[[int], str]:
        mask = (1 << LENGTH_BITS.get(conv.length, 32)) - 1
        shown = prefix if conv.alt else ""

        def digits(value: int) -> str:
            value &= mask
            return shown + format(value, base) if value else "0"
        return digits
    return build


def _pointer_digits(conv: "Conversion") -> Callable[[int], str]:
    # The length modifier does not matter: the value is printed as a 64-bit void *.
    return lambda value: "0x%x" % (value & MASK64) if value & MASK64 else "0"


# One character per byte value: %c writes the byte itself, whatever its value (0 included).
BYTE_CHARS = tuple(bytes([b]).decode("utf-8", "surrogateescape") for b in range(256))


def _char_digits(conv: "Conversion") -> Callable[[int], str]:
    return lambda value: BYTE_CHARS[value & 0xFF]


NUMBER_DIGITS: dict[str, Callable[["Conversion"], Callable[[int], str]]] = {
    "d": _signed_digits, "i": _signed_digits,
    "u": _unsigned_digits("d", ""), "o": _unsigned_digits("o", "0"),
    "x": _unsigned_digits("x", "0x"), "X": _unsigned_digits("X", "0X"),
    "p": _pointer_digits, "c": _char_digits,
}


# Where a conversion prints an integer exactly as str() does (no flags), by its length in bits:
# the values a signed or unsigned cast of that width leaves unchanged.
PLAIN_RANGES: dict[str, Callable[[int], tuple[int, int]]] = {
    "d": lambda bits: (-(1 << (bits - 1)), 1 << (bits - 1)),
    "i": lambda bits: (-(1 << (bits - 1)), 1 << (bits - 1)),
    "u": lambda bits: (0, 1 << bits),
}


# ---- any value as text (%s) -------------------------------------------------------------------

ESCAPED_BYTES = tuple("\\x%02x" % b for b in range(256))
ASCII_OR_ESCAPED = tuple(chr(b) if 32 <= b <= 126 else ESCAPED_BYTES[b] for b in range(256))


def buffer_text(data: bytes, keep_ascii: bool = True, escape: bool = True) -> str:
    """A buffer as %r (printable ASCII kept, other bytes \\xNN), %rx (every byte \\xNN) or %rh
    (two hex digits a byte, space-separated) prints it."""
    if not escape:
        return data.hex(" ")
    table = ASCII_OR_ESCAPED if keep_ascii else ESCAPED_BYTES
    return "".join([table[b] for b in data])


# How a stack's mode indents each frame line in printf's text of it.
STACK_INDENT = {"bpftrace": " " * 8, "perf": "\t", "raw": ""}


def stack_text(stack: Stack) -> str:
    indent = STACK_INDENT.get(stack.mode, "")
    return "\n" + "".join(f"{indent}{frame}\n" for frame in stack.frames)


def _is_unsigned(typ, value: int) -> bool:
    # Without a type, only a value past int64's range is known to be unsigned.
    signed = getattr(typ, "is_signed", None)
    return value >= 2**63 if signed is None else not signed


def _int_pieces(value: int, typ, plus: bool) -> list[str]:
    if type(typ).__name__ == "PointerType":
        return ["0x%x" % (value & MASK64)]  # bpftrace prints a pointer's value in hex
    if plus and value >= 0 and not _is_unsigned(typ, value):
        return ["+%d" % value]
    return [str(value)]


def _join_pieces(open_: str, items: list[list[str]], close: str) -> list[str]:
    pieces = [open_]
    for i, item in enumerate(items):
        if i:
            pieces.append(", ")
        pieces.extend(item)
    pieces.append(close)
    return pieces


def _tuple_pieces(value: tuple, typ, plus: bool) -> list[str]:
    types = getattr(typ, "elements", None) or (None,) * len(value)
    return _join_pieces("(", [pieces_of(v, t, plus) for v, t in zip(value, types)], ")")


def _record_pieces(value: Record, typ, plus: bool) -> list[str]:
    if not value:
        return ["{}"]
    types = getattr(typ, "elements", None) or (None,) * len(value)
    fields = [[".", name, " = ", *pieces_of(v, t, plus)]
              for name, v, t in zip(value.names, value, types)]
    return _join_pieces("{ ", fields, " }")


def _array_pieces(value: CArray, typ, plus: bool) -> list[str]:
    element = getattr(typ, "element", None)
    pieces = ["["]
    for i, item in enumerate(value):
        if i:
            pieces.append(",")
        pieces.extend(pieces_of(item, element, plus))
    return pieces + ["]"]


def _stats_pieces(value: Stats, typ, plus: bool) -> list[str]:
    record = Record(("count", "average", "total"), (value.count, value.average, value.total))
    return _record_pieces(record, None, plus)


# By the value's class; bool before int and Record before tuple for the subclass fallback.
PIECES: dict[type, Callable[[Any, Any, bool], list[str]]] = {
    bool: lambda v, t, plus: ["true" if v else "false"],
    int: _int_pieces,
    Pointer: lambda v, t, plus: ["0x%x" % v],
    str: lambda v, t, plus: [v],
    Record: _record_pieces,
    CArray: _array_pieces,
    tuple: _tuple_pieces,
    Buffer: lambda v, t, plus: [buffer_text(v.data)],
    Stack: lambda v, t, plus: [stack_text(v)],
    Stats: _stats_pieces,
}


def pieces_of(value, typ=None, plus: bool = False) -> list[str]:
    """``value`` as the successive pieces of text bpftrace writes for it. A width pads only the
    first piece; ``plus`` (the ``+`` flag) signs non-negative signed integers."""
    build = PIECES.get(type(value))
    if build is None:
        build = next((b for cls, b in PIECES.items() if isinstance(value, cls)), None)
        if build is None:
            return [str(value)]
    return build(value, typ, plus)


def text_of(value, typ=None) -> str:
    """A value as bpftrace's printf prints it with a plain %s: ``(1, abc)``, ``true``,
    ``{ .a = 1 }``; ``typ`` (a tracer type, if known) tells pointers and unsigned integers."""
    if type(value) is str:
        return value
    return "".join(pieces_of(value, typ))


# ---- conversions ------------------------------------------------------------------------------

def _padder(conv: "Conversion") -> Optional[Callable[[str], str]]:
    """Pads text to the width, counted in bytes; None when there is no width to pad to."""
    width = conv.width
    if not width:
        return None
    fill = "0" if conv.zero else " "
    left = conv.left

    def pad(text: str) -> str:
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))
        if size >= width:
            return text
        return text + fill * (width - size) if left else fill * (width - size) + text
    return pad


def _number_renderer(conv: "Conversion") -> Callable[[Any], str]:
    digits = NUMBER_DIGITS[conv.conv](conv)
    pad = _padder(conv)

    def render(value) -> str:
        if not isinstance(value, int):
            return f"!{{invalid integer conversion: {text_of(value)}}}"  # as bpftrace embeds it
        return pad(digits(value)) if pad else digits(value)
    return render


def _text_renderer(conv: "Conversion") -> Callable[[Any], str]:
    pad = _padder(conv)
    typ, plus = conv.value_type, conv.plus

    def render(value) -> str:
        if type(value) is str:
            return pad(value) if pad else value
        first, *rest = pieces_of(value, typ, plus)
        return (pad(first) if pad else first) + "".join(rest)
    return render


def _buffer_renderer(keep_ascii: bool, escape: bool):
    def build(conv: "Conversion") -> Callable[[Any], str]:
        as_text = _text_renderer(conv)
        pad = _padder(conv)

        def render(value) -> str:
            if not isinstance(value, Buffer):
                return as_text(value)  # bpftrace prints anything else as %s would
            text = buffer_text(value.data, keep_ascii, escape)
            return pad(text) if pad else text
        return render
    return build


def _gfp_renderer(conv: "Conversion") -> Callable[[Any], str]:
    pad = _padder(conv)

    def render(value) -> str:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"!{{invalid GFP flags conversion: {text_of(value)}}}"  # as bpftrace embeds it
        text = gfp_text(value)
        return pad(text) if pad else text
    return render


RENDERERS: dict[str, Callable[["Conversion"], Callable[[Any], str]]] = {
    **dict.fromkeys(NUMBER_DIGITS, _number_renderer),
    "s": _text_renderer,
    "r": _buffer_renderer(True, True),
    "rx": _buffer_renderer(False, True),
    "rh": _buffer_renderer(False, False),
    "gr": _gfp_renderer,
}


@dataclass(frozen=True)
class Conversion:
    text: str  # as written, e.g. "%-5lu"
    conv: str  # the conversion: d i u o x X c p s r rx rh gr
    length: str = ""  # the length letters as written: "", "hh", "l" ...
    left: bool = False  # -
    plus: bool = False  # +
    space: bool = False  # ' ': accepted, and ignored as bpftrace ignores it
    alt: bool = False  # #
    zero: bool = False  # 0
    width: Optional[int] = None  # None: none, or '*' (accepted and ignored, as in bpftrace)
    precision: Optional[int] = None  # parsed, and ignored as bpftrace ignores it
    # The argument's tracer type once the checker knows it (bind_types): with it %s prints a
    # pointer in hex and leaves unsigned integers unsigned under '+'.
    value_type: Any = field(default=None, compare=False)
    render: Callable[[Any], str] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        # Built once here, so that formatting an event does no parsing and few branches.
        object.__setattr__(self, "render", RENDERERS[self.conv](self))

    def render_column(self, values: Sequence) -> list:
        """``render`` of each value; many at once, as ``str`` where that gives the same text (an
        integer column whose every value the conversion prints unchanged, a string column)."""
        typ = self.value_type
        plain = not (self.plus or self.alt)
        if plain and type(typ) is IntType and self.conv in PLAIN_RANGES:
            bits = LENGTH_BITS.get(self.length, 32)
            low, high = PLAIN_RANGES[self.conv](bits)
            if values and low <= min(values) and max(values) < high:
                texts = list(map(str, values))
                pad = _padder(self)
                return list(map(pad, texts)) if pad else texts
        if type(typ) is StringType and self.conv == "s":
            pad = _padder(self)
            return list(map(pad, values)) if pad else list(values)
        return list(map(self.render, values))

    @property
    def wants_string(self) -> bool:
        # The checker's test before it calls check(); %s takes any value since bpftrace 0.26.
        return self.conv == "s"

    def check(self, typ) -> Optional[str]:
        """None if bpftrace 0.26 prints a value of tracer type ``typ`` with this conversion,
        else its error message."""
        # A symbolic value says its own kind where it has one (a buffer from buf()).
        kind = getattr(typ, "printf_kind", None) or TYPE_KINDS.get(type(typ).__name__)
        if kind == "none":
            return f"unable to print none type for specifier: {self.conv}"
        accepted = ACCEPTED_KINDS[self.conv]
        if accepted is None or kind in accepted:
            return None
        return f"unsupported format specifier for type '{type_name(typ)}': {self.conv}"

    def for_type(self, typ) -> "Conversion":
        return dataclasses.replace(self, value_type=typ)


Part = Union[str, Conversion]


# ---- parsing ----------------------------------------------------------------------------------

def _number(digits: Optional[str], what: str, fmt: str, start: int, end: int) -> Optional[int]:
    if digits is None or digits == "*":
        return None
    value = int(digits)
    if value > INT_MAX:
        raise FormatError(f"invalid format specifier '{_shown(fmt[start:end])}': {what} too large "
                          f"(at most {INT_MAX})", start)
    return value


def _conversion(match: re.Match, fmt: str) -> Conversion:
    g = match.group
    start, end = match.span()
    return Conversion(text=g(0), conv=g("conv"), length=g("length"), left=bool(g("left")),
                      plus=bool(g("plus")), space=bool(g("space")), alt=bool(g("alt")),
                      zero=bool(g("zero")),
                      width=_number(g("width"), "width", fmt, start, end),
                      precision=_number(g("precision"), "precision", fmt, start, end))


def parse_format(fmt: str) -> list[Part]:
    """The format as literal text and conversions, in order; ``%%`` joins the literal text."""
    parts: list[Part] = []
    literal: list[str] = []
    pos = 0
    while (start := fmt.find("%", pos)) >= 0:
        literal.append(fmt[pos:start])
        match = SPEC_RE.match(fmt, start)
        if match is None:
            raise FormatError(_diagnosis(fmt, start), start)
        conv = match.group("conv")
        if conv in UNSUPPORTED:
            raise FormatError(f"unsupported format specifier: {conv}", start)  # bpftrace's words
        if conv == "%":
            literal.append("%")  # as in bpftrace 0.26, whatever flags or width it carries
        else:
            if any(literal):
                parts.append("".join(literal))
            literal = []
            parts.append(_conversion(match, fmt))
        pos = match.end()
    literal.append(fmt[pos:])
    if any(literal):
        parts.append("".join(literal))
    return parts


def _shown_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, kept by surrogateescape
        return "\\x%02x" % (code - 0xDC00)
    return char if char.isprintable() else char.encode("unicode_escape").decode("ascii")


def _shown(text: str) -> str:
    """Text for a message: control characters and undecodable bytes escaped."""
    return "".join(_shown_char(c) for c in text)


LITERAL_HINT = "(write %% for a literal %)"
# What is wrong with a specifier, told by the first character that does not fit the grammar.
PROBLEMS: tuple[tuple[Callable[[str], bool], Callable[[str], str]], ...] = (
    (lambda bad: bad in "0123456789",
     lambda bad: f"digit '{bad}' out of place (a width or precision is either digits or *, "
                 f"and comes before the length letters)"),
    (lambda bad: bad in FLAG_CHARS,
     lambda bad: f"flag '{bad}' out of place (flags come right after %, in the order "
                 f"- + space # 0, each at most once)"),
    (str.isdigit, lambda bad: "widths and precisions take the digits 0-9 only"),
    (lambda bad: bad == ".", lambda bad: "'.' must be followed by a precision (digits or *)"),
    (lambda bad: True, lambda bad: f"unknown conversion '{_shown(bad)}' {LITERAL_HINT}"),
)


def _skip(fmt: str, i: int, chars: str) -> int:
    while i < len(fmt) and fmt[i] in chars:
        i += 1
    return i


def _number_end(fmt: str, i: int) -> int:
    """Past a width or precision starting at ``i``: '*' or ASCII digits."""
    return i + 1 if fmt.startswith("*", i) else _skip(fmt, i, "0123456789")


def _diagnosis(fmt: str, start: int) -> str:
    """Why the specifier at ``start`` does not parse: walks bpftrace's grammar to the first
    character that does not fit it."""
    i = start + 1
    for flag in FLAG_CHARS:
        if fmt.startswith(flag, i):
            i += 1
    i = _number_end(fmt, i)
    if fmt.startswith(".", i) and (fmt.startswith("*", i + 1) or fmt[i + 1:i + 2].isdigit()):
        # A precision; if its first digit is not ASCII, that digit is the character to blame.
        i = _number_end(fmt, i + 1)
    i = _skip(fmt, i, "hlLjzt")
    if i >= len(fmt):
        return (f"invalid format specifier '{_shown(fmt[start:])}': the format string ends "
                f"before its conversion {LITERAL_HINT}")
    bad = fmt[i]
    describe = next(describe for applies, describe in PROBLEMS if applies(bad))
    return f"invalid format specifier '{_shown(fmt[start:i + 1])}': {describe(bad)}"


# ---- what the checker and the output stage call -----------------------------------------------

def conversions(parts: Sequence[Part]) -> list[Conversion]:
    return [p for p in parts if isinstance(p, Conversion)]


def count_error(parts: Sequence[Part], supplied: int) -> Optional[str]:
    """bpftrace 0.26's message when a format gets the wrong number of arguments, else None."""
    expected = len(conversions(parts))
    if supplied == expected:
        return None
    which = "not enough" if supplied < expected else "too many"
    return f"{which} arguments for format string ({supplied} supplied, {expected} expected)"


def bind_types(parts: Sequence[Part], types: Sequence) -> list[Part]:
    """The parts with each conversion told its argument's type, in order (conversions past the
    last type stay unbound)."""
    it = iter(types)
    return [p.for_type(next(it, None)) if isinstance(p, Conversion) else p for p in parts]


def render_columns(parts: Sequence[Part], columns: Sequence[Sequence], count: int) -> list[str]:
    """``render`` of ``count`` events at once, their values given as columns (one sequence per
    conversion). A conversion renders its whole column, then one %-template joins each line."""
    if not columns:
        return ["".join(parts)] * count
    template, texts = [], []
    it = iter(columns)
    for part in parts:
        if part.__class__ is str:
            template.append(part.replace("%", "%%"))
        else:
            template.append("%s")
            texts.append(part.render_column(next(it)))
    return list(map("".join(template).__mod__, zip(*texts)))


def render(parts: Sequence[Part], values: Sequence) -> str:
    """One event's text: ``values`` are its arguments, one per conversion, in order."""
    out = []
    it = iter(values)
    for part in parts:
        out.append(part if part.__class__ is str else part.render(next(it)))
    return "".join(out)
