"""Output formats: one interface (``Output``), the formats behind it, and the choice between them."""

from __future__ import annotations

import importlib
from typing import Mapping

from .base import MapSnapshot, Output

# The formats -f accepts: (module, class), imported only when chosen (rich, behind the
# terminal's, alone costs tens of milliseconds at every start).
FORMATS = {"text": ("text", "TextOutput"), "json": ("jsonl", "JsonOutput")}
TERMINAL = ("terminal", "TerminalOutput")
LIVE = ("live", "LiveOutput")  # --live: the maps redrawn in place


def _format_class(where: tuple[str, str]):
    module, name = where
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __getattr__(name: str):
    """The output classes by name (``tracer.output.TextOutput``), imported on first use."""
    for where in (*FORMATS.values(), TERMINAL, LIVE):
        if where[1] == name:
            return _format_class(where)
    raise AttributeError(name)


def wants_colour(isatty: bool, environ: Mapping[str, str]) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set to anything but the empty
    string (https://no-color.org)."""
    return isatty and not environ.get("NO_COLOR")


def make_output(fmt: str, fd: int, *, isatty: bool, environ: Mapping[str, str],
                err_fd: int = 2, live: bool = False) -> Output:
    """The output for ``-f fmt`` writing to ``fd``. Text drawn for a person (colour, aligned
    bars) only when ``fd`` is a terminal; piped or redirected output is bpftrace's bytes.
    ``live``: the --live view (the caller has checked that ``fd`` is a terminal)."""
    if fmt not in FORMATS:
        raise ValueError(f'invalid output format "{fmt}"; valid formats: '
                         + ", ".join(f"'{name}'" for name in FORMATS))
    if live:
        colour = "auto" if wants_colour(isatty, environ) else None
        return _format_class(LIVE)(fd, err_fd, color_system=colour)
    if fmt == "text" and wants_colour(isatty, environ):
        return _format_class(TERMINAL)(fd, err_fd)
    return _format_class(FORMATS[fmt])(fd, err_fd)


__all__ = ["FORMATS", "JsonOutput", "MapSnapshot", "Output", "TerminalOutput", "TextOutput",
           "make_output", "wants_colour"]
