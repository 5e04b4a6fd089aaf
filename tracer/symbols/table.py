"""A symbol table sorted for address lookups, as BCC keeps one for bpftrace's user symbols."""

from __future__ import annotations

from typing import Optional, Sequence

from .cxxsort import cxx_sort_order


class SymbolTable:
    """Symbols as (name, start, size), in the order BCC gathered them.

    They are sorted with std::sort's own (unstable) order, because among several symbols at one
    address BCC reports the last one the sort left there that holds the address."""

    def __init__(self, symbols: Sequence[tuple[str, int, int]]):
        order = cxx_sort_order([symbol[1] for symbol in symbols])
        self._names = [symbols[i][0] for i in order]
        self._starts = [symbols[i][1] for i in order]
        self._sizes = [symbols[i][2] for i in order]

    def __len__(self) -> int:
        return len(self._starts)

    def lookup(self, address: int) -> Optional[tuple[str, int]]:
        """The symbol whose [start, start + size) holds ``address``, as (name, offset).

        Symbols may nest (a function inside a larger object), so this walks back from the
        nearest start at or below the address, and gives up at the first symbol that ends
        before that nearest start: nothing further back can hold the address."""
        starts, sizes = self._starts, self._sizes
        index = _upper_bound(starts, address) - 1
        if index < 0:
            return None
        nearest = starts[index]
        while index >= 0:
            start, end = starts[index], starts[index] + sizes[index]
            if address < end:
                return self._names[index], address - start
            if nearest > end:
                return None
            index -= 1
        return None


def _upper_bound(values: list[int], value: int) -> int:
    """The index of the first element greater than ``value``."""
    low, high = 0, len(values)
    while low < high:
        middle = (low + high) // 2
        if value < values[middle]:
            high = middle
        else:
            low = middle + 1
    return low
