"""Load a compiled program, attach it, run the event loop, print what it saw.

The order of a run is bpftrace's: "Attaching N probes...", every probe attached, BEGIN run,
the -c command released; then events until exit(), Ctrl-C, SIGTERM, SIGHUP, or the end of the
traced command or process; then END, a blank pair of lines, and every map in name order.
A dry run (--dry-run) stops once every probe is attached: nothing runs and nothing is printed.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import struct
import threading
import time
from typing import Callable, Optional

from ..codegen import markers
from ..compiler import CompiledProgram
from ..diagnostics import TracerError, UnattachableProbes
from ..options import CompileOptions
from ..output import Output
from . import kernel, maps
from .build import program_image
from .child import Child
from .events import EventReader
from .mapstate import ProgramMaps
from .program import EVENTS_MAP, LoadedProgram
from .resolve import resolve
from .ringbuf import RingBuffer
from .testrun import run_once

POLL_SECONDS = 0.1  # how long one wait for events lasts; bounds how late a stop is noticed
# Events handled between two looks at the stop flags, the traced process and the output: small
# enough that Ctrl-C is seen within milliseconds under any flood, large enough to cost nothing.
BATCH = 4096
LOST_MAP = "tracer_lost"
_U64 = struct.Struct("<Q")  # the lost-events counter


class Session:
    def __init__(self, compiled: CompiledProgram, options: CompileOptions, output: Output,
                 child: Optional[Child] = None,
                 stop_when: Optional[Callable[[], bool]] = None):
        self.compiled = compiled
        # Asked between polls whether tracing should stop, as Ctrl-C stops it: stop_when (the
        # Python API's timeout and trace()'s end) and the live view's tick (which redraws, and
        # says whether q was pressed). Else only exit(), a signal, or the end of -c or -p.
        self._stop_checks: list[Callable[[], bool]] = [stop_when] if stop_when else []
        self._live = None  # the --live view's driver, while it is shown
        self.options = options
        self.output = output
        self.child = child
        self.program: Optional[LoadedProgram] = None
        self.ring: Optional[RingBuffer] = None
        self.stopping = False
        self._exit_requested = False
        # After exit(), events still in flight are dropped, as bpftrace drops them; END's own
        # output is wanted again.
        self.discarding = False
        self.exit_code = 0
        self._signals_received: list[str] = []  # self:signal probes' signals not yet run
        self._lost_reported = 0  # events lost so far that the output has been told of
        self.maps_full = 0  # map updates refused because the map was full (for --metrics)
        self._metrics = None  # the --metrics endpoint, while tracing
        self.config = compiled.config
        self._symbols = None
        if child is not None:
            # The command's user stacks and symbols are named after it ends: keep its map.
            child.on_exit = lambda pid: self.symbols.remember(pid)
        # What nsecs (CLOCK_MONOTONIC) must be added to for the time since the epoch.
        self.boot_offset_ns = time.time_ns() - time.monotonic_ns()

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> int:
        kernel.prepare(self.options.notice)
        self._refuse_unattachable()
        # self:signal probes' signals are caught from before BEGIN on: one sent as soon as
        # BEGIN has said it is ready must not end tracer. The loop runs their probes.
        for signum in self._self_signals:
            signal.signal(signum, self._note_signal)
        try:
            metrics = self._metrics_collector()
            self._load()
            self._serve_metrics(metrics)
            self._attach_all()
            if self.options.attach_only:
                # As bpftrace 0.26 stops its dry run: after attaching, before BEGIN's output,
                # the command (-c), END and the maps. BEGIN is not even run here, so that a
                # check of a script against a host has no effect beyond loading it.
                return 0
            self._run_trigger("begin")
            self.output.started()
            if not self._exit_requested:
                self._release_child()
                if self._waits_for_events():
                    self._open_live()
                    self._loop()
                    self._close_live()  # before END's output and the maps: they follow it
            # Tracing ends here, as in bpftrace: no probe fires after exit() or Ctrl-C, so the
            # maps END and the exit print are the ones the stop saw, and a flood cannot keep
            # the final drain going.
            self.program.stop()
            self._drain()
            self.discarding = False
            self._run_trigger("end")
            self._report_lost()
            self.output.end_of_trace()
            if self.compiled.config.print_maps_on_exit:
                self._print_maps()
            self.output.flush()
        finally:
            self.close()
        return self.exit_code

    @property
    def _self_signals(self) -> set[int]:
        return {getattr(signal, site.target.parts[0]) for site in self.compiled.sites
                if site.target.provider.trigger == "signal"}

    def _note_signal(self, signum, frame) -> None:
        self._signals_received.append(signal.Signals(signum).name)

    def _refuse_unattachable(self) -> None:
        """Before anything is compiled or attached: every probe the running kernel cannot
        attach, each located, with what to use instead."""
        problems = [p for p in (site.problem() for site in self.compiled.sites) if p]
        if problems:
            raise UnattachableProbes([d for p in problems for d in p.diagnostics],
                                     self.compiled.source)

    def _waits_for_events(self) -> bool:
        """A program of BEGIN and END probes only is done once BEGIN has run (bpftrace 0.24),
        unless there is a command (-c) or a process (-p) to wait for."""
        attached = any(site.target.provider.trigger in (None, "signal")
                       for site in self.compiled.sites)
        return attached or self.child is not None or self.options.target_pid is not None

    def close(self) -> None:
        self._close_live()
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self.child is not None:
            self.child.stop()
        if self.ring is not None:
            self.ring.close()
            self.ring = None
        if self.program is not None:
            self.program.close()
            self.program = None

    def _metrics_collector(self):
        """--metrics: where and what it will serve, checked before anything is loaded (the
        address, the label names, a metric name for every map): (host, port, collector), or
        None without --metrics."""
        if not self.options.metrics or self.options.attach_only:
            return None
        from .metrics import MapsCollector, check_names, parse_address, parse_labels
        host, port = parse_address(self.options.metrics)
        names, labels = sorted(self.compiled.resources.maps), \
            parse_labels(self.options.metrics_labels)
        check_names(names, labels)
        return host, port, MapsCollector(lambda name: self.maps.read(name), names, labels,
                                         lambda: {"lost": self._lost_reported,
                                                  "probes": len(self.compiled.sites),
                                                  "maps_full": self.maps_full})

    def _serve_metrics(self, planned) -> None:
        """The endpoint, up once the maps exist and before any probe is attached, so that an
        address it cannot bind is an error before tracing starts."""
        if planned is not None:
            from .metrics import MetricsServer
            self._metrics = MetricsServer(*planned)

    def _open_live(self) -> None:
        """--live: the view takes over the terminal once tracing has begun."""
        if self.options.live is None:
            return
        from ..output.live import LiveStatus
        from .live import LiveDriver
        names = sorted(self.compiled.resources.maps)
        self._live = LiveDriver(
            self.output, self.options.live, lambda: [self.maps.read(n) for n in names],
            lambda elapsed: LiveStatus(probes=len(self.compiled.sites), lost=self._lost_reported,
                                       elapsed=elapsed, maps_full=self.maps_full))
        self._live.open(self.ring.wake_on)
        self._stop_checks.append(self._live.tick)

    def _close_live(self) -> None:
        if self._live is not None:
            self._live.close(self.ring.forget)
            self._stop_checks.remove(self._live.tick)
            self._live = None

    # -- loading and attaching ---------------------------------------------------------------

    def _load(self) -> None:
        image = program_image(self.compiled.c_text, self.options)
        constants = {markers.CPID: self.child.pid if self.child is not None else 0,
                     markers.START_NS: time.monotonic_ns()}
        self.program = LoadedProgram(image, self.compiled, constants, self.options.verbose)
        self.maps = ProgramMaps(self.compiled.resources, self.program.map_fds,
                                lambda value: resolve(self, value))
        self.ring = RingBuffer(self.program.map_fds[EVENTS_MAP],
                               self.program.map_size(EVENTS_MAP))
        self.events = EventReader(self.ring, self, self.compiled.resources,
                                  self.compiled.generated.warnings)

    def _attach_all(self) -> None:
        traced = self.child.pid if self.child is not None else self.options.target_pid
        for site in self.compiled.sites:
            self.program.attach(site, traced)
            if self.options.verbose and not site.target.provider.trigger:
                self.options.notice(f"attached {site.target.name}")
        # Said once every probe is attached, as bpftrace 0.26 says it: whoever waits for it
        # (a script, a CI job) may start the workload then.
        if not (self.options.quiet or self.options.attach_only):
            self.output.attached(len(self.compiled.sites))
        self.output.flush()

    def _run_trigger(self, trigger: str, target: Optional[str] = None) -> None:
        """Run the probes user space fires itself: BEGIN, END, or the self:signal probes of
        one signal (``target``)."""
        for site in self.compiled.sites:
            if target is not None and site.target.name != target:
                continue
            if site.target.provider.trigger == trigger and not (
                    trigger == "begin" and self._exit_requested):
                run_once(self.program.functions[site.index], site.target.name)
                self._drain()

    def _release_child(self) -> None:
        if self.child is not None:
            self.output.flush()
            self.child.release()

    # -- the event loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        stop = lambda signum, frame: setattr(self, "stopping", True)  # noqa: E731
        target = ProcessWatch(self.options.target_pid) if self.options.target_pid else None
        # SIGHUP (the terminal or the ssh session went away, or a supervisor asks) ends tracing
        # as Ctrl-C does, maps printed; bpftrace 0.17 and 0.26 just die of it, printing nothing.
        stops = dict.fromkeys((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), stop)
        # self:signal probes: the handler only notes the signal; the loop runs the probes.
        own = dict.fromkeys(self._self_signals, self._note_signal)
        with SignalWakeup(self.ring, {**stops, **own,
                                      signal.SIGCHLD: lambda signum, frame: None}) as wakeup:
            if target is not None and target.fd is not None:
                self.ring.wake_on(target.fd)
            next_loss_check = 0.0
            try:
                while not (self.stopping or self._exit_requested):
                    while self._signals_received:
                        name = self._signals_received.pop(0)
                        self._run_trigger("signal", f"self:signal:{name}")
                    read = self.events.read(BATCH)
                    now = time.monotonic()
                    if now >= next_loss_check:  # a few syscalls: not after every batch
                        self._report_new_losses()
                        next_loss_check = now + POLL_SECONDS
                    self.output.flush()
                    if self.child is not None and self.child.exited():
                        break
                    if target is not None and target.exited():
                        break
                    if any(check() for check in self._stop_checks):
                        break
                    if read < BATCH and not (self.stopping or self._exit_requested):
                        self.ring.wait(POLL_SECONDS)
                        wakeup.clear()
            finally:
                if target is not None:
                    target.close()

    def _drain(self) -> None:
        """Read the events already sent (not those a flood keeps sending meanwhile, so that
        ending never waits on the traced system)."""
        self.events.read(refresh=False)
        self.output.flush()

    # -- what event handlers may do (functions.base.Event) -----------------------------------

    def exit(self, code: int = 0) -> None:
        self.exit_code = code & 0xFF
        self._exit_requested = self.discarding = True
        if self.program is not None:
            self.program.stop()  # at once: a probe firing meanwhile would change the maps

    @property
    def symbols(self):
        """Kernel and user symbols (a ``symbols.Symbolizer``), loaded when something is first
        printed that needs them; ELF reading is not even imported before."""
        if self._symbols is None:
            from ..symbols import Symbolizer
            self._symbols = Symbolizer()
        return self._symbols

    def stack_ips(self, stack_map: str, stack_id: int) -> list[int]:
        """The addresses of a stack the probe recorded (none if it could not: a negative id)."""
        if stack_id < 0:
            return []
        return self.program.stack_ips(stack_map, stack_id)

    def print_map(self, name: str, top: int = 0, div: int = 1) -> None:
        self.output.map(self.maps.read(name), top=top, div=div)

    def clear_map(self, name: str) -> None:
        self.maps.clear(name)

    def zero_map(self, name: str) -> None:
        self.maps.zero(name)

    def diagnose(self, severity: str, span, message: str, kind: Optional[str] = None,
                 details=(), quote: bool = True) -> None:
        """A warning or error located in the program (errorf, warnf, a failed helper); with
        ``quote``, the source line is shown under it."""
        source = self.compiled.source
        self.output.diagnostic(severity, message, source.name, span.line, span.col,
                               source if quote else None,
                               end_col=span.end_col if span.end_line == span.line else None,
                               kind=kind, details=details)

    def helper_failed(self, site, result: int) -> None:
        """A BPF helper failed in a probe: bpftrace 0.26's warning, its words chosen by the
        helper and the error (``HELPER_MESSAGES``), else the error's own."""
        span, helper = site
        if (helper, result) == MAP_FULL:
            self.maps_full += 1
        message = HELPER_MESSAGES.get((helper, result)) or os.strerror(-result)
        source = self.compiled.source
        self.output.helper_error(message, helper, result, source.name, span.line, span.col,
                                 source, end_col=span.end_col if span.end_line == span.line
                                 else None)

    # -- at the end --------------------------------------------------------------------------

    def _report_new_losses(self) -> None:
        """Events the kernel could not send since the last look, reported as they happen (as
        bpftrace 0.26 does, between two reads of the ring buffer)."""
        lost = sum(_U64.unpack(v)[0]
                   for _, values in maps.entries(self.program.map_fds[LOST_MAP], 4, 8, True)
                   for v in values)
        if lost > self._lost_reported:
            self.output.lost_events(lost - self._lost_reported)
            self._lost_reported = lost

    def _report_lost(self) -> None:
        """At the end, the total again, on stderr, where a flood of output cannot hide it."""
        self._report_new_losses()
        if self._lost_reported:
            self.output.diagnostic("warning",
                                   f"Total lost event count: {self._lost_reported}")

    def _print_maps(self) -> None:
        for name in sorted(self.compiled.resources.maps):  # bpftrace prints them in name order
            self.print_map(name)


