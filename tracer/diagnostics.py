"""Errors and warnings a person can act on.

Two kinds of failure reach the user:

* a ``CompileError`` carries one or more ``Diagnostic`` records, each tied to a ``Span`` of the
  program text; it is rendered as ``FILE:LINE:COL: error: message``, the source line, and a ``~``
  underline beneath the span, in the manner of bpftrace and rustc;
* a ``TracerError`` is a failure of the machine rather than of the program (not root, no kernel
  headers, a probe the kernel cannot attach): a message and, where one exists, what to do about it.

The CLI catches both and exits non-zero; nothing else should ever let a traceback reach the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class Span:
    """A region of the program text: 1-based lines and columns, ``end_col`` exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int

    def to(self, other: "Span") -> "Span":
        """The span from the start of this one to the end of ``other``."""
        return Span(self.line, self.col, other.end_line, other.end_col)


@dataclass(frozen=True)
class Source:
    """A program as the user gave it, with the name errors are reported under."""

    name: str
    text: str

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" or "warning"
    message: str
    span: Span | None = None
    hint: str | None = None

    def render(self, source: Source | None) -> str:
        return render_diagnostic(self, source)


def render_diagnostic(diag: Diagnostic, source: Source | None) -> str:
    name = source.name if source else "tracer"
    if diag.span is None or source is None:
        head = f"{name}: {diag.severity}: {diag.message}"
        return head + (f"\n  hint: {diag.hint}" if diag.hint else "")
    span = diag.span
    head = f"{name}:{span.line}:{span.col}: {diag.severity}: {diag.message}"
    text = source.line_text(span.line).expandtabs(1)
    # A span that runs past its first line is underlined to the end of that line.
    end = span.end_col if span.end_line == span.line else len(text) + 1
    width = max(1, end - span.col)
    underline = " " * (span.col - 1) + "~" * width
    out = [head, text, underline]
    if diag.hint:
        out.append(f"hint: {diag.hint}")
    return "\n".join(out)


class CompileError(Exception):
    """The program is wrong; each diagnostic points into its source."""

    def __init__(self, diagnostics: Iterable[Diagnostic], source: Source | None = None):
        self.diagnostics = list(diagnostics)
        self.source = source
        super().__init__("; ".join(d.message for d in self.diagnostics))

    @classmethod
    def at(cls, span: Span | None, message: str, hint: str | None = None) -> "CompileError":
        return cls([Diagnostic("error", message, span, hint)])

    def render(self) -> str:
        return "\n".join(d.render(self.source) for d in self.diagnostics)


@dataclass
class Reporter:
    """Collects diagnostics while a pass walks the program, so one run reports every error."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, span: Span | None, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic("error", message, span, hint))

    def warning(self, span: Span | None, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic("warning", message, span, hint))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise CompileError(self.errors)


class TracerError(Exception):
    """A failure outside the program text: the machine, the kernel, permissions."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message)

    def render(self) -> str:
        return f"tracer: error: {self.message}" + (f"\nhint: {self.hint}" if self.hint else "")
