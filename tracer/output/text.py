"""bpftrace's text format, byte for byte (see shared/output-formats.md)."""

from __future__ import annotations

from .base import MapSnapshot, Output, Value


def format_key(key: tuple[Value, ...]) -> str:
    return "[" + ", ".join(str(k) for k in key) + "]" if key else ""


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
        self.write("".join(f"{snapshot.name}{format_key(key)}: {value}\n"
                           for key, value in entries))