def trace(compiled: CompiledProgram, options: CompileOptions, output: Output,
          command: Optional[str] = None,
          stop_when: Optional[Callable[[], bool]] = None) -> int:
    """Run a compiled program until it ends: the whole of a run, for the CLI and the API."""
    kernel.require_root()
    if options.target_pid is not None and not os.path.exists(f"/proc/{options.target_pid}"):
        raise TracerError(f"-p: there is no process {options.target_pid}")
    child = Child(command) if command is not None else None
    try:
        if child is not None:
            child.spawn()
        with StopSignals():
            return Session(compiled, options, output, child, stop_when).run()
    finally:
        if child is not None:
            child.stop()


class StopSignal(SystemExit):
    """SIGTERM or SIGHUP while nothing is being traced (loading, attaching, printing the
    maps): the run is abandoned as Ctrl-C abandons it then, every probe detached and the -c
    command ended on the way out, rather than the process dying with its work half done.
    A SystemExit, so that it passes every handler on its way out (click turns a
    KeyboardInterrupt into an Abort) and tracer exits with the shell's status for death by
    that signal, quietly."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)


class StopSignals:
    """While a run lasts, SIGTERM and SIGHUP raise StopSignal (the event loop catches them
    itself, and ends tracing cleanly instead). Python only lets the main thread set
    handlers; elsewhere (the API called from a thread) they are left as they are."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __enter__(self) -> "StopSignals":
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._raise) for s in self.SIGNALS}
        return self

    @staticmethod
    def _raise(signum, frame):
        raise StopSignal(signum)

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


