"""The order C++'s std::sort (GNU libstdc++) leaves elements in, for keys compared with ``<``.

bpftrace names an address through BCC, which sorts its symbol tables with std::sort on the start
address alone. std::sort is not stable: where several symbols share an address (aliases such as
``__x64_sys_getppid`` and ``__ia32_sys_getppid``), which one BCC reports depends on where the sort
happened to leave them. To name the same alias, this module replays the same algorithm
(introsort: median-of-three quicksort down to runs of 16, heapsort when too deep, then one
insertion sort) and reports where each element ends up. Only the order of equal keys depends on
this; everything else is simply sorted.
"""

from __future__ import annotations

from typing import Sequence

_RUN = 16  # libstdc++'s _S_threshold: runs this short are left to the final insertion sort


def cxx_sort_order(keys: Sequence[int]) -> list[int]:
    """Indices into ``keys`` in the order std::sort would leave the elements."""
    sorter = _Sorter(list(keys))
    sorter.sort()
    return sorter.ids


class _Sorter:
    """Sorts ``keys`` in place, moving a parallel list of original indices along with them."""

    def __init__(self, keys: list[int]):
        self.keys = keys
        self.ids = list(range(len(keys)))

    def swap(self, i: int, j: int) -> None:
        keys, ids = self.keys, self.ids
        keys[i], keys[j] = keys[j], keys[i]
        ids[i], ids[j] = ids[j], ids[i]

    def sort(self) -> None:
        n = len(self.keys)
        if n < 2:
            return
        self.introsort(0, n, 2 * (n.bit_length() - 1))
        if n > _RUN:
            self.insertion_sort(0, _RUN)
            for i in range(_RUN, n):
                self.linear_insert(i)
        else:
            self.insertion_sort(0, n)

    def introsort(self, first: int, last: int, depth: int) -> None:
        while last - first > _RUN:
            if depth == 0:
                self.heapsort(first, last)
                return
            depth -= 1
            cut = self.partition_around_median(first, last)
            self.introsort(cut, last, depth)
            last = cut

    def partition_around_median(self, first: int, last: int) -> int:
        keys = self.keys
        a, b, c = first + 1, first + (last - first) // 2, last - 1
        # Move the median of a, b and c to `first`, to serve as the pivot.
        if keys[a] < keys[b]:
            median = b if keys[b] < keys[c] else (c if keys[a] < keys[c] else a)
        else:
            median = a if keys[a] < keys[c] else (c if keys[b] < keys[c] else b)
        self.swap(first, median)
        pivot = keys[first]
        left, right = first + 1, last
        while True:
            while keys[left] < pivot:
                left += 1
            right -= 1
            while pivot < keys[right]:
                right -= 1
            if not left < right:
                return left
            self.swap(left, right)
            left += 1

    def insertion_sort(self, first: int, last: int) -> None:
        keys, ids = self.keys, self.ids
        for i in range(first + 1, last):
            if keys[i] < keys[first]:
                # Smaller than everything so far: shift the whole run right by one.
                key, ident = keys[i], ids[i]
                keys[first + 1:i + 1] = keys[first:i]
                ids[first + 1:i + 1] = ids[first:i]
                keys[first], ids[first] = key, ident
            else:
                self.linear_insert(i)

    def linear_insert(self, position: int) -> None:
        """Move the element at ``position`` left past every larger one (there is a smaller or
        equal element before it, so no bound check is needed)."""
        keys, ids = self.keys, self.ids
        key, ident = keys[position], ids[position]
        previous = position - 1
        while key < keys[previous]:
            keys[position], ids[position] = keys[previous], ids[previous]
            position = previous
            previous -= 1
        keys[position], ids[position] = key, ident

    # Heapsort, used only when the quicksort recursion gets too deep.

    def heapsort(self, first: int, last: int) -> None:
        length = last - first
        if length >= 2:
            parent = (length - 2) // 2
            while True:
                self.adjust_heap(first, parent, length, self.keys[first + parent],
                                 self.ids[first + parent])
                if parent == 0:
                    break
                parent -= 1
        while last - first > 1:
            last -= 1
            key, ident = self.keys[last], self.ids[last]
            self.keys[last], self.ids[last] = self.keys[first], self.ids[first]
            self.adjust_heap(first, 0, last - first, key, ident)

    def adjust_heap(self, first: int, hole: int, length: int, key: int, ident: int) -> None:
        keys, ids = self.keys, self.ids
        top = hole
        child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if keys[first + child] < keys[first + child - 1]:
                child -= 1
            keys[first + hole], ids[first + hole] = keys[first + child], ids[first + child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            keys[first + hole], ids[first + hole] = keys[first + child - 1], ids[first + child - 1]
            hole = child - 1
        # Sift the saved element back up from the hole.
        parent = (hole - 1) // 2
        while hole > top and keys[first + parent] < key:
            keys[first + hole], ids[first + hole] = keys[first + parent], ids[first + parent]
            hole = parent
            parent = (hole - 1) // 2
        keys[first + hole], ids[first + hole] = key, ident
