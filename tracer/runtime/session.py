"""Load a compiled program through BCC, attach it, run the event loop, print what it saw.

The order of a run is bpftrace's: "Attaching N probes...", every probe attached, BEGIN run,
the -c command released; then events until exit(), Ctrl-C, SIGTERM, or the end of the traced
command or process; then END, a blank pair of lines, and every map in name order.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import time
from typing import Optional

from ..codegen import markers
from ..compiler import CompiledProgram
from ..diagnostics import TracerError
from ..options import CompileOptions
from ..output import Output
from ..passes.attach import ProbeSite
from ..passes.resources import WARNING_EVENT_ID, WARNING_LAYOUT
from . import kernel
from .child import Child
from .loader import LoadError, ProgramImage, explain, load
from .mapstate import ProgramMaps
from .resolve import has_symbolic, resolve
from ..symbols import Symbolizer
from .testrun import run_once

POLL_MS = 100  # how long one wait for events lasts; bounds how late a stop is noticed


def import_bcc():
    try:
        import bcc
    except ImportError:
        raise TracerError("BCC's Python module (bcc) cannot be imported by this Python",
                          hint="run scripts/setup, which installs python3-bpfcc and makes it "
                               "visible to tracer's virtual environment") from None
    return bcc


class Session:
    def __init__(self, compiled: CompiledProgram, options: CompileOptions, output: Output,
                 child: Optional[Child] = None):
        self.compiled = compiled
        self.options = options
        self.output = output
        self.child = child
        self.bpf = None
        self.stopping = False
        self._exit_requested = False
        # After exit(), events still in flight are dropped, as bpftrace drops them; END's own
        # output is wanted again.
        self._discarding = False
        self._polling = False  # in the event loop, where a stop ends a poll at once
        self.exit_code = 0
        self._callback_error: Optional[BaseException] = None
        self.config = compiled.config
        self._symbols: Optional[Symbolizer] = None
        if child is not None:
            # The command's user stacks and symbols are named after it ends: keep its map.
            child.on_exit = lambda pid: self.symbols.remember(pid)
        # What nsecs (CLOCK_MONOTONIC) must be added to for the time since the epoch.
        self.boot_offset_ns = time.time_ns() - time.monotonic_ns()
        self._symbolic_events = {i for i, e in compiled.resources.events.items()
                                 if has_symbolic(e.layout.types)}

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> int:
        kernel.prepare(self.options.notice, self.options.verbose)
        bcc = import_bcc()
        try:
            self._load(bcc)
            self._attach_all()
            self._run_trigger("begin")
            if not self._exit_requested:
                self._release_child()
                if self._waits_for_events():
                    self._loop()
            self._drain()
            self._discarding = False
            self._run_trigger("end")
            self._report_lost()
            self.output.end_of_trace()
            if self.compiled.config.print_maps_on_exit:
                self._print_maps()
            self.output.flush()
        finally:
            self.close()
        return self.exit_code

    def _waits_for_events(self) -> bool:
        """A program of BEGIN and END probes only is done once BEGIN has run (bpftrace 0.24),
        unless there is a command (-c) or a process (-p) to wait for."""
        attached = any(not site.target.provider.trigger for site in self.compiled.sites)
        return attached or self.child is not None or self.options.target_pid is not None

    def close(self) -> None:
        if self.child is not None:
            self.child.stop()
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None

    # -- loading and attaching ---------------------------------------------------------------

    def _load(self, bcc) -> None:
        BPF = bcc.BPF
        try:
            # -w: clang's warnings are about C that tracer wrote, not about the user's program.
            self.bpf = BPF(text=self.compiled.c_text, debug=0, cflags=["-w"])
        except Exception as err:  # BCC raises a bare Exception and prints clang's messages
            raise TracerError(f"BCC could not compile the generated program: {err}",
                              hint="this is a tracer bug: run with -d to see the C and report "
                                   "it") from None
        self.functions = {}
        constants = {markers.CPID: self.child.pid if self.child is not None else 0,
                     markers.START_NS: time.monotonic_ns()}
        self.map_fds = {m.c_name: bcc.lib.bpf_table_fd(self.bpf.module, m.c_name.encode())
                        for m in self.compiled.resources.maps.values()}
        self.maps = ProgramMaps(self.compiled.resources, self.map_fds,
                                lambda value: resolve(self, value))
        maps = {m.index: self.map_fds[m.c_name] for m in self.compiled.resources.maps.values()}
        for built in self.compiled.generated.sites:
            site = built.site
            prog_type = getattr(BPF, site.target.provider.prog_type)
            image = ProgramImage(site.function_name, prog_type, callbacks=built.callbacks,
                                 constants=constants, maps=maps)
            try:
                fd = load(self.bpf, bcc.lib, image)
            except LoadError as err:
                last, hint = explain(err)
                whole = f"\n{err.log.rstrip()}" if self.options.verbose else ""
                raise TracerError(f"the kernel refused the program for {site.target.name}: "
                                  f"{err}\n{last}{whole}", hint=hint) from None
            # Handed to BCC so that its attach functions and cleanup know the program.
            fn = BPF.Function(self.bpf, site.function_name.encode(), fd)
            self.bpf.funcs[fn.name] = fn
            self.functions[site.index] = fn
        self.bpf["tracer_events"].open_ring_buffer(self._on_event)

    def _attach_all(self) -> None:
        if not self.options.quiet:
            self.output.attached(len(self.compiled.sites))
        self.output.flush()
        for site in self.compiled.sites:
            provider = site.target.provider
            if provider.trigger:
                continue
            try:
                provider.attach(self.bpf, site.target, site.function_name.encode())
            except Exception as err:
                raise TracerError(f"cannot attach {site.target.name}: {err}",
                                  hint=attach_hint(site)) from None
            if self.options.verbose:
                self.options.notice(f"attached {site.target.name}")

    def _run_trigger(self, trigger: str) -> None:
        for site in self.compiled.sites:
            if site.target.provider.trigger == trigger and not (
                    trigger == "begin" and self._exit_requested):
                run_once(self.functions[site.index].fd, site.target.name)
                self._drain()

    def _release_child(self) -> None:
        if self.child is not None:
            self.output.flush()
            self.child.release()

    # -- the event loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        stop = lambda signum, frame: setattr(self, "stopping", True)  # noqa: E731
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        target = ProcessWatch(self.options.target_pid) if self.options.target_pid else None
        try:
            self._polling = True
            while not (self.stopping or self._exit_requested):
                self.bpf.ring_buffer_poll(POLL_MS)
                self._check_callback()
                self.output.flush()
                if self.child is not None and self.child.exited():
                    break
                if target is not None and target.exited():
                    break
        finally:
            self._polling = False
            for s, handler in previous.items():
                signal.signal(s, handler)
            if target is not None:
                target.close()

    def _drain(self) -> None:
        self.bpf.ring_buffer_consume()
        self._check_callback()
        self.output.flush()

    def _on_event(self, ctx, data, size) -> None:
        # BCC calls this from C and would only print an exception raised here; it is kept and
        # raised again once the poll returns (``_check_callback``).
        try:
            self._handle_event(data, size)
        except BaseException as err:  # noqa: B902 (even KeyboardInterrupt must not be lost)
            if self._callback_error is None:
                self._callback_error = err
            self._exit_requested = self._discarding = True
        # A negative result ends libbpf's loop at once; it would otherwise go on as long as
        # events keep coming, and a flood would keep an error, exit() or Ctrl-C from being seen.
        # (Only while polling: END's events and the final drain must all be read.)
        ending = self._polling and (self.stopping or self._exit_requested)
        return -1 if self._callback_error is not None or ending else 0

    def _check_callback(self) -> None:
        err, self._callback_error = self._callback_error, None
        if err is not None:
            raise err

    def _handle_event(self, data, size) -> None:
        if self._discarding:
            return
        raw = ctypes.string_at(data, size)
        (event_id,) = struct.unpack_from("<Q", raw)
        if event_id == WARNING_EVENT_ID:
            _, index, result = WARNING_LAYOUT.decode(raw)
            self.helper_failed(self.compiled.generated.warnings[index], result)
            return
        event = self.compiled.resources.events[event_id]
        values = event.layout.decode(raw)[1:]
        if event_id in self._symbolic_events:
            values = [resolve(self, v) for v in values]
        event.event.handle(self, event.facts, values)

    # -- what event handlers may do (functions.base.Event) -----------------------------------

    def exit(self, code: int = 0) -> None:
        self.exit_code = code & 0xFF
        self._exit_requested = self._discarding = True

    @property
    def symbols(self) -> Symbolizer:
        """Kernel and user symbols, loaded when something is first printed that needs them."""
        if self._symbols is None:
            self._symbols = Symbolizer()
        return self._symbols

    def stack_ips(self, stack_map: str, stack_id: int) -> list[int]:
        """The addresses of a stack the probe recorded (none if it could not: a negative id)."""
        if stack_id < 0:
            return []
        table = self.bpf.get_table(stack_map)
        try:
            return list(table.walk(stack_id))
        except KeyError:
            return []

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
        span, message = site
        self.diagnose("warning", span, f"{message}\nAdditional Info - retcode: {result}",
                      "helper_error", (("retcode", result),))

    # -- at the end --------------------------------------------------------------------------

    def _report_lost(self) -> None:
        lost = sum(int(v) for v in self.bpf["tracer_lost"][ctypes.c_uint32(0)])
        if lost:
            self.output.lost_events(lost)

    def _print_maps(self) -> None:
        for name in sorted(self.compiled.resources.maps):  # bpftrace prints them in name order
            self.print_map(name)


def trace(compiled: CompiledProgram, options: CompileOptions, output: Output,
          command: Optional[str] = None) -> int:
    """Run a compiled program until it ends: the whole of a run, for the CLI and the API."""
    kernel.require_root()
    if options.target_pid is not None and not os.path.exists(f"/proc/{options.target_pid}"):
        raise TracerError(f"-p: there is no process {options.target_pid}")
    child = Child(command) if command is not None else None
    try:
        if child is not None:
            child.spawn()
        return Session(compiled, options, output, child).run()
    finally:
        if child is not None:
            child.stop()


def attach_hint(site: ProbeSite) -> str:
    return (f"check that {site.target.name} exists on this kernel and that nothing else holds "
            f"it; run with -v for details")


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
