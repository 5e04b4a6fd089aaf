"""Listing the probes of user-space files (`tracer -l 'uprobe:/bin/bash:read*'`,
`-l 'usdt:/usr/bin/python3.11:*'`): which files a pattern's FILE part names, and the USDT
probes each declares. The uprobe and usdt providers call these from their ``listing``.

Read-only: files are opened to read their symbols or notes, nothing else.
"""

from __future__ import annotations

import glob
import os

from ..diagnostics import TracerError
from ..host import binaries
from .listed import Listed, ListPattern, has_wildcard, simple_listing


def listed_files(file: str, probe_type: str) -> list[tuple[str, str]]:
    """(path to read, path to show) of each file the FILE part of a listing pattern names:
    a path, a library (``libc``) or a program on PATH as a probe names it, shown as the probe
    shows it; or a wildcard over absolute paths (``/usr/bin/*sh``). A file named without
    wildcards must exist; a wildcard over names on PATH is not looked for (every program
    would be read)."""
    if has_wildcard(file):
        if not file.startswith("/"):
            return []
        return [(p, p) for p in sorted(glob.glob(file)) if os.path.isfile(p)]
    path = binaries.resolve(file)
    if path is None or not os.path.isfile(path):
        raise TracerError(f"{probe_type}: no such file or library: {file}")
    return [(path, file if "/" in file else path)]


def usdt_listing(probe_type: str, pattern: ListPattern) -> list[Listed]:
    """``usdt:FILE:PROVIDER:NAME`` for each USDT probe of the files FILE names whose
    PROVIDER:NAME matches the rest of the pattern (NAME alone: of any provider; nothing: all)."""
    from ..symbols.usdt import read_usdt_probes  # pyelftools: only when a file is read

    file, _, rest = pattern.text.partition(":")
    wanted = ListPattern(rest if ":" in rest else f"*:{rest or '*'}")
    found: list[Listed] = []
    for path, shown in listed_files(file, probe_type):
        probes = read_usdt_probes(path) or []
        found += simple_listing(f"{probe_type}:{shown}", wanted, (p.full_name for p in probes))
    return found
