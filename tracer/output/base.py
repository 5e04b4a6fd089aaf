"""What the runtime hands to an output format, and the interface every format implements.

The runtime decodes what the kernel kept and calls one method per kind of thing bpftrace prints;
the values it passes are those of ``values.py`` (plain ``int``/``bool``/``str``/``tuple``,
``layout.Record``, ``Histogram``, ``Stats``, ``Stack``, ``Buffer``). Each format decides how, and
on which stream, to print them.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
import select
from typing import Any, Optional, Sequence, Union

from ..diagnostics import Source, TracerError

Value = Union[int, bool, str, tuple]

# Pending pieces (one per printf and the like) that are written out without waiting for the flush.
FLUSH_AFTER_PIECES = 256

# How a failed write names where it went; other descriptors are named by their file.
_STREAM_NAMES = {1: "standard output", 2: "standard error"}


@dataclass
class MapSnapshot:
    """A map's contents as read at one moment, decoded and summed across CPUs.

    ``entries`` are (key, value) pairs in any order (ordering is the format's business, by
    bpftrace's rules: see ``order.py``); the key is None for a scalar map (``@x``) and a tuple for
    a map of several keys (``@x[a, b]``). ``aggregation`` names the function that filled the
    map ("count", "sum", "avg", "min", "max", "stats", "hist", "lhist"), or is empty for plain
    assignments; avg, min and max values arrive as plain integers, and bpftrace tells them apart
    (avg maps are "stats" in JSON; min and max sort as unsigned).
    """

    name: str  # "@", "@x"
    keyed: bool
    entries: list[tuple[Optional[Any], Any]]
    aggregation: str = ""

    def __post_init__(self):
        # An old-style call (name, value_type, key_type, entries) would otherwise pass unnoticed.
        if not isinstance(self.keyed, bool) or not isinstance(self.aggregation, str):
            raise TypeError("MapSnapshot(name, keyed: bool, entries, aggregation: str = '')")


class Output:
    """One output format. Text goes out as bytes so that any byte a probe read survives.

    Output is gathered here and written with os.write at each flush. Python's buffered files
    are not used on purpose: on a seekable file they keep their own idea of the position and
    seek before writing, which overwrites what a -c command wrote to the same file meanwhile.

    ``err_fd`` takes what bpftrace writes on stderr (in text: the attached probes, lost events,
    runtime warnings). It is written at once, after whatever stdout output is pending, so that a
    terminal showing both streams shows them in the order they happened.
    """

    def __init__(self, fd: int, err_fd: int = 2):
        self.fd = fd
        self.err_fd = err_fd
        self._pending: list[bytes] = []

    def write(self, text: str) -> None:
        self._pending.append(text.encode("utf-8", "surrogateescape"))
        # The runtime flushes between polls, but a flood of events can keep one poll going for
        # as long as it lasts: written now and then, the output still flows and a reader that
        # went away (| head) is noticed.
        if len(self._pending) >= FLUSH_AFTER_PIECES:
            self.flush()

    def flush(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        _write_all(self.fd, data)

    def write_err(self, text: str) -> None:
        self.flush()
        _write_all(self.err_fd, text.encode("utf-8", "surrogateescape"))

    # ---- what bpftrace prints ----------------------------------------------------------------

    def attached(self, probes: int) -> None:
        """All probes are attached (not called with -q)."""
        raise NotImplementedError

    def started(self) -> None:
        """Every probe is attached and BEGIN has run: tracing has begun. (bpftrace prints
        nothing then; the Python API's trace() waits for it.)"""

    def printf(self, text: str) -> None:
        raise NotImplementedError

    def printf_many(self, texts: list[str]) -> None:
        """Many printf texts in a row (a flood read at once)."""
        for text in texts:
            self.printf(text)

    def time(self, text: str) -> None:
        """time(): the formatted time."""
        raise NotImplementedError

    def cat(self, text: str) -> None:
        """cat(): the file's contents."""
        raise NotImplementedError

    def join(self, text: str) -> None:
        """join(): the joined arguments, without a newline."""
        raise NotImplementedError

    def system(self, text: str) -> None:
        """system(): what the command wrote."""
        raise NotImplementedError

    def value(self, value: Any) -> None:
        """print() of a value that is not a map."""
        raise NotImplementedError

    def map(self, snapshot: MapSnapshot, top: int = 0, div: int = 1) -> None:
        """A map, at exit or by print(@m[, top[, div]])."""
        raise NotImplementedError

    def lost_events(self, count: int) -> None:
        raise NotImplementedError

    def end_of_trace(self) -> None:
        """Tracing has stopped; the maps come next."""
        raise NotImplementedError

    def diagnostic(self, severity: str, message: str, filename: Optional[str] = None,
                   line: Optional[int] = None, col: Optional[int] = None,
                   source: Union[Source, str, None] = None, *, end_col: Optional[int] = None,
                   kind: Optional[str] = None,
                   details: Sequence[tuple[str, Any]] = ()) -> None:
        """A runtime warning or error ("warning" or "error"), at a place in the program if
        ``line`` is given. ``source`` (the program, to quote the line) is a ``Source`` or its
        text. ``kind`` is the JSON message type bpftrace uses ("warnf", "errorf",
        "runtime_error", "helper_error"; by default warnf or errorf after the severity) and
        ``details`` the extra JSON fields that type carries (a helper error's "helper" and
        "retcode")."""
        raise NotImplementedError


    def helper_error(self, message: str, helper: str, retcode: int, filename: str, line: int,
                     col: int, source: Union[Source, str, None] = None, *,
                     end_col: Optional[int] = None) -> None:
        """A BPF helper failed in a probe (bpftrace 0.26's warning: ``message``, then which
        helper and what it returned)."""
        self.diagnostic("warning", f"{message}\nAdditional Info - helper: {helper}, retcode: "
                        f"{retcode}", filename, line, col, source, end_col=end_col)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``. A reader that went away (EPIPE) stays a BrokenPipeError, for the
    caller to end quietly; any other failure (a full disk, /dev/full) is a TracerError that
    names the destination, since nothing of the trace can be shown any more."""
    view = memoryview(data)
    try:
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:  # a descriptor someone else made non-blocking
                select.select([], [fd], [])
                continue
            view = view[written:]
    except BrokenPipeError:
        raise
    except OSError as err:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = f"file descriptor {fd}"
        where = f"{_STREAM_NAMES[fd]} ({target})" if fd in _STREAM_NAMES else target
        raise TracerError(f"cannot write to {where}: {err.strerror}") from None


__all__ = ["MapSnapshot", "Output", "Value"]
