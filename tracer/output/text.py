"""bpftrace's text format, byte for byte (bpftrace 0.26's ``src/output/text.cpp``).

The functions here turn one value into its text and are shared: the terminal format prints all
but maps through them, and printf's %s of a stack or buffer wants the same text.
"""

from __future__ import annotations

import functools
import struct
from typing import Any, Callable, Optional, Union

from ..diagnostics import Diagnostic, Source, Span, render_diagnostic
from ..layout import CArray, Record
from .base import MapSnapshot, Output
from .buckets import ShownHistogram, text_label
from .order import arrange, shown_value
from ..values import Buffer, Pointer, Stack

BAR_WIDTH = 52  # the @ bar of the largest bucket

# How each stack mode starts a frame line; bpftrace indents symbolized frames by 8 spaces (map
# keys included, since 0.26), starts perf frames with a tab and raw addresses at the margin.
_FRAME_PREFIX = {"bpftrace": " " * 8, "perf": "\t", "raw": ""}


def format_stack(stack: Stack) -> str:
    """A stack as bpftrace writes it: a newline, then one line per frame."""
    prefix = _FRAME_PREFIX.get(stack.mode, _FRAME_PREFIX["bpftrace"])
    return "\n" + "".join(f"{prefix}{frame}\n" for frame in stack.frames)


def format_buffer(buffer: Buffer) -> str:
    """buf(): printable ASCII as it is, every other byte as \\xNN."""
    return "".join(chr(b) if 32 <= b <= 126 else f"\\x{b:02x}" for b in buffer.data)


def _format_record(record: Record) -> str:
    if not record:
        return "{}"
    fields = ", ".join(f".{name} = {format_value(v)}" for name, v in zip(record.names, record))
    return "{ " + fields + " }"


def _format_tuple(values: tuple) -> str:
    return "(" + ", ".join(format_value(v) for v in values) + ")"


_FORMATS: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "true" if v else "false",
    int: str,
    Pointer: lambda v: "0x%x" % v,
    str: lambda v: v,
    type(None): lambda v: "null",
    Stack: format_stack,
    Buffer: format_buffer,
    Record: _format_record,
    CArray: lambda values: "[" + ",".join(format_value(v) for v in values) + "]",
    tuple: _format_tuple,
    ShownHistogram: lambda h: histogram_lines(h),
}


def format_value(value: Any) -> str:
    """A value as bpftrace's text shows it (a map's value, print()'s argument, a key's part)."""
    fmt = _FORMATS.get(type(value))
    if fmt is None:
        raise TypeError(f"the text format cannot show a {type(value).__name__}")
    return fmt(value)


def format_key(key: Optional[Any]) -> str:
    """A map key in brackets; none for a scalar map. bpftrace prints the key's text without its
    outer parentheses, so several keys read ``[1, a]``; it strips them from any key whose text
    starts with "(" and ends with ")", a string key included."""
    if key is None:
        return ""
    text = format_value(key)
    if len(text) >= 2 and text[0] == "(" and text[-1] == ")":
        text = text[1:-1]
    return f"[{text}]"


# ---- histograms -------------------------------------------------------------------------------


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


@functools.lru_cache(maxsize=4096)  # a map of many histograms draws the same bars again and again
def bar_length(count: int, largest: int) -> int:
    """The bar of a bucket: bpftrace computes count / largest * 52 in single-precision floats and
    truncates, so this does too (a bar can be one @ shorter than exact arithmetic gives)."""
    if largest <= 0:
        return 0
    return int(_f32(_f32(_f32(float(count)) / _f32(float(largest))) * BAR_WIDTH))


def histogram_lines(hist: ShownHistogram) -> str:
    """One line per shown bucket: the label in 16 columns, the count in 8, then the bar."""
    largest = hist.largest
    return "".join(f"{text_label(row):<16}{row.count:>8} |"
                   f"{'@' * bar_length(row.count, largest):<{BAR_WIDTH}}|\n"
                   for row in hist.rows)


def format_entry(head: str, value: Any) -> str:
    """One map entry: ``@name[key]: value``; a histogram goes on the lines below its heading
    and is followed by a blank line."""
    if isinstance(value, ShownHistogram):
        return f"{head}:\n{histogram_lines(value)}\n"
    return f"{head}: {format_value(value)}\n"


def map_text(name: str, entries: list) -> str:
    """The lines of a map's arranged entries (``order.arrange``). An integer key with an
    integer value, the most common entry and the one of maps with 100,000 keys, is written
    straight: its text is what ``format_key`` and ``format_entry`` would make of it."""
    return "".join([f"{name}[{key}]: {value}\n" if type(key) is int and type(value) is int
                    else format_entry(name + format_key(key), value) for key, value in entries])


# ---- diagnostics ------------------------------------------------------------------------------

_SEVERITY_WORDS = {"warning": "WARNING", "error": "ERROR"}


def format_diagnostic(severity: str, message: str, filename: Optional[str] = None,
                      line: Optional[int] = None, col: Optional[int] = None,
                      source: Union[Source, str, None] = None,
                      end_col: Optional[int] = None) -> str:
    """A runtime warning or error as bpftrace logs it on stderr: ``FILE:LINE:COL: WARNING: msg``,
    then the source line and a ~ underline when the program's text is at hand. Located
    diagnostics are laid out by the same function as compile errors."""
    word = _SEVERITY_WORDS.get(severity, severity.upper())
    message = message[:-1] if message.endswith("\n") else message  # as bpftrace's log drops it
    if line is None:
        return f"{word}: {message}"
    if isinstance(source, str):
        source = Source(filename or "stdin", source)
    if source is None:
        # bpftrace 0.26 names the columns a located message covers: FILE:LINE:COL-END.
        until = f"-{end_col}" if end_col and col and end_col > col else ""
        return f"{filename or 'stdin'}:{line}:{col or 1}{until}: {word}: {message}"
    col = col or 1
    span = Span(line, col, line, end_col if end_col and end_col > col else col + 1)
    return render_diagnostic(Diagnostic(word, message, span), source)


class TextOutput(Output):
    def attached(self, probes: int) -> None:
        self.write_err(f"Attached {probes} probe{'s' if probes != 1 else ''}\n")

    def printf(self, text: str) -> None:
        self.write(text)

    def printf_many(self, texts: list[str]) -> None:
        self.write("".join(texts))

    def time(self, text: str) -> None:
        self.write(text)

    def cat(self, text: str) -> None:
        self.write(text)

    def join(self, text: str) -> None:
        self.write(text + "\n")

    def system(self, text: str) -> None:
        self.write(text + "\n")

    def value(self, value: Any) -> None:
        self.write(format_value(shown_value(value)) + "\n")

    def map(self, snapshot: MapSnapshot, top: int = 0, div: int = 1) -> None:
        # An empty map prints nothing (bpftrace 0.26; 0.17 printed an empty line).
        self.write(map_text(snapshot.name, arrange(snapshot, top, div)))

    def lost_events(self, count: int) -> None:
        self.write_err(f"Lost {count} events\n")

    def end_of_trace(self) -> None:
        self.write("\n\n")

    def diagnostic(self, severity, message, filename=None, line=None, col=None, source=None, *,
                   end_col=None, kind=None, details=()) -> None:
        self.write_err(format_diagnostic(severity, message, filename, line, col, source,
                                         end_col) + "\n")


__all__ = ["TextOutput", "bar_length", "format_buffer", "format_diagnostic", "format_entry",
           "format_key", "format_stack", "format_value", "histogram_lines", "map_text"]
