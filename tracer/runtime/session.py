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
from typing import Optional

from ..codegen import markers
from ..compiler import CompiledProgram
from ..diagnostics import TracerError
from ..functions import EXIT_EVENT_ID
from ..options import CompileOptions
from ..output import MapSnapshot, Output
from ..passes.attach import ProbeSite
from ..passes.resources import MapResource
from ..types import COUNT
from ..printf import render
from . import kernel, maps
from .child import Child
from .loader import LoadError, ProgramImage, explain, load
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
        return 0

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
        constants = {markers.CPID: self.child.pid if self.child is not None else 0}
        self.map_fds = {m.c_name: bcc.lib.bpf_table_fd(self.bpf.module, m.c_name.encode())
                        for m in self.compiled.resources.maps.values()}
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
            while not (self.stopping or self._exit_requested):
                self.bpf.ring_buffer_poll(POLL_MS)
                self.output.flush()
                if self.child is not None and self.child.exited():
                    break
                if target is not None and target.exited():
                    break
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if target is not None:
                target.close()

    def _drain(self) -> None:
        self.bpf.ring_buffer_consume()
        self.output.flush()

    def _on_event(self, ctx, data, size) -> None:
        if self._discarding:
            return
        raw = ctypes.string_at(data, size)
        (event_id,) = struct.unpack_from("<Q", raw)
        if event_id == EXIT_EVENT_ID:
            self._exit_requested = self._discarding = True
            return
        event = self.compiled.resources.printfs[event_id]
        values = event.layout.decode(raw)[1:]
        self.output.printf(render(event.format_parts, values))

    # -- at the end --------------------------------------------------------------------------

    def _report_lost(self) -> None:
        lost = sum(int(v) for v in self.bpf["tracer_lost"][ctypes.c_uint32(0)])
        if lost:
            self.output.lost_events(lost)

    def _print_maps(self) -> None:
        maps = self.compiled.resources.maps
        for name in sorted(maps):  # bpftrace prints maps in name order
            self.output.map(self.read_map(maps[name]))

    def read_map(self, m: MapResource) -> MapSnapshot:
        key_size = 4 if m.per_cpu and m.scalar else m.key_layout.size
        entries = []
        for raw_key, raw_values in maps.entries(self.map_fds[m.c_name], key_size,
                                                m.value_layout.size, m.per_cpu):
            values = [m.value_layout.decode(raw)[0] for raw in raw_values]
            value = sum(values) if m.per_cpu else values[0]
            key_value = None if m.scalar else m.key_layout.decode(raw_key)[0]
            entries.append((key_value, value))
        value_type = COUNT if m.aggregation is not None else m.value_type
        return MapSnapshot(m.name, value_type, m.key_type, entries)


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

    def _waits_for_events(self) -> bool:
        """A program of BEGIN and END probes only is done once BEGIN has run (bpftrace 0.24),
        unless there is a command (-c) or a process (-p) to wait for."""
        attached = any(not site.target.provider.trigger for site in self.compiled.sites)
        return attached or self.child is not None or self.options.target_pid is not None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
