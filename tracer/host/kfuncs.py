"""The kernel's functions, read only: the names a kprobe can attach to.

tracefs's ``available_filter_functions`` lists the functions ftrace (and so a kprobe on a
function's entry) can attach to. Where it cannot be read (some kernels refuse it even to root,
as on the project's machines), the text symbols of /proc/kallsyms are the next best list: a
superset, where a name that is not traceable fails only when it is attached.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

from . import tracefs

KALLSYMS = "/proc/kallsyms"


@functools.lru_cache(maxsize=1)
def kernel_functions() -> tuple[tuple[str, Optional[str]], ...]:
    """Every (function, module or None) a kprobe may name, sorted, without duplicates."""
    names = _filter_functions()
    if names is None:
        names = _kallsyms_text()
    return tuple(sorted(set(names), key=lambda item: (item[0], item[1] or "")))


def _filter_functions() -> Optional[list[tuple[str, Optional[str]]]]:
    path = tracefs.mounted()
    if path is None:
        return None
    try:
        with open(os.path.join(path, "available_filter_functions")) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    found = []
    for line in lines:
        # "name" or "name [module]"; some kernels add the address first.
        words = line.split()
        if not words:
            continue
        module = words[-1][1:-1] if words[-1].startswith("[") else None
        name = words[0] if len(words) == 1 or module is not None and len(words) == 2 \
            else words[1]
        found.append((name, module))
    return found


@functools.lru_cache(maxsize=1)
def _kallsyms_text() -> tuple[tuple[str, Optional[str]], ...]:
    found = []
    try:
        with open(KALLSYMS, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                words = line.split()
                if len(words) < 3 or words[1] not in "tT" or words[2].startswith("__pfx_"):
                    continue
                module = words[3][1:-1] if len(words) > 3 else None
                found.append((words[2], module))
    except OSError:
        pass
    return tuple(found)


@functools.lru_cache(maxsize=1)
def _modules_by_name() -> dict[str, set[Optional[str]]]:
    """Function name -> the modules (None: the kernel itself) that have one so named, from
    both lists: a kprobe can be placed on functions ftrace leaves out of its list (system
    call wrappers on some kernels), so a name given whole is looked up in kallsyms too."""
    found: dict[str, set[Optional[str]]] = {}
    for name, module in (*kernel_functions(), *_kallsyms_text()):
        found.setdefault(name, set()).add(module)
    return found


def exists(name: str, module: Optional[str] = None) -> bool:
    modules = _modules_by_name().get(name, ())
    return bool(modules) and (module is None or module in modules)
