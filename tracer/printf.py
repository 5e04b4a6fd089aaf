"""printf format strings: parsed once at compile time, rendered in user space for each event.

The semantic pass uses ``parse_format`` to check argument counts and types; the output stage
uses ``render`` to format an event's values. bpftrace hands each value to C's printf, so C's
rules are the specification (precision, ``#``, widths counted in bytes, ``%d`` of a 64-bit value
reading only its low 32 bits ...). Rather than imitate them, each conversion is formatted by the
C library's own ``snprintf``. Strings travel as ``str`` decoded with ``surrogateescape``, so any
byte a probe read reaches stdout unchanged.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from typing import Sequence, Union

# %[flags][width][.precision][length]conversion
SPEC_RE = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\d+)?(?:\.(?P<precision>\d+))?"
                     r"(?P<length>hh|h|ll|l|z|j|t)?(?P<conv>[diuxXocsp%])")
# C reads a vararg as wide as its length modifier says, whatever the value's own width; bpftrace
# passes 64-bit values to C's printf, so `%d` of 5000000000 prints its low 32 bits. Each value
# is passed to snprintf as the C type the conversion reads.
WIDE_LENGTHS = {"l", "ll", "z", "j", "t"}

_libc = ctypes.CDLL(None)
_snprintf = _libc.snprintf
_snprintf.restype = ctypes.c_int
# One buffer for every conversion: formatting runs once per event argument, a hot path, and
# output is single-threaded. Longer results get a buffer of their own.
_BUFFER = ctypes.create_string_buffer(256)


class FormatError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset  # index into the format string


@dataclass(frozen=True)
class Conversion:
    text: str  # as written, e.g. "%-5lu"
    conv: str  # d i u x X o c s p
    length: str  # "", "h", "l", ...

    @property
    def wants_string(self) -> bool:
        return self.conv == "s"

    @property
    def bits(self) -> int:
        """How many low bits of an integer value C reads for this conversion."""
        if self.conv == "c" or self.length == "hh":
            return 8
        if self.conv == "p" or self.length in WIDE_LENGTHS:
            return 64
        return 16 if self.length == "h" else 32

    def c_argument(self, value: Union[int, str]):
        if self.conv == "s":
            return ctypes.c_char_p(value.encode("utf-8", "surrogateescape"))
        if self.conv == "p":
            return ctypes.c_uint64(value & (2**64 - 1))
        if self.length in WIDE_LENGTHS:
            return ctypes.c_int64(_signed(value, 64))
        return ctypes.c_int32(_signed(value, 32))  # int, and what h, hh and %c promote to

    def format(self, value: Union[int, str]) -> str:
        spec = self.text.encode("ascii")
        arg = self.c_argument(value)
        buf = _BUFFER
        n = _snprintf(buf, len(buf), spec, arg)
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            n = _snprintf(buf, len(buf), spec, arg)
        return buf.raw[:max(n, 0)].decode("utf-8", "surrogateescape")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


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
            parts.append(Conversion(m.group(0), m.group("conv"), m.group("length") or ""))
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
