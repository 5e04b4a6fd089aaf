"""What a test may leave behind in the kernel: BPF programs, and kprobe/uprobe entries in
tracefs. The kernel-test fixture (conftest.py) takes a snapshot before each test and asks
``Snapshot.leaks`` after it.

The machine is shared: other processes (another engineer's test run, a tracer started by
hand) load programs meanwhile. A program is this test run's only if a process of this run
holds it, or nobody does (nothing but a process of ours could have loaded it and left it
with no holder: pinned, or attached to a kernel object). Processes of this run are told by
``RUN_MARK`` in their environment, which every process a test starts inherits, even one that
was reparented when its parent died.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import struct
import subprocess
import time
from dataclasses import dataclass, field
from typing import Optional

RUN_MARK = "TRACER_TEST_RUN"
# The kernel frees a program some time after its last holder closes it (an RCU grace period,
# about 60 ms a program here): what is still loaded after this long was left behind.
GRACE_SECONDS, GRACE_PER_PROGRAM = 0.3, 0.06

BPF_NR = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280, "ppc64le": 361,
          "s390x": 351, "i686": 357, "armv7l": 386}
BPF_PROG_GET_NEXT_ID, BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 11, 13, 15
TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
PROBE_FILES = ("kprobe_events", "uprobe_events")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def mark_this_run() -> None:
    """Mark this process, and so every process the tests start, as this run's (a test run
    started from inside another gets a mark of its own)."""
    os.environ[RUN_MARK] = str(os.getpid())


def _bpf(cmd: int, attr: bytearray) -> int:
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    return _libc.syscall(ctypes.c_long(BPF_NR[platform.machine()]), ctypes.c_int(cmd), buf,
                         ctypes.c_uint(len(attr)))


def program_ids() -> set[int]:
    """The id of every BPF program loaded in the kernel now."""
    ids, current = set(), 0
    while True:
        attr = bytearray(struct.pack("<II", current, 0).ljust(16, b"\0"))  # start_id, next_id
        if _bpf(BPF_PROG_GET_NEXT_ID, attr) < 0:  # ENOENT: no more
            return ids
        current = struct.unpack_from("<I", attr, 4)[0]
        ids.add(current)


def program_name(prog_id: int) -> str:
    """The name the program was loaded with (16 bytes at most), or "?" if it is gone."""
    fd = _bpf(BPF_PROG_GET_FD_BY_ID, bytearray(struct.pack("<I", prog_id).ljust(16, b"\0")))
    if fd < 0:
        return "?"
    try:
        info = ctypes.create_string_buffer(256)
        attr = bytearray(struct.pack("<IIQ", fd, len(info), ctypes.addressof(info)))
        if _bpf(BPF_OBJ_GET_INFO_BY_FD, attr) < 0:
            return "?"
        return info.raw[64:80].split(b"\0")[0].decode(errors="replace")  # bpf_prog_info.name
    finally:
        os.close(fd)


def holders() -> dict[int, set[int]]:
    """Program id -> the pids of the processes holding a descriptor of it (a program's fd
    or a BPF link's: their fdinfo names the program)."""
    held: dict[int, set[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fdinfo")
        except OSError:
            continue
        for fd in fds:
            try:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    text = f.read()
            except OSError:
                continue
            for found in re.finditer(r"^prog_id:\s*(\d+)", text, re.M):
                held.setdefault(int(found.group(1)), set()).add(int(pid))
    return held


def ours(pid: int, mark: str) -> bool:
    """Whether process ``pid`` belongs to this test run (an unreadable one is not). The mark
    is the test run's pid: the run's own /proc/PID/environ is the one it started with."""
    if str(pid) == mark:
        return True
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"{RUN_MARK}={mark}".encode() in f.read().split(b"\0")
    except OSError:
        return False


def probe_entries() -> Optional[set[str]]:
    """The lines of tracefs's kprobe_events and uprobe_events, or None where tracefs is not
    mounted here (they are then read from a private mount, in a process of their own, so
    that the test run's mounts stay as they were)."""
    for where in TRACEFS_DIRS:
        if os.path.isfile(os.path.join(where, "uprobe_events")):
            return set().union(*(_lines(os.path.join(where, name)) for name in PROBE_FILES))
    script = " ; ".join(f"cat {TRACEFS_DIRS[0]}/{name} 2>/dev/null" for name in PROBE_FILES)
    read = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           f"mount -t tracefs nodev {TRACEFS_DIRS[0]} && {{ {script} ; }}"],
                          capture_output=True, text=True)
    return set(read.stdout.splitlines()) if read.returncode == 0 else None


def _lines(path: str) -> set[str]:
    try:
        with open(path) as f:
            return set(f.read().splitlines())
    except OSError:  # kprobe_events is missing from a kernel without kprobes
        return set()


def entry_owner(entry: str) -> Optional[int]:
    """The pid a probe entry's name ends in, as BCC (and bpftrace through it) names its
    entries (p_bin_0x1f00_bcc_4242), or None."""
    name = entry.split()[0].split("/")[-1]
    found = re.search(r"_(\d+)$", name)
    return int(found.group(1)) if found else None


@dataclass
class Snapshot:
    mark: str
    programs: set[int] = field(default_factory=program_ids)
    entries: Optional[set[str]] = field(default_factory=probe_entries)

    def leaks(self) -> list[str]:
        """What was left behind since the snapshot, as lines for a failure message; waits
        for the kernel to free what was just closed."""
        return self._programs_left() + self._entries_left()

    def _programs_left(self) -> list[str]:
        new = program_ids() - self.programs
        if new:  # another process's programs are not waited for: they are not this test's
            new = self._ours_or_nobodys(new, holders())
        deadline = time.monotonic() + GRACE_SECONDS + GRACE_PER_PROGRAM * len(new)
        while new and time.monotonic() < deadline:
            time.sleep(0.02)
            new &= program_ids()
        if not new:
            return []
        held = holders()
        unheld = {p for p in new if not held.get(p)}
        if unheld:  # perhaps a process that has just exited, this run's or not: once more
            time.sleep(GRACE_SECONDS)
            new -= unheld - program_ids()
        return [f"BPF program {p} ({program_name(p)}), held by "
                f"{', '.join(map(str, sorted(held[p]))) if held.get(p) else 'no process'}"
                for p in sorted(self._ours_or_nobodys(new, held))]

    def _ours_or_nobodys(self, programs: set[int], held: dict[int, set[int]]) -> set[int]:
        return {p for p in programs
                if not held.get(p) or any(ours(pid, self.mark) for pid in held[p])}

    def _entries_left(self) -> list[str]:
        if self.entries is None:
            return []
        new = (probe_entries() or set()) - self.entries
        # An entry named after a live process that is not this run's is that process's.
        return [f"tracefs probe entry {e!r}" for e in sorted(new)
                if not self._foreign(entry_owner(e))]

    def _foreign(self, pid: Optional[int]) -> bool:
        return pid is not None and os.path.exists(f"/proc/{pid}") and not ours(pid, self.mark)
