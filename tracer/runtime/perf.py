"""Attach a loaded program to the kernel through perf events (tracepoints, timers, kprobes,
uprobes), or as a raw tracepoint.

A provider describes the event (``providers.base.PerfEvent``); this opens it with
perf_event_open(2), hands it the program (PERF_EVENT_IOC_SET_BPF) and enables it. Closing the
event's file descriptor detaches the program, so a run's attachments are just fds to close.

BCC's ``bpf_attach_tracepoint`` and ``bpf_attach_perf_event`` do the same, but reaching them
means loading libbcc (about 80 ms, and tens of MB), which a run from the compiled-program cache
otherwise never needs.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
import threading
from typing import Optional

from ..host.bpfprobe import PERF_EVENT_OPEN_NR  # it has no libc wrapper
from ..providers.base import PerfEvent
from .libbpf import libbpf

PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_SET_BPF = 0x40042408
ATTR_SIZE = 112  # PERF_ATTR_SIZE_VER5: understood by every kernel tracer runs on
FLAG_FREQ = 1 << 10
# type, size, config, sample_period (or _freq), sample_type, read_format, flags, wakeup_events,
# bp_type, config1 (a kprobe's function or a uprobe's path), config2 (its offset). The sample
# period is a full 64 bits: an interval of 2^31 ns or more must not be cut to an int.
ATTR = struct.Struct("<IIQQQQQIIQQ")


class AttachError(Exception):
    def __init__(self, err: int):
        super().__init__(os.strerror(err))
        self.errno = err


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def open_event(event: PerfEvent, cpu: int, pid: int = -1) -> int:
    """A perf event on one CPU (any task), or on any CPU for one process (``pid``), opened and
    not yet enabled."""
    attr = bytearray(ATTR_SIZE)
    # The string a kprobe's or uprobe's config1 points to must outlive the call.
    target = ctypes.create_string_buffer(event.target.encode("utf-8", "surrogateescape")) \
        if event.target is not None else None
    ATTR.pack_into(attr, 0, event.type, ATTR_SIZE, event.config, event.period, 0, 0,
                   FLAG_FREQ if event.freq else 0, 1, event.bp_type,
                   ctypes.addressof(target) if target is not None else event.config1,
                   event.config2)
    buf = (ctypes.c_char * ATTR_SIZE).from_buffer(attr)
    number = PERF_EVENT_OPEN_NR.get(os.uname().machine)
    if number is None:
        raise AttachError(38)  # ENOSYS: an architecture tracer does not know
    fd = _libc.syscall(ctypes.c_long(number), buf, ctypes.c_int(pid), ctypes.c_int(cpu),
                       ctypes.c_int(-1), ctypes.c_ulong(PERF_FLAG_FD_CLOEXEC))
    if fd < 0:
        raise AttachError(ctypes.get_errno())
    return fd


def attach(prog_fd: int, event: PerfEvent, pid: int = -1) -> list[int]:
    """The program attached to the event on each of its CPUs (or, for one process ``pid``, on
    any CPU); returns the fds that hold it (close them to detach). On failure nothing stays
    attached."""
    fds: list[int] = []
    try:
        for cpu in (event.cpus if pid < 0 else (-1,)):
            fd = open_event(event, cpu, pid)
            fds.append(fd)
            try:
                fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
                fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
            except OSError as err:
                raise AttachError(err.errno) from None
    except AttachError:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def attach_raw_tracepoint(prog_fd: int, name: Optional[str]) -> list[int]:
    """The program attached to a raw tracepoint (or, with no name, a tracing program to the
    function it was loaded for); the fd holds it."""
    fd = libbpf().bpf_raw_tracepoint_open(name.encode() if name is not None else None, prog_fd)
    if fd < 0:
        raise AttachError(ctypes.get_errno() or -fd)
    return [fd]


def detach(fds: list[int]) -> None:
    """Close the events, which detaches their programs at once. Each close then waits for the
    kernel to be done with the program (a grace period, some 60 ms here); closed one after
    another, 20 probes would take over a second to end, so they are closed side by side."""
    if len(fds) <= 1:
        for fd in fds:
            _close(fd)
        return
    threads = [threading.Thread(target=_close, args=(fd,)) for fd in fds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
