"""``uprobe:FILE:FUNCTION`` and ``uretprobe:FILE:FUNCTION`` (``u:``, ``ur:``): a user-space
function's entry and return, in an executable or a shared library.

FILE is a path, a library name (``libc``) or a program on PATH (``host.binaries``); FUNCTION a
symbol of the file (wildcards expand over its functions), ``FUNCTION+OFFSET``, or an address
(``0x1139``). Symbols come from the file's ELF symbol tables (pyelftools) and become file
offsets through its loadable segments, which is how the kernel's uprobe PMU places a probe, PIE
executables and libraries alike. Like bpftrace, a uprobe is limited to the traced process when
there is one (-p or -c).
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
import re
from typing import Optional

from ..host import binaries, features, pmu
from ..symbols.elf import ElfSymbols, read_elf_symbols
from .base import PerfEvent, Provider, Target, Unsupported, constant_string
from .listed import ListPattern, has_wildcard, simple_listing
from .registers import function_builtin
from .user_listing import listed_files

LOCATION_RE = re.compile(r"^(?P<name>[^+]+?)(?:\+(?P<offset>0[xX][0-9a-fA-F]+|\d+))?$")
ADDRESS_RE = re.compile(r"^(0[xX][0-9a-fA-F]+|\d+)$")


@functools.lru_cache(maxsize=64)
def elf_of(path: str) -> Optional[ElfSymbols]:
    return read_elf_symbols(path)


class UprobeProvider(Provider):
    name = "uprobe"
    aliases = ("u",)
    prog_type = "KPROBE"
    returns = False
    builtin_names = ("argN", "sargN", "func")
    list_group = "user"
    user_memory = True

    def expand(self, parts, span, reporter, ctx):
        if len(parts) != 2 or not all(parts):
            reporter.error(span, f"{self.name} probes are written {self.name}:FILE:FUNCTION",
                           hint=f"for example {self.name}:/bin/bash:readline or "
                                f"{self.name}:libc:malloc")
            return []
        file, where = parts
        path = binaries.resolve(file, ctx.target_pid)
        if path is None or not os.path.isfile(path):
            reporter.error(span, f"{self.name}: no such file or library: {file}",
                           hint="give a path, a library name as ldconfig -p lists it, or a "
                                "program on PATH")
            return []
        elf = elf_of(path)
        if elf is None:
            reporter.error(span, f"{self.name}: {path} is not an ELF file tracer can read")
            return []
        shown = file if "/" in file else path
        return self._locations(elf, path, shown, where, span, reporter, ctx)

    def _locations(self, elf, path, shown, where, span, reporter, ctx) -> list[Target]:
        if ADDRESS_RE.match(where):
            offset = elf.file_offset(int(where, 0))
            if offset is None:
                reporter.error(span, f"{self.name}: address {where} is not in code that "
                                     f"{shown} loads")
                return []
            return [Target(self, f"{self.name}:{shown}:{where}", (path, offset, None))]
        m = LOCATION_RE.match(where)
        if not m:
            reporter.error(span, f"{self.name}: '{where}' is not a function name")
            return []
        name, extra = m.group("name"), int(m.group("offset") or "0", 0)
        if extra and (self.returns or has_wildcard(name)):
            reporter.error(span, f"{self.name}: an offset needs one function, at its entry")
            return []
        functions = elf.functions()
        matches = sorted(n for n in functions if fnmatch.fnmatchcase(n, name))
        if not matches:
            ctx.missing(reporter, span, f"{self.name}: no function {name} in {shown}",
                        hint=lambda: _nearest(name, list(functions)))
            return []
        targets = []
        for function in matches:
            offset = elf.file_offset(functions[function].value)
            if offset is None:
                continue
            suffix = f"+{extra}" if extra else ""
            targets.append(Target(self, f"{self.name}:{shown}:{function}{suffix}",
                                  (path, offset + extra, function)))
        return targets

    def builtin(self, name, target):
        if name == "func" and target.parts[2] is not None:
            return constant_string("func", target.parts[2], "the traced function's name")
        return function_builtin(name, entry=not self.returns, user=True) or \
            super().builtin(name, target)

    def attachment(self, target):
        path, offset, _ = target.parts
        retprobe = pmu.format_bits("uprobe", "retprobe")
        config = 1 << retprobe[1] if self.returns and retprobe else 0
        return PerfEvent(pmu.pmu_type("uprobe") or 0, config, target=path, config2=offset,
                         per_process=True)

    def unsupported(self, target):
        return Unsupported.unless(features.uprobes())

    def listing(self, pattern, verbose=False):
        # FILE:FUNCTION, FILE alone for all of its functions; FILE as expand takes it, or a
        # wildcard over absolute paths (uprobe:/usr/bin/*sh:readline).
        file, _, where = pattern.text.partition(":")
        functions = ListPattern(where or "*")
        found = []
        for path, shown in listed_files(file, self.name):
            elf = elf_of(path)
            if elf is not None:
                found += simple_listing(f"{self.name}:{shown}", functions, elf.functions())
        return found


class UretprobeProvider(UprobeProvider):
    name = "uretprobe"
    aliases = ("ur",)
    returns = True
    builtin_names = ("retval", "func")
    list_group = None  # listed only when named, as bpftrace does


def _nearest(name: str, functions: list[str]) -> Optional[str]:
    if has_wildcard(name):
        return None
    close = difflib.get_close_matches(name, functions, n=3, cutoff=0.75)
    return "did you mean " + " or ".join(close) + "?" if close else None
