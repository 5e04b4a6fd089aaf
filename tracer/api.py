"""tracer as a Python library: compile a program, run it to the end, or trace in the background
while the caller's own code runs, and get what it saw as Python values.

    import tracer
    result = tracer.run('tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }',
                        command="./workload 250")
    assert result.maps["@"] == 250

    with tracer.trace('tracepoint:syscalls:sys_enter_getppid /pid == $1/ { @ = count(); }',
                      params=[os.getpid()]) as t:
        os.getppid()
    assert t.result.maps["@"] == 1

Nothing is printed: what the CLI would print (maps, printf, warnings, notices) is in the
``Result``. Running needs root, as the CLI does. ``trace()`` runs the session in a forked
process, because a session owns signal handlers (Ctrl-C, SIGTERM, SIGCHLD) that only a main
thread may install, and the caller's code must keep running meanwhile.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from typing import Any, Iterator, Mapping, Optional, Sequence

from .compiler import CompiledProgram, compile_program
from .config import ENV_PREFIX, from_environment
from .diagnostics import CompileError, TracerError
from .options import CompileOptions
from .output.collect import CollectingOutput, Event

# The events that are text the program printed, in the order printed.
_TEXT_KINDS = frozenset({"printf", "time", "cat", "join", "syscall"})
# How long trace() waits for its tracing process to attach every probe (BCC's compile
# included, on a slow machine).
ATTACH_TIMEOUT = 300.0
# How trace() tells its tracing process the block has ended: Ctrl-C's signal, which the
# session's event loop also takes as "stop, then run END and read the maps".
STOP_SIGNAL = signal.SIGINT


@dataclass
class Result:
    """What a run saw. ``maps``: each map's name ("@", "@x") -> its value for a scalar map, or a
    dict of key -> value (a key of several parts is a tuple); histograms are
    ``values.Histogram`` objects, stats ``values.Stats``. ``events``: everything printed while
    it ran, in order. ``exit_status``: what the CLI would exit with (``exit(code)``'s code)."""

    exit_status: int = 0
    maps: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    lost: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def printed(self) -> list[str]:
        """The texts of printf() (and time(), cat(), join(), system()), in order."""
        return [e.data for e in self.events if e.kind in _TEXT_KINDS]

    @property
    def output(self) -> str:
        return "".join(self.printed)


def compile(program: str, *, params: Sequence[Any] = (), named: Optional[Mapping] = None,
            config: Optional[Mapping[str, Any]] = None, name: str = "stdin",
            command: bool = False, pid: Optional[int] = None) -> CompiledProgram:
    """Parse, check and generate C: the compiled program (``sites``, ``resources.maps``,
    ``c_text``). Raises ``tracer.CompileError`` (``file``, ``line``, ``column``, ``message``).
    ``command``: the program will run with a command, so ``cpid`` means something."""
    options = _options(params, named, command, pid, notices=[])
    return compile_program(program, name, options, _environ(config))


def run(program: str, *, command: Optional[str] = None, pid: Optional[int] = None,
        params: Sequence[Any] = (), named: Optional[Mapping] = None,
        config: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = None,
        name: str = "stdin", unsafe: bool = False) -> Result:
    """Compile and run a program to its end: ``exit()``, the end of ``command`` (started and
    traced, as -c) or of process ``pid`` (-p), Ctrl-C, or ``timeout`` seconds after tracing
    began. Raises CompileError for a wrong program and TracerError when it cannot run."""
    notices: list[str] = []
    options = _options(params, named, command is not None, pid, notices, unsafe)
    compiled = compile_program(program, name, options, _environ(config))
    output = CollectingOutput()
    stop_when = None
    if timeout is not None:
        deadline = time.monotonic() + timeout
        stop_when = lambda: time.monotonic() >= deadline  # noqa: E731
    status = _trace(compiled, options, output, command, stop_when)
    return Result(status, output.maps, output.events, output.lost, notices + output.warnings)


class trace:
    """A context manager: the program traces from when the block starts (every probe attached)
    until it ends, then ``result`` holds what it saw. ``events()`` yields what the program
    prints as it prints it, while the block runs."""

    def __init__(self, program: str, *, pid: Optional[int] = None, params: Sequence[Any] = (),
                 named: Optional[Mapping] = None, config: Optional[Mapping[str, Any]] = None,
                 name: str = "stdin", unsafe: bool = False):
        self._notices: list[str] = []
        self._options = _options(params, named, False, pid, self._notices, unsafe)
        # Compiled here, so that a wrong program raises in the caller, located.
        self.compiled = compile_program(program, name, self._options, _environ(config))
        self.result: Optional[Result] = None
        self._process: Optional[int] = None
        self._connection: Optional[Connection] = None
        self._pending: list[Event] = []
        self._attached = False  # the tracing process has said tracing began

    def __enter__(self) -> "trace":
        reader, writer = Pipe(duplex=False)
        process = os.fork()
        if process == 0:  # the tracing process: it never returns
            reader.close()
            _traced(self.compiled, self._options, writer, self._notices)
        writer.close()
        self._process, self._connection = process, reader
        self._await("attached")
        return self

    def __exit__(self, *exc_info) -> None:
        if self.result is None and self._process is not None:
            try:
                os.kill(self._process, STOP_SIGNAL)  # as Ctrl-C: END runs, maps are read
            except ProcessLookupError:
                pass
            self._await("result")
        self._reap()

    def events(self) -> Iterator[Event]:
        """What the program prints, as it prints it, until tracing ends."""
        while True:
            while self._pending:
                yield self._pending.pop(0)
            if self.result is not None:
                return
            self._receive()

    # -- the conversation with the tracing process --------------------------------------------

    def _await(self, wanted: str) -> None:
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while not (wanted == "attached" and self._attached) and self.result is None:
            if not self._connection.poll(max(deadline - time.monotonic(), 0)):
                self._reap(signal.SIGKILL)
                raise TracerError(f"the tracing process did not get {wanted} in time")
            self._receive()

    def _receive(self) -> None:
        try:
            kind, payload = self._connection.recv()
        except EOFError:
            self._reap()
            raise TracerError("the tracing process ended without a result") from None
        if kind == "attached":
            self._attached = True
        elif kind == "event":
            self._pending.append(payload)
        elif kind == "result":
            self.result = payload
        else:  # "error": why the tracing process could not trace, as the CLI would say it
            self._reap()
            message, status = payload
            error = TracerError(message)
            error.exit_code = status
            raise error

    def _reap(self, signum: Optional[int] = None) -> None:
        if self._process is None:
            return
        if signum is not None:
            try:
                os.kill(self._process, signum)
            except ProcessLookupError:
                pass
        os.waitpid(self._process, 0)
        self._process = None
        if self._connection is not None:
            self._connection.close()


def _traced(compiled, options, writer: Connection, notices: list[str]) -> None:
    """The tracing process of ``trace()``: runs the session, sends what it sees, exits."""
    status = 0
    # The caller's stop may come before the session's event loop takes over its signals
    # (while BEGIN runs): noted here, and asked for by the loop.
    stop = []
    signal.signal(STOP_SIGNAL, lambda signum, frame: stop.append(signum))
    try:
        output = _StreamingOutput(writer)
        code = _trace(compiled, options, output, None, lambda: bool(stop))
        writer.send(("result", Result(code, output.maps, output.events, output.lost,
                                      notices + output.warnings)))
    except BaseException as err:  # everything goes to the caller's process, as text
        status = 1
        render = getattr(err, "render", None)
        try:
            writer.send(("error", (render() if render else str(err) or type(err).__name__,
                                   getattr(err, "exit_code", 1))))
        except OSError:
            pass
    finally:
        writer.close()
        os._exit(status)  # never the caller's atexit handlers or its buffered files


class _StreamingOutput(CollectingOutput):
    """Collects, and sends each event and the moment every probe is attached to the caller."""

    def __init__(self, writer: Connection):
        super().__init__(on_event=lambda event: writer.send(("event", event)))
        self._writer = writer

    def started(self) -> None:
        self._writer.send(("attached", self.attached_probes))


def _trace(compiled, options, output, command, stop_when) -> int:
    from .runtime import kernel
    from .runtime.session import trace as run_session

    kernel.tracefs_path(options.notice)
    return run_session(compiled, options, output, command, stop_when)


def _options(params, named, command: bool, pid, notices: list[str],
             unsafe: bool = False) -> CompileOptions:
    # quiet=False: the session says when every probe is attached, which trace() waits for; the
    # collecting output prints nothing either way.
    return CompileOptions(params=[str(p) for p in params], named=dict(named or {}),
                          has_child=command, target_pid=pid, unsafe=unsafe,
                          notice=notices.append)


def _environ(config: Optional[Mapping[str, Any]]) -> Mapping[str, str]:
    """The settings of ``config = {...}`` given as a dict ({"max_strlen": 64}), as the
    environment variables that set them, over those of the real environment."""
    environ = dict(from_environment())
    for key, value in (config or {}).items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        environ[ENV_PREFIX + key.upper().removeprefix(ENV_PREFIX)] = text
    return environ


__all__ = ["CompileError", "Event", "Result", "TracerError", "compile", "run", "trace"]
