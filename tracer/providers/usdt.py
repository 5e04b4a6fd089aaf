"""``usdt:FILE:PROBE`` and ``usdt:FILE:PROVIDER:PROBE`` (``U:``): a statically defined probe
site that a program or library declares with ``<sys/sdt.h>``.

FILE is found as a uprobe's file is (a path, a library name, a program on PATH; with -p, as the
process sees it); PROVIDER and PROBE may hold wildcards, and PROVIDER may be left out, which
matches every provider. With -p, FILE may be ``*`` (or left out: ``usdt:PROBE``): every file the
process maps. Each probe site is a uprobe at the site's file offset; a site with a semaphore
also asks the kernel to count it up (``ref_ctr_offset``) in every process that maps the file,
so code that tests its semaphore before firing the probe fires it while tracer is attached.
``argN`` reads the site's Nth argument as its note describes it (see usdt_args).
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
import re
from typing import Optional

from ..host import binaries, pmu
from ..symbols.usdt import UsdtProbe, read_usdt_probes
from .listed import has_wildcard
from .base import PerfEvent, Provider, Target
from .uprobe import UprobeProvider
from .user_listing import usdt_listing
from .usdt_args import ArgSpecError, arg_builtin, missing_arg_builtin, parse_arg_spec, \
    zero_builtin

ARG_RE = re.compile(r"^arg(\d+)$")
EVERY_FILE = "*"


@functools.lru_cache(maxsize=64)
def probes_of(path: str) -> Optional[tuple[UsdtProbe, ...]]:
    probes = read_usdt_probes(path)
    return None if probes is None else tuple(probes)


class UsdtProvider(Provider):
    name = "usdt"
    aliases = ("U",)
    prog_type = "KPROBE"
    builtin_names = ("argN",)
    list_group = "user"
    user_memory = True

    def expand(self, parts, span, reporter, ctx):
        if ctx.target_pid and len(parts) == 1 and parts[0]:
            parts = [EVERY_FILE, *parts]  # usdt:PROBE with -p: in every file it maps
        if len(parts) not in (2, 3) or not all(parts):
            reporter.error(span, "usdt probes are written usdt:FILE:PROBE or "
                                 "usdt:FILE:PROVIDER:PROBE",
                           hint="for example usdt:/usr/bin/python3:function__entry; "
                                "tracer -l 'usdt:FILE:*' lists a file's probes")
            return []
        file, wanted = parts[0], parts[1:]
        provider, probe = wanted if len(wanted) == 2 else ("*", wanted[0])
        files = self._files(file, span, reporter, ctx)
        if files is None:
            return []
        # A wildcard may choose probes of fewer arguments than argN wants: they read 0 there.
        chosen_by_wildcard = any(has_wildcard(part) for part in wanted)
        matched, seen = [], []
        for path, shown, probes in files:
            seen += probes
            matched += [(path, shown, site) for site in
                        sorted(probes, key=lambda p: (p.provider, p.name, p.pc))
                        if fnmatch.fnmatchcase(site.provider, provider)
                        and fnmatch.fnmatchcase(site.name, probe)]
        if not matched:
            where = files[0][1] if len(files) == 1 else "the files the process maps"
            ctx.missing(reporter, span, f"usdt: no probe {':'.join(wanted)} in {where}",
                        hint=lambda: _nearest(":".join(wanted), seen))
        targets = (self._target(path, shown, site, chosen_by_wildcard, span, reporter)
                   for path, shown, site in matched)
        return [target for target in targets if target is not None]

    def _files(self, file, span, reporter, ctx) -> Optional[list]:
        """(path to open, path to show, its probes) of each file FILE names; None if none."""
        if file == EVERY_FILE:
            if not ctx.target_pid:
                reporter.error(span, "usdt: a file of * means every file a process maps, and "
                                     "there is no process", hint="give the process with -p, "
                                                                 "or name the file")
                return None
            return [(path, shown, probes_of(path) or ())
                    for path, shown in _mapped_files(ctx.target_pid)]
        path = binaries.resolve(file, ctx.target_pid)
        if path is None or not os.path.isfile(path):
            reporter.error(span, f"usdt: no such file or library: {file}",
                           hint="give a path, a library name as ldconfig -p lists it, or a "
                                "program on PATH")
            return None
        probes = probes_of(path)
        if probes is None:
            reporter.error(span, f"usdt: {path} is not an ELF file tracer can read")
            return None
        return [(path, file if "/" in file else path, probes)]

    def _target(self, path, shown, site, chosen_by_wildcard, span, reporter) -> Optional[Target]:
        name = f"{self.name}:{shown}:{site.provider}:{site.name}"
        if site.pc_offset is None:
            reporter.error(span, f"{name}: its address {site.pc:#x} is not in code that "
                                 f"{shown} loads")
            return None
        if site.semaphore_offset is not None and _semaphore_config(site) is None:
            reporter.warning(span, f"{name} has a semaphore that this kernel cannot set (its "
                                   f"uprobes take no ref_ctr_offset): code that tests it "
                                   f"skips the probe", hint="use a kernel of 4.20 or later")
        return Target(self, name, (path, site, chosen_by_wildcard))

    def builtin(self, name, target):
        m = ARG_RE.match(name)
        if m is None:
            return super().builtin(name, target)
        index = int(m.group(1))
        _, site, chosen_by_wildcard = target.parts
        if index >= len(site.args):
            if chosen_by_wildcard:
                return zero_builtin(name)
            return missing_arg_builtin(name, f"{target.name} has {_arguments(len(site.args))}"
                                             f": there is no {name}")
        try:
            return arg_builtin(name, parse_arg_spec(site.args[index]))
        except ArgSpecError as err:
            return missing_arg_builtin(name, f"cannot read {name} of {target.name}: {err}")

    def attachment(self, target):
        path, site, _ = target.parts
        return PerfEvent(pmu.pmu_type("uprobe") or 0, _semaphore_config(site) or 0,
                         target=path, config2=site.pc_offset, per_process=True)

    def listing(self, pattern, verbose=False):
        return usdt_listing(self.name, pattern)

    def unsupported(self, target):
        # A usdt probe is a uprobe: the same kernel support, the same advice.
        return UprobeProvider.unsupported(self, target)


def _arguments(count: int) -> str:
    """"no arguments", "1 argument (arg0)", "2 arguments (arg0 and arg1)", "3 arguments (arg0
    to arg2)"."""
    names = {0: "", 1: " (arg0)", 2: " (arg0 and arg1)"}.get(count, f" (arg0 to arg{count - 1})")
    return f"{count or 'no'} argument{'' if count == 1 else 's'}{names}"


def _semaphore_config(site: UsdtProbe) -> Optional[int]:
    """The perf config bits that hand the kernel the semaphore's file offset (0 without a
    semaphore); None when the kernel's uprobes cannot take one."""
    if site.semaphore_offset is None:
        return 0
    bits = pmu.format_bits("uprobe", "ref_ctr_offset")
    if bits is None or bits[0] != "config" or site.semaphore_offset >> (bits[2] - bits[1] + 1):
        return None
    return site.semaphore_offset << bits[1]


def _mapped_files(pid: int) -> list[tuple[str, str]]:
    """(path to open, path to show) of each file process ``pid`` maps executable, once each,
    read through its root so that a process in a container is probed in its own files."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found: dict[str, str] = {}
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "x" in fields[1] and fields[5].startswith("/"):
            found.setdefault(fields[5], f"/proc/{pid}/root{fields[5]}")
    return [(path, shown) for shown, path in found.items()]


def _nearest(wanted: str, probes: list[UsdtProbe]) -> Optional[str]:
    if has_wildcard(wanted):
        return None
    names = sorted({p.full_name for p in probes} | {p.name for p in probes})
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    return "did you mean " + " or ".join(close) + "?" if close else None
