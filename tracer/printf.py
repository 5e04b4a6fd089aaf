"""printf format strings: parsed once at compile time, rendered in user space for each event.

The semantic pass uses ``parse_format`` to check argument counts and types; the output stage
uses ``render`` to format an event's values with C's semantics (64-bit integers, ``%u``/``%x``
of a negative value shows its two's complement, ``%c`` prints one byte). Strings are kept as
``str`` decoded with ``surrogateescape`` so that arbitrary bytes survive to stdout unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence, Union

# %[flags][width][.precision][length]conversion
SPEC_RE = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\d+)?(?:\.(?P<precision>\d+))?"
                     r"(?P<length>hh|h|ll|l|z|j|t)?(?P<conv>[diuxXocsp%])")
# C reads a vararg as wide as its length modifier says, whatever the value's own width; bpftrace
# passes 64-bit values to C's printf, so `%d` of 5000000000 prints its low 32 bits. So do we.
LENGTH_BITS = {None: 32, "hh": 8, "h": 16, "l": 64, "ll": 64, "z": 64, "j": 64, "t": 64}


class FormatError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset  # index into the format string


@dataclass(frozen=True)
class Conversion:
    text: str  # as written, e.g. "%-5lu"
    pyspec: str  # the same for Python's % operator, e.g. "%-5d"
    conv: str  # d i u x X o c s p
    bits: int  # how much of the value C would read

    @property
    def wants_string(self) -> bool:
        return self.conv == "s"

    def format(self, value: Union[int, str]) -> str:
        if self.conv == "s":
            return self.pyspec % value
        assert isinstance(value, int)
        if self.conv == "c":
            return self.pyspec % bytes([value & 0xFF]).decode("utf-8", "surrogateescape")
        bits = 64 if self.conv == "p" else self.bits
        value &= (1 << bits) - 1
        if self.conv in "di" and value >> (bits - 1):
            value -= 1 << bits
        if self.conv == "p":
            return self.pyspec % ("0x%x" % value if value else "(nil)")
        return self.pyspec % value


Part = Union[str, Conversion]


def parse_format(fmt: str) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    while True:
        start = fmt.find("%", pos)
        if start < 0:
            break
        if start > pos:
            parts.append(fmt[pos:start])
        m = SPEC_RE.match(fmt, start)
        if not m:
            bad = fmt[start:start + 2]
            raise FormatError(f"printf: unsupported format specifier '{bad}'", start)
        if m.group("conv") == "%":
            parts.append("%")
        else:
            conv = m.group("conv")
            py_conv = {"u": "d", "i": "d", "c": "s", "p": "s"}.get(conv, conv)
            pyspec = "%" + m.group("flags") + (m.group("width") or "")
            if m.group("precision") is not None:
                pyspec += "." + m.group("precision")
            bits = 8 if conv == "c" else LENGTH_BITS[m.group("length")]
            parts.append(Conversion(m.group(0), pyspec + py_conv, conv, bits))
        pos = m.end()
    if pos < len(fmt):
        parts.append(fmt[pos:])
    return parts


def conversions(parts: Sequence[Part]) -> list[Conversion]:
    return [p for p in parts if isinstance(p, Conversion)]


def render(parts: Sequence[Part], values: Sequence[Union[int, str]]) -> str:
    out = []
    it = iter(values)
    for part in parts:
        out.append(part if isinstance(part, str) else part.format(next(it)))
    return "".join(out)
