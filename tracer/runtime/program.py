"""A program loaded into the kernel for one run: its maps, its probe functions, what attaches them.

It is made from a ``ProgramImage`` (fresh from BCC or from the cache: both load the same way)
and owns every file descriptor of the run; ``close`` detaches every probe and frees it all.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import Optional

from ..compiler import CompiledProgram
from ..diagnostics import KernelRefusal, TracerError
from ..passes.attach import ProbeSite
from ..providers.base import RawTracepoint
from . import perf
from .image import ProgramImage
from .libbpf import libbpf
from .loader import PROG_TYPES, LoadError, SiteLoad, create_maps, explain, load


class LoadedProgram:
    def __init__(self, image: ProgramImage, compiled: CompiledProgram,
                 constants: dict[int, int], verbose: bool = False):
        self.image = image
        self.sizes = {EVENTS_MAP: ring_buffer_size(compiled.config.perf_rb_pages)}
        self.map_fds: dict[str, int] = create_maps(image, self.sizes)
        self.functions: dict[int, int] = {}  # site index -> program fd
        self._attachments: list[int] = []
        try:
            maps = {m.index: self.map_fds[m.c_name] for m in compiled.resources.maps.values()}
            for built in compiled.generated.sites:
                site = built.site
                provider = site.target.provider
                request = SiteLoad(site.function_name, PROG_TYPES[provider.prog_type],
                                   callbacks=built.callbacks, constants=constants, maps=maps,
                                   attributes=provider.load_attributes(site.target))
                try:
                    self.functions[site.index] = load(image, self.map_fds, request)
                except LoadError as err:
                    last, hint = explain(err)
                    whole = f"\n{err.log.rstrip()}" if verbose else ""
                    raise KernelRefusal(f"the kernel refused the program for "
                                        f"{site.target.name}: {err}\n{last}{whole}",
                                        hint=hint) from None
        except BaseException:
            self.close()
            raise

    def attach(self, site: ProbeSite, traced_pid: Optional[int] = None) -> None:
        """Attach a site's program where its provider says; BEGIN and END are never attached.
        ``traced_pid`` is the process (-p, -c) that per-process probes (uprobes) are limited to."""
        attachment = site.target.provider.attachment(site.target)
        if attachment is None:
            return
        prog_fd = self.functions[site.index]
        try:
            if isinstance(attachment, RawTracepoint):
                self._attachments += perf.attach_raw_tracepoint(prog_fd, attachment.name)
            else:
                pid = traced_pid if attachment.per_process and traced_pid else -1
                self._attachments += perf.attach(prog_fd, attachment, pid)
        except perf.AttachError as err:
            hint = site.target.provider.attach_hints.get(err.errno) or \
                ATTACH_HINTS.get(err.errno, DEFAULT_ATTACH_HINT)
            raise KernelRefusal(f"cannot attach {site.target.name}: {err}",
                                hint=hint.format(name=site.target.name)) from None

    def stop(self) -> None:
        """Detach every probe: none fires from now on. (Disabling a tracepoint's perf event
        would not do: its program still runs.)"""
        attachments, self._attachments = self._attachments, []
        perf.detach(attachments)

    def map_size(self, name: str) -> int:
        return self.sizes.get(name) or self.image.maps[self.image.map_number(name)].max_entries

    def lookup(self, name: str, key: bytes) -> Optional[bytes]:
        """One map value as raw bytes (None if the key is absent)."""
        spec = self.image.maps[self.image.map_number(name)]
        value = ctypes.create_string_buffer(max(spec.value_size, 1))
        keybuf = ctypes.create_string_buffer(key, max(len(key), 1))
        if libbpf().bpf_map_lookup_elem(self.map_fds[name], keybuf, value) != 0:
            if ctypes.get_errno() == errno.ENOENT:
                return None
            raise TracerError(f"cannot read {name}: {os.strerror(ctypes.get_errno())}")
        return value.raw[:spec.value_size]

    def stack_ips(self, name: str, stack_id: int) -> list[int]:
        """The addresses a stack map holds for one id, innermost first."""
        raw = self.lookup(name, struct.pack("<I", stack_id))
        if raw is None:
            return []
        ips = struct.unpack(f"<{len(raw) // 8}Q", raw)
        return list(ips[:ips.index(0)] if 0 in ips else ips)

    def close(self) -> None:
        """Detach every probe, then free programs and maps."""
        self.stop()
        for fd in [*self.functions.values(), *self.map_fds.values()]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.functions, self.map_fds = {}, {}


EVENTS_MAP = "tracer_events"
# With perf_rb_pages unset, bpftrace 0.26 sizes its ring buffer by the memory available:
# between 256 KiB and about 16 MiB, the nearest power of two in pages.
RING_FLOOR_KB, RING_CEILING_KB = 256, 16544


def ring_buffer_size(pages: int) -> int:
    """The events ring buffer's size in bytes: ``pages`` (at least one a CPU, rounded up to
    a power of two, as the kernel wants), or 0.26's default for 0."""
    page = os.sysconf("SC_PAGE_SIZE")
    if pages:
        pages = max(pages, os.cpu_count() or 1)
        return page << (pages - 1).bit_length()
    wanted_kb = max(min(_available_kb(), RING_CEILING_KB), RING_FLOOR_KB)
    return page * _nearest_power_of_two(wanted_kb * 1024 // page)


def _nearest_power_of_two(n: int) -> int:
    low = 1 << (n.bit_length() - 1)
    return low if n - low <= 2 * low - n else 2 * low


def _available_kb() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return RING_FLOOR_KB


DEFAULT_ATTACH_HINT = ("check that {name} exists on this kernel and that nothing else holds it; "
                       "run with -v for details")
ATTACH_HINTS = {
    errno.ENOENT: "the kernel has no such event now: check that {name} exists on this kernel",
    errno.EACCES: "attaching probes needs root (CAP_PERFMON and CAP_BPF)",
    errno.EPERM: "attaching probes needs root (CAP_PERFMON and CAP_BPF); in a container, run "
                 "it privileged",
    errno.ENODEV: "this machine has no such event source (a VM often lacks hardware counters)",
    errno.EOPNOTSUPP: "this machine has no such event source (a VM often lacks hardware "
                      "counters)",
}
