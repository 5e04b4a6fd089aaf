"""Run a loaded BPF program once, now, on this thread: how BEGIN and END probes fire.

libbpf's ``bpf_prog_test_run_opts`` (BPF_PROG_TEST_RUN) runs a raw-tracepoint program
synchronously in the calling task, so ``pid`` and ``comm`` are tracer's own, as they are for
bpftrace's BEGIN, and the program's output is in the ring buffer when the call returns.
libbpf comes with BCC (libbcc links it), so no other package is needed.
"""

from __future__ import annotations

import ctypes
import functools
import os

from ..diagnostics import TracerError


class _TestRunOpts(ctypes.Structure):
    # struct bpf_test_run_opts from libbpf's bpf.h (libbpf >= 0.7)
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("data_in", ctypes.c_void_p), ("data_out", ctypes.c_void_p),
        ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_void_p), ("ctx_out", ctypes.c_void_p),
        ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
        ("retval", ctypes.c_uint32), ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
        ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32), ("batch_size", ctypes.c_uint32),
    ]


@functools.lru_cache(maxsize=1)
def _libbpf():
    try:
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError as err:
        raise TracerError(f"cannot load libbpf to run BEGIN/END probes: {err}",
                          hint="install libbpf1 (it comes with python3-bpfcc)") from None
    lib.bpf_prog_test_run_opts.argtypes = [ctypes.c_int, ctypes.POINTER(_TestRunOpts)]
    lib.bpf_prog_test_run_opts.restype = ctypes.c_int
    return lib


def run_once(prog_fd: int, what: str) -> None:
    opts = _TestRunOpts()
    opts.sz = ctypes.sizeof(_TestRunOpts)
    result = _libbpf().bpf_prog_test_run_opts(prog_fd, ctypes.byref(opts))
    if result != 0:
        err = -result if result < 0 else ctypes.get_errno()
        raise TracerError(f"the kernel could not run the {what} probe: {os.strerror(err)}",
                          hint="BEGIN and END need BPF_PROG_TEST_RUN for raw tracepoints "
                               "(Linux 5.10 or newer)")
