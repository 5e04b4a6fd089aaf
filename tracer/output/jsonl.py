"""bpftrace's JSON format (``-f json``): one object per line, everything on stdout.

The bytes follow bpftrace 0.26's ``src/output/json.cpp``, written by hand rather than by Python's
json module because bpftrace's spacing is its own: objects separate with ", " and ": ", arrays
with a bare ",". Its quirks are kept, since scripts parse them:

* an integer that a double cannot hold exactly (past 2^53) is written as a string;
* a map key is the key's text, outer parentheses and every space removed ("1,a", not "1, a");
* string bytes of 0x80 and up are escaped as bpftrace's signed ``char`` makes them, "\\uffffffXX";
* a bucket's "max" is inclusive: one less than the bucket's upper bound.
"""

from __future__ import annotations

import os

from typing import Any, Callable, Optional

from ..layout import CArray, Record
from .base import MapSnapshot, Output
from .buckets import Label, ShownHistogram
from .order import arrange, shown_value
from .text import format_diagnostic, format_value
from ..values import Buffer, Pointer, Stack

_U64 = 1 << 64
_S64 = 1 << 63


def _escape_table() -> list[str]:
    table = [chr(b) for b in range(256)]
    for b in range(0x20):
        table[b] = f"\\u{b:04x}"
    for b in range(0x80, 0x100):
        # bpftrace prints (int)c of a signed char in hex: 0xc3 becomes ffffffc3.
        table[b] = f"\\u{(b - 256) % (1 << 32):x}"
    for char, escaped in {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.items():
        table[ord(char)] = escaped
    return table


_ESCAPES = _escape_table()


# The same escapes for ASCII text, as a str.translate table: most strings are ASCII, and
# translating them whole is much faster than escaping byte by byte.
_ASCII_ESCAPES = {b: escaped for b, escaped in enumerate(_ESCAPES[:0x80]) if escaped != chr(b)}

# Integers of this size or less are held exactly by a double.
_EXACT_IN_DOUBLE = 1 << 53


def json_string(text: str) -> str:
    if text.isascii():
        return '"' + text.translate(_ASCII_ESCAPES) + '"'
    data = text.encode("utf-8", "surrogateescape")
    return '"' + "".join([_ESCAPES[b] for b in data]) + '"'


def json_int(value: int) -> str:
    """bpftrace writes an integer as a string when a double would not hold it exactly."""
    text = str(value)
    if -_EXACT_IN_DOUBLE <= value <= _EXACT_IN_DOUBLE:
        return text
    return text if int(float(value)) == value else f'"{text}"'


def _json_record(record: Record) -> str:
    fields = ", ".join(f"{json_string(name)}: {json_value(v)}"
                       for name, v in zip(record.names, record))
    return "{" + fields + "}"


def _json_array(values) -> str:
    return "[" + ",".join(json_value(v) for v in values) + "]"


def _label_number(label: Label) -> int:
    # A suffixed bound is a symbol in bpftrace, whose number is unsigned.
    return label.number if label.plain else label.number % _U64


def _one_less(label: Label) -> int:
    if label.plain:
        return label.number - 1
    number = label.number % _U64
    if number == 0:
        return -1
    number -= 1
    return number - _U64 if number >= _S64 else number


def _json_row(row) -> str:
    parts = []
    if row.lower is not None:
        parts.append(f'"min": {json_int(_label_number(row.lower))}')
    if row.upper is not None:
        parts.append(f'"max": {json_int(_one_less(row.upper))}')
    parts.append(f'"count": {row.count}')
    return "{" + ", ".join(parts) + "}"


def json_histogram(hist: ShownHistogram) -> str:
    return "[" + ",".join(_json_row(row) for row in hist.rows) + "]"


_JSON: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "true" if v else "false",
    int: json_int,
    Pointer: json_int,
    str: json_string,
    type(None): lambda v: "null",
    Stack: lambda v: json_string(format_value(v)),
    # bpftrace writes each byte as a signed char's number.
    Buffer: lambda v: "[" + ",".join(str(b - 256 if b >= 128 else b) for b in v.data) + "]",
    Record: _json_record,
    CArray: _json_array,
    tuple: _json_array,
    ShownHistogram: json_histogram,
}


