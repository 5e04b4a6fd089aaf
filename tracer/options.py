"""What the command line tells the compiler, beyond the program text."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable, Optional, Union


def _notice_to_stderr(message: str) -> None:
    print(f"tracer: {message}", file=sys.stderr)


@dataclass
class CompileOptions:
    params: list[str] = field(default_factory=list)  # positional parameters: $1 is params[0]
    # Named parameters (after `--` on the command line): --name=value is "value", a bare
    # --name is True. getopt() reads them.
    named: dict[str, Union[str, bool]] = field(default_factory=dict)
    has_child: bool = False  # -c was given, so cpid means something
    target_pid: Optional[int] = None  # -p
    verbose: bool = False
    unsafe: bool = False  # --unsafe: system() and signal() may run
    quiet: bool = False  # -q: no "Attached N probes"
    use_cache: bool = True  # --no-cache turns the compiled-program cache off
    attach_only: bool = False  # --dry-run: load and attach every probe, then stop at once
    metrics: Optional[str] = None  # --metrics [HOST:]PORT: serve the maps to Prometheus
    metrics_labels: Optional[str] = None  # --metrics-labels: the keys' label names
    live: Optional[float] = None  # --live: seconds between redraws of the live view
    notice: Callable[[str], None] = _notice_to_stderr

    def param_text(self, index: int) -> str:
        """$index as given, or "" where it was not given (as bpftrace does)."""
        return self.params[index - 1] if 0 < index <= len(self.params) else ""

    def param_bytes(self, index: int) -> bytes:
        return self.param_text(index).encode("utf-8", "surrogateescape")


def split_named(words: list[str]) -> tuple[list[str], dict[str, Union[str, bool]]]:
    """The words after `--` on the command line: (positional parameters, named parameters)."""
    positional, named = [], {}
    for word in words:
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            named[name] = value if eq else True
        else:
            positional.append(word)
    return positional, named
