"""Kernel symbols from /proc/kallsyms: address -> (name, offset) for ksym and kstack, and
name -> address for kaddr.

The table follows what bpftrace gets from BCC's kernel symbol cache, so that a kernel frame names
the same function bpftrace would: every symbol is kept except data symbols (types b, B, d, D, r,
R), addresses of zero (all of them when kptr_restrict hides the addresses) and addresses below the
kernel's half of the address space; an address belongs to the nearest symbol at or below it, with
no size check, because kallsyms has no sizes.
"""

from __future__ import annotations

import bisect
import platform
from typing import Optional

from .cxxsort import cxx_sort_order

KALLSYMS = "/proc/kallsyms"

# Data symbols never name a code address in a stack, so BCC leaves them out of the table.
_DATA_TYPES = frozenset("bBdDrR")

# On x86_64 user addresses end well below this; anything under it in kallsyms is not code
# (per-CPU offsets and the like). BCC uses the same bound, and none on other machines.
_KERNEL_SPACE_START = {"x86_64": 0x00FFFFFFFFFFFFFF}.get(platform.machine(), 0)

_ALL_ONES = (1 << 64) - 1


class KernelSymbols:
    """The symbols of one kallsyms file, read once on first use and kept sorted by address."""

    def __init__(self, path: str = KALLSYMS):
        self._path = path
        self._addresses: Optional[list[int]] = None
        self._names: list[str] = []
        self._modules: list[str] = []
        self._by_name: dict[str, int] = {}

    def _load(self) -> None:
        entries: list[tuple[int, str, str]] = []
        by_name: dict[str, int] = {}
        try:
            with open(self._path, encoding="utf-8", errors="surrogateescape") as lines:
                for line in lines:
                    parsed = _parse_line(line)
                    if parsed is None:
                        continue
                    address, kind, name, module = parsed
                    # kaddr() takes the first line whose name matches, of any type, but not a
                    # module's symbol: bpftrace splits the line on spaces only, and a module
                    # symbol's name is followed by a tab and "[module]", so it never matches.
                    if not module:
                        by_name.setdefault(name, address)
                    if address in (0, _ALL_ONES) or address < _KERNEL_SPACE_START:
                        continue
                    if kind in _DATA_TYPES:
                        continue
                    entries.append((address, name, module))
        except OSError:
            entries = []
        # Sorted as BCC sorts them, so that of several aliases at one address the lookup below
        # (the last one at or below the address) finds the one bpftrace prints.
        order = cxx_sort_order([entry[0] for entry in entries])
        self._addresses = [entries[i][0] for i in order]
        self._names = [entries[i][1] for i in order]
        self._modules = [entries[i][2] for i in order]
        self._by_name = by_name

    def _table(self) -> list[int]:
        if self._addresses is None:
            self._load()
        assert self._addresses is not None
        return self._addresses

    def resolve(self, address: int) -> Optional[tuple[str, int]]:
        """The symbol at or below ``address`` and the distance from it; None below the first."""
        found = self.resolve_with_module(address)
        return None if found is None else (found[0], found[1])

    def resolve_with_module(self, address: int) -> Optional[tuple[str, int, str]]:
        """Like resolve, plus the module the symbol belongs to ("" for the kernel itself)."""
        addresses = self._table()
        index = bisect.bisect_right(addresses, address) - 1
        if index < 0:
            return None
        return self._names[index], address - addresses[index], self._modules[index]

    def address_of(self, name: str) -> Optional[int]:
        """The address kaddr(name) compiles to; None when no such symbol, or its address is
        hidden (shown as zero)."""
        self._table()
        address = self._by_name.get(name)
        return address or None

    def __len__(self) -> int:
        return len(self._table())


def _parse_line(line: str) -> Optional[tuple[int, str, str, str]]:
    """One kallsyms line "ADDRESS TYPE NAME[\\t[MODULE]]" as (address, type, name, module)."""
    fields = line.split()
    if len(fields) < 3:
        return None
    try:
        address = int(fields[0], 16)
    except ValueError:
        return None
    module = ""
    if len(fields) > 3 and fields[3].startswith("[") and fields[3].endswith("]"):
        module = fields[3][1:-1]
    return address, fields[1], fields[2], module


_default = KernelSymbols()


def resolve(address: int) -> Optional[tuple[str, int]]:
    """The running kernel's symbol for ``address`` as (name, offset), or None."""
    return _default.resolve(address)


def address_of(name: str) -> Optional[int]:
    """The running kernel's address for the symbol ``name`` (kaddr), or None."""
    return _default.address_of(name)
