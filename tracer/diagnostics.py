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
from typing import Callable, Iterable, Union

# A hint may be worked out only when its diagnostic is shown (a "did you mean" search over
# every tracepoint costs time that thousands of unshown errors should not spend).
Hint = Union[str, Callable[[], "str | None"], None]

MAX_SHOWN = 50  # diagnostics rendered; the rest are counted
LINE_WINDOW = 120  # columns of a long source line shown around the mistake


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
    hint: Hint = None

    @property
    def hint_text(self) -> str | None:
        return self.hint() if callable(self.hint) else self.hint

    def render(self, source: Source | None) -> str:
        return render_diagnostic(self, source)


def render_diagnostic(diag: Diagnostic, source: Source | None) -> str:
    name = source.name if source else "tracer"
    hint = diag.hint_text
    if diag.span is None or source is None:
        head = f"{name}: {diag.severity}: {diag.message}"
        return head + (f"\n  hint: {hint}" if hint else "")
    span = diag.span
    head = f"{name}:{span.line}:{span.col}: {diag.severity}: {diag.message}"
    text = source.line_text(span.line).expandtabs(1)
    # A span that runs past its first line is underlined to the end of that line.
    end = span.end_col if span.end_line == span.line else len(text) + 1
    start, end = span.col - 1, max(end - 1, span.col)
    text, start, end = _window(text, start, end)
    underline = " " * start + "~" * max(1, end - start)
    out = [head, text, underline]
    if hint:
        out.append(f"hint: {hint}")
    return "\n".join(out)


def _window(text: str, start: int, end: int) -> tuple[str, int, int]:
    """A long line cut to the part around columns start..end, marked with "..." where cut."""
    if len(text) <= LINE_WINDOW:
        return text, start, end
    end = min(end, start + LINE_WINDOW - 20)
    left = max(0, start - (LINE_WINDOW - (end - start)) // 2)
    right = min(len(text), left + LINE_WINDOW)
    left = max(0, right - LINE_WINDOW)
    prefix, suffix = ("..." if left else ""), ("..." if right < len(text) else "")
    return prefix + text[left:right] + suffix, start - left + len(prefix), end - left + len(prefix)


# tracer's exit statuses (the README's table and the man page's EXIT STATUS), so that a script
# or a CI job can tell apart what went wrong. bpftrace exits 1 for all of these.
EXIT_PROGRAM_ERROR = 1  # the program is wrong (or the machine lacks something tracer needs)
EXIT_USAGE = 2  # the command line is wrong
EXIT_KERNEL_REFUSED = 3  # a probe it cannot attach, a program it rejects, a map it will not make
EXIT_INTERNAL_ERROR = 70  # a bug in tracer (EX_SOFTWARE)
EXIT_COMMAND_NOT_RUN = 127  # the -c command cannot be run (as a shell says: not found)


class CompileError(Exception):
    """The program is wrong; each diagnostic points into its source."""

    exit_code = EXIT_PROGRAM_ERROR

    def __init__(self, diagnostics: Iterable[Diagnostic], source: Source | None = None):
        self.diagnostics = list(diagnostics)
        self.source = source
        super().__init__("; ".join(d.message for d in self.diagnostics))

    @classmethod
    def at(cls, span: Span | None, message: str, hint: str | None = None) -> "CompileError":
        return cls([Diagnostic("error", message, span, hint)])

    # The first error, for programs that catch it (the Python API): where, and what.
    @property
    def file(self) -> str | None:
        return self.source.name if self.source is not None else None

    @property
    def line(self) -> int | None:
        span = self.diagnostics[0].span if self.diagnostics else None
        return span.line if span is not None else None

    @property
    def column(self) -> int | None:
        span = self.diagnostics[0].span if self.diagnostics else None
        return span.col if span is not None else None

    @property
    def message(self) -> str:
        return self.diagnostics[0].message if self.diagnostics else ""

    def render(self) -> str:
        shown = [d.render(self.source) for d in self.diagnostics[:MAX_SHOWN]]
        hidden = len(self.diagnostics) - MAX_SHOWN
        if hidden > 0:
            shown.append(f"... and {hidden} more error{'s' if hidden != 1 else ''}")
        return "\n".join(shown)


@dataclass
class Reporter:
    """Collects diagnostics while a pass walks the program, so one run reports every error.
    The same message at the same place is kept once: a probe with several attach points is
    checked once for each, and its mistakes would otherwise repeat."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    _seen: set = field(default_factory=set, repr=False)

    def _add(self, diagnostic: Diagnostic) -> None:
        key = (diagnostic.severity, diagnostic.span, diagnostic.message)
        if key not in self._seen:
            self._seen.add(key)
            self.diagnostics.append(diagnostic)

    def error(self, span: Span | None, message: str, hint: Hint = None) -> None:
        self._add(Diagnostic("error", message, span, hint))

    def warning(self, span: Span | None, message: str, hint: Hint = None) -> None:
        self._add(Diagnostic("warning", message, span, hint))

    def extend(self, diagnostics) -> None:
        for diagnostic in diagnostics:
            self._add(diagnostic)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise CompileError(self.errors)


class UnattachableProbes(CompileError):
    """Probes this kernel cannot attach, each located in the program, found before anything
    is loaded."""

    exit_code = EXIT_KERNEL_REFUSED


class TracerError(Exception):
    """A failure outside the program text: the machine, the kernel, permissions."""

    exit_code = EXIT_PROGRAM_ERROR

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message)

    def render(self) -> str:
        return f"tracer: error: {self.message}" + (f"\nhint: {self.hint}" if self.hint else "")


class KernelRefusal(TracerError):
    """The kernel would not do what the program needs: load it (its verifier), create one of
    its maps, attach one of its probes."""

    exit_code = EXIT_KERNEL_REFUSED


class CommandNotRun(TracerError):
    """The command given with -c cannot be started."""

    exit_code = EXIT_COMMAND_NOT_RUN
