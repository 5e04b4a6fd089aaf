"""Where the buffers of one probe function live: on the BPF stack, or in per-CPU scratch memory.

The kernel gives a BPF program 512 bytes of stack, shared with clang's own spills and with the
frames of any loop callbacks. Small buffers (up to ``on_stack_limit`` bytes, bpftrace's rule)
go on the stack while a budget lasts; the rest go to this probe's slice of a per-CPU array
map, at offsets given here. A statement's temporaries are released when the statement ends, so
long probes reuse the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

STACK_BUDGET = 192  # bytes of buffers on the stack at once; the rest of 512 is clang's
SCRATCH_LIMIT = 32 * 1024  # the kernel's limit on a per-CPU map value
SCRATCH_ALIGN = 8


@dataclass(frozen=True)
class Placement:
    on_stack: bool
    offset: Optional[int] = None  # within the probe's scratch slice


class Memory:
    def __init__(self, on_stack_limit: int):
        self.on_stack_limit = on_stack_limit
        self.stack_used = 0
        self.scratch_used = 0
        self.scratch_high = 0  # the most scratch this probe ever needs at once

    def place(self, size: int, stack_allowed: bool = True) -> Placement:
        if stack_allowed and size <= self.on_stack_limit and \
                self.stack_used + size <= STACK_BUDGET:
            self.stack_used += (size + 7) // 8 * 8
            return Placement(True)
        offset = self.scratch_used
        self.scratch_used = (offset + size + SCRATCH_ALIGN - 1) // SCRATCH_ALIGN * SCRATCH_ALIGN
        self.scratch_high = max(self.scratch_high, self.scratch_used)
        return Placement(False, offset)

    def mark(self) -> tuple[int, int]:
        return self.stack_used, self.scratch_used

    def release(self, mark: tuple[int, int]) -> None:
        self.stack_used, self.scratch_used = mark
