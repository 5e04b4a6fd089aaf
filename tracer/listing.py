"""`tracer -l [PATTERN]` and `-lv`: the probes the machine offers, one a line, as bpftrace
lists them.

A pattern is ``TYPE:REST``. TYPE names one probe type (or its alias: ``t:``), or is a wildcard
(``*``, ``k*``) standing for the kernel's own types; a pattern without a colon is ``*:PATTERN``
(``sys_enter_open*`` finds tracepoints in any category). Each type lists its own probes that
match REST (``Provider.listing``); this module only picks the types, runs them in bpftrace's
order (by type name) and lays the answer out. Several patterns may be given, separated by
commas.

Only the providers are imported: no parser, compiler or BCC, so that a listing starts fast.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Optional

from .diagnostics import TracerError
from .providers import REGISTRY, Registry
from .providers.base import Provider
from .providers.listed import ListPattern, has_wildcard
from .providers.unsupported import unsupported_probe_type

EVERYTHING = "*:*"
DETAIL_INDENT = "    "


def split_search(search: Optional[str], registry: Registry = REGISTRY) -> list[str]:
    """The patterns of a -l search, each written ``TYPE:REST``."""
    if search is None:
        return [EVERYTHING]
    patterns = []
    for piece in search.split(","):
        piece = piece.strip()
        if piece in ("", "*"):
            piece = EVERYTHING
        elif ":" not in piece:
            # A type named alone lists all of it (bpftrace would look for probes named so).
            known = registry.get(piece) or unsupported_probe_type(piece)
            piece = f"{piece}:*" if known else f"*:{piece}"
        patterns.append(piece)
    return patterns


def types_for(type_text: str, rest: str, registry: Registry = REGISTRY) -> list[Provider]:
    """The probe types a pattern's TYPE stands for, in the order they are listed."""
    if not has_wildcard(type_text):
        provider = registry.get(type_text)
        if provider is None:
            raise _unknown_type(type_text, registry)
        return [provider]
    groups = {"kernel"}
    # Types that need a file (uprobe ...) join in only when the pattern names one that exists:
    # otherwise every program on the machine would have to be read.
    first = rest.split(":", 1)[0]
    if ":" in rest and first and not has_wildcard(first) and os.path.exists(first):
        groups.add("user")
    wanted = type_text.lower()
    found = [p for p in registry.all()
             if p.list_group in groups and fnmatch.fnmatchcase(p.name.lower(), wanted)]
    return sorted(found, key=lambda p: p.name)


def _unknown_type(type_text: str, registry: Registry) -> TracerError:
    lacking = unsupported_probe_type(type_text)
    if lacking:
        return TracerError(f"tracer has no {lacking} probes yet, so it cannot list them")
    return TracerError(f"unknown probe type '{type_text}' in the -l pattern",
                       hint="the probe types are " + ", ".join(registry.names()))


def list_probes(search: Optional[str], verbose: bool = False,
                registry: Registry = REGISTRY) -> list[str]:
    """The lines `tracer -l SEARCH` prints (-lv when ``verbose``): each probe's name, and under
    it, indented, what -lv shows of it."""
    lines: list[str] = []
    for pattern in split_search(search, registry):
        type_text, _, rest = pattern.partition(":")
        rest = rest or "*"
        for provider in types_for(type_text, rest, registry):
            for probe in provider.listing(ListPattern(rest), verbose):
                lines.append(probe.name)
                if verbose:
                    lines.extend(DETAIL_INDENT + d for d in probe.details)
    return lines


def render(search: Optional[str], verbose: bool = False) -> str:
    """The whole listing as text, a newline after each line; nothing when nothing matches."""
    if search is not None and search.startswith(TYPE_KINDS):
        return list_types(search, verbose)
    lines = list_probes(search, verbose)
    return "".join(line + "\n" for line in lines)


TYPE_KINDS = ("struct ", "union ", "enum ")


def list_types(search: str, verbose: bool = False) -> str:
    """`-l 'struct task_*'`: the kernel's struct (union, enum) names that match, one a line;
    with -v each one's C definition, followed by a blank line, as bpftrace prints them. (Where
    bpftrace 0.17 runs a definition into the next one, or prints nothing for it, as it does for
    `struct file` after a packed struct, each type here is printed alone.)"""
    from .cdefs.btf_dump import c_definition
    from .cdefs.btf_types import kernel_types
    kernel = kernel_types()
    if kernel is None:
        raise TracerError("this kernel has no BTF (/sys/kernel/btf/vmlinux), so tracer cannot "
                          "list its types")
    kind, _, pattern = search.partition(" ")
    names = sorted({f"{kind} {name}" for name in kernel.names(kind)
                    if fnmatch.fnmatchcase(name, pattern.strip())})
    if not verbose:
        return "".join(name + "\n" for name in names)
    # Each definition comes with the blank line that follows it.
    return "".join(c_definition(kernel, name, exact=False) or "" for name in names)