def json_value(value: Any) -> str:
    encode = _JSON.get(type(value))
    if encode is None:
        raise TypeError(f"the JSON format cannot show a {type(value).__name__}")
    return encode(value)


def json_key(key: Any) -> str:
    text = format_value(key)
    if len(text) >= 2 and text[0] == "(" and text[-1] == ")":
        text = text[1:-1]
    return json_string(text.replace(" ", ""))


def _json_entry(key: Any, value: Any) -> str:
    """``"key": value`` of a map's entry; an integer key's text is its digits, as ``json_key``
    makes it."""
    text = f'"{key}"' if type(key) is int else json_key(key)
    return f"{text}: {json_int(value) if type(value) is int else json_value(value)}"


# The message type of a map: bpftrace calls avg and stats maps "stats", maps of histograms "hist".
_STATS_AGGREGATIONS = frozenset({"avg", "stats"})


def _map_type(snapshot: MapSnapshot, entries: list) -> str:
    if snapshot.aggregation in _STATS_AGGREGATIONS:
        return "stats"
    if entries and isinstance(entries[0][1], ShownHistogram):
        return "hist"
    return "map"


class JsonOutput(Output):
    def _emit(self, kind: str, data: str) -> None:
        self.write(f'{{"type": "{kind}", "data": {data}}}\n')

    def attached(self, probes: int) -> None:
        self.write(f'{{"type": "attached_probes", "count": {probes}, '
                   f'"data": {{"probes": {probes}}}}}\n')

    def printf(self, text: str) -> None:
        self._emit("printf", json_string(text))

    def time(self, text: str) -> None:
        self._emit("time", json_string(text))

    def cat(self, text: str) -> None:
        self._emit("cat", json_string(text))

    def join(self, text: str) -> None:
        self._emit("join", json_string(text))

    def system(self, text: str) -> None:
        self._emit("syscall", json_string(text))

    def value(self, value: Any) -> None:
        self._emit("value", json_value(shown_value(value)))

    def map(self, snapshot: MapSnapshot, top: int = 0, div: int = 1) -> None:
        entries = arrange(snapshot, top, div)
        kind = _map_type(snapshot, entries)
        # An empty map is not printed, except an avg or stats map, which bpftrace prints as {}.
        if not entries and kind != "stats":
            return
        if snapshot.keyed or not entries:
            body = "{" + ", ".join([_json_entry(k, v) for k, v in entries]) + "}"
        else:
            body = json_value(entries[0][1])
        self._emit(kind, f"{{{json_string(snapshot.name)}: {body}}}")

    def lost_events(self, count: int) -> None:
        self.write(f'{{"type": "lost_events", "count": {count}, '
                   f'"data": {{"events": {count}}}}}\n')

    def end_of_trace(self) -> None:
        pass  # bpftrace 0.26 prints nothing here in JSON (0.17 printed two empty lines)

    def diagnostic(self, severity, message, filename=None, line=None, col=None, source=None, *,
                   end_col=None, kind=None, details=()) -> None:
        if line is None:
            # Not tied to the program: bpftrace logs these on stderr as text, whatever the format.
            self.write_err(format_diagnostic(severity, message) + "\n")
            return
        kind = kind or _DIAGNOSTIC_TYPES.get(severity, severity)
        fields = [f'"type": {json_string(kind)}', f'"msg": {json_string(message)}']
        fields += [f"{json_string(name)}: {json_value(value)}" for name, value in details]
        fields += [f'"filename": {json_string(filename or _source_name(source))}',
                   f'"line": {json_int(line)}', f'"col": {json_int(col or 1)}']
        self.write("{" + ", ".join(fields) + "}\n")


    def helper_error(self, message, helper, retcode, filename, line, col, source=None, *,
                     end_col=None) -> None:
        # bpftrace 0.26's JSON names the error itself, not the text's advice.
        self.diagnostic("warning", os.strerror(-retcode), filename, line, col,
                        kind="helper_error", details=(("helper", helper), ("retcode", retcode)))


_DIAGNOSTIC_TYPES = {"warning": "warnf", "error": "errorf"}


def _source_name(source: Optional[Any]) -> str:
    return getattr(source, "name", None) or "stdin"


__all__ = ["JsonOutput", "json_histogram", "json_int", "json_key", "json_string", "json_value"]