# What bpftrace 0.26 says when a helper fails with a given error, where it says more than the
# error's name.
MAP_FULL = ("map_update_elem", -errno.E2BIG)
HELPER_MESSAGES = {
    MAP_FULL: "Map full; can't update element. Try increasing max_map_keys config or "
              "manually setting the max entries in a map declaration e.g. "
              "`let @a = hash(5000)`",
    ("map_delete_elem", -errno.ENOENT): "Can't delete map element because it does not exist.",
}


class SignalWakeup:
    """While the event loop waits, the signals it cares about end the wait at once: Ctrl-C is
    seen without delay, and the -c command's end (SIGCHLD) too, not at the next timeout. Python
    writes a byte to a pipe when a handled signal arrives; the ring buffer's wait watches it."""

    def __init__(self, ring: RingBuffer, handlers: dict):
        self.ring, self.handlers = ring, handlers

    def __enter__(self) -> "SignalWakeup":
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous = {s: signal.signal(s, h) for s, h in self.handlers.items()}
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self.ring.wake_on(self._read)
        return self

    def clear(self) -> None:
        try:
            while os.read(self._read, 512):
                pass
        except BlockingIOError:
            pass

    def __exit__(self, *exc) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self.ring.forget(self._read)
        os.close(self._read)
        os.close(self._write)


class ProcessWatch:
    """Tells when a process (-p) has exited. A pidfd turns readable when the process ends, even
    while it lingers as a zombie that its parent has not reaped, which kill(pid, 0) would still
    call alive."""

    def __init__(self, pid: int):
        self.pid = pid
        try:
            self.fd: Optional[int] = os.pidfd_open(pid)
        except ProcessLookupError:
            self.fd, self._gone = None, True
        else:
            self._gone = False
            self._poll = select.poll()
            self._poll.register(self.fd, select.POLLIN)

    def exited(self) -> bool:
        if not self._gone:
            self._gone = bool(self._poll.poll(0))
        return self._gone

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
