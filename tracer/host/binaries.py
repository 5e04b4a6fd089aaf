"""Finding the file a uprobe or usdt probe names, read only.

``uprobe:/usr/bin/bash:readline`` names a file; ``uprobe:libc:malloc`` a library, found as
bpftrace finds it: in the libraries the -p process has mapped, then in the dynamic linker's
cache (``ldconfig -p``: libc is libc.so.6); ``uprobe:bash:readline`` a program on PATH. With -p,
files are read through ``/proc/PID/root``, so a process in a container is probed in its own
files.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from typing import Optional

LDCONFIG_LINE = re.compile(r"^\s*(?P<soname>\S+) \((?P<flags>[^)]*)\) => (?P<path>\S+)\s*$")
NATIVE_FLAGS = {"x86_64": "x86-64", "aarch64": "AArch64"}


def resolve(name: str, pid: Optional[int] = None) -> Optional[str]:
    """The path of the file ``name`` stands for, as tracer can open it; None if none is found."""
    root = f"/proc/{pid}/root" if pid else ""
    if "/" in name:
        path = name if name.startswith("/") else os.path.abspath(name)
        return root + path if root and name.startswith("/") else path
    if pid:
        mapped = _mapped_library(name, pid)
        if mapped:
            return root + mapped
    for soname, path in ld_cache():
        if _library_matches(name, soname):
            return path
    found = shutil.which(name)
    return os.path.realpath(found) if found else None


def _library_matches(name: str, soname: str) -> bool:
    """libc, libc.so, libc.so.6 and c all name libc.so.6."""
    if soname == name:
        return True
    for prefix in (f"{name}.so", f"lib{name}.so"):
        if soname == prefix or soname.startswith(prefix + "."):
            return True
    return False


def _mapped_library(name: str, pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            base = os.path.basename(fields[5])
            if _library_matches(name, base) or base == name:
                return fields[5]
    return None


@functools.lru_cache(maxsize=1)
def ld_cache() -> tuple[tuple[str, str], ...]:
    """(soname, path) of the native libraries the dynamic linker's cache knows."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        text = subprocess.run([ldconfig, "-p"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    native = NATIVE_FLAGS.get(os.uname().machine, "")
    found = []
    for line in text.splitlines():
        m = LDCONFIG_LINE.match(line)
        if m and (not native or native in m.group("flags")):
            found.append((m.group("soname"), m.group("path")))
    return tuple(found)
