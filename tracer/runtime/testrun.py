"""Run a loaded BPF program once, now, on this thread: how BEGIN and END probes fire.

libbpf's ``bpf_prog_test_run_opts`` (BPF_PROG_TEST_RUN) runs a raw-tracepoint program
synchronously in the calling task, so ``pid`` and ``comm`` are tracer's own, as they are for
bpftrace's BEGIN, and the program's output is in the ring buffer when the call returns.
libbpf comes with BCC (libbcc links it), so no other package is needed.
"""

from __future__ import annotations

import ctypes
import os

from ..diagnostics import TracerError
from .libbpf import TestRunOpts, libbpf


def run_once(prog_fd: int, what: str) -> None:
    opts = TestRunOpts()
    opts.sz = ctypes.sizeof(TestRunOpts)
    result = libbpf().bpf_prog_test_run_opts(prog_fd, ctypes.byref(opts))
    if result != 0:
        err = -result if result < 0 else ctypes.get_errno()
        raise TracerError(f"the kernel could not run the {what} probe: {os.strerror(err)}",
                          hint="BEGIN and END need BPF_PROG_TEST_RUN for raw tracepoints "
                               "(Linux 5.10 or newer)")
