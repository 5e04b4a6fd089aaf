"""bpftrace's text format, byte for byte (see shared/output-formats.md)."""

from __future__ import annotations

from ..layout import Record
from .base import MapSnapshot, Output


def format_value(value) -> str:
    """A decoded value as bpftrace prints it in maps: bools as true/false, tuples in
    parentheses, strings bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Record):
        return "{ " + ", ".join(f".{n} = {format_value(v)}" for n, v in zip(value.names, value)) + " }"
    if isinstance(value, tuple):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    return str(value)


def format_key(key) -> str:
    """A map key: several keys (a tuple) are listed inside the brackets without parentheses."""
    if key is None:
        return ""
    if isinstance(key, tuple) and not isinstance(key, Record):
        return "[" + ", ".join(format_value(k) for k in key) + "]"
    return f"[{format_value(key)}]"


class TextOutput(Output):
    def attached(self, probes: int) -> None:
        self.write(f"Attaching {probes} probe{'s' if probes != 1 else ''}...\n")

    def printf(self, text: str) -> None:
        self.write(text)

    def lost_events(self, count: int) -> None:
        self.write(f"Lost {count} events\n")

    def end_of_trace(self) -> None:
        self.write("\n\n")

    def map(self, snapshot: MapSnapshot) -> None:
        entries = snapshot.sorted_entries()
        if not entries:
            self.write("\n")  # an empty map still takes its line, as in bpftrace
            return
        self.write("".join(f"{snapshot.name}{format_key(key)}: {format_value(value)}\n"
                           for key, value in entries))
