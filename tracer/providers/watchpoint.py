"""``watchpoint:ADDRESS:LENGTH:MODE`` (``w:``): a hardware breakpoint that fires when memory at
ADDRESS is read (``r``), written (``w``) or executed (``x``), as a perf breakpoint event.

A user-space address means something only in one process: such a watchpoint needs -p or -c
and watches that process alone. A kernel address (the upper half) is watched on every CPU.
LENGTH is 1, 2, 4 or 8 bytes; MODE any of ``r``, ``w`` and ``x`` that the processor allows
together (``rw``, ``w``, ``x``).
"""

from __future__ import annotations

import platform

from ..host import features
from ..literals import LiteralError, parse_int
from ..machine import online_cpu_numbers
from .base import PerfEvent, Provider, Target, Unsupported

PERF_TYPE_BREAKPOINT = 5
MODE_BITS = {"r": 1, "w": 2, "x": 4}  # HW_BREAKPOINT_R, _W, _X
# The combinations each processor can watch: x86 has no read-only breakpoints.
ALLOWED_MODES = {"x86_64": {2, 3, 4}, "aarch64": {1, 2, 3, 4}}
MODES_SAID = {"x86_64": "w, rw or x", "aarch64": "r, w, rw or x"}
KERNEL_HALF = 1 << 63


class WatchpointProvider(Provider):
    name = "watchpoint"
    aliases = ("w",)
    prog_type = "PERF_EVENT"
    context_type = "void"

    def expand(self, parts, span, reporter, ctx):
        if len(parts) != 3:
            reporter.error(span, "watchpoint probes are written watchpoint:ADDRESS:LENGTH:MODE",
                           hint="for example watchpoint:0x10000000:8:w")
            return []
        try:
            address, length = parse_int(parts[0]), parse_int(parts[1])
        except LiteralError as err:
            reporter.error(span, f"watchpoint: {err.message}")
            return []
        bits = 0
        for letter in parts[2]:
            bits |= MODE_BITS.get(letter, 1 << 8)
        machine = platform.machine()
        if bits not in ALLOWED_MODES.get(machine, {1, 2, 3, 4}):
            reporter.error(span, f"watchpoint: invalid mode '{parts[2]}'",
                           hint=f"the mode is {MODES_SAID.get(machine, 'r, w, rw or x')} on "
                                f"{machine}")
            return []
        if length not in (1, 2, 4, 8):
            reporter.error(span, f"watchpoint: invalid length {length}",
                           hint="a watchpoint covers 1, 2, 4 or 8 bytes")
            return []
        user = address < KERNEL_HALF
        if user and ctx.target_pid is None and not ctx.has_child:
            reporter.error(span, "watchpoint: a user-space address needs a process to watch",
                           hint="give one with -p PID or start one with -c CMD")
            return []
        return [Target(self, f"watchpoint:{hex(address)}:{length}:{parts[2]}",
                       (address, length, bits, user))]

    def attachment(self, target):
        address, length, bits, user = target.parts
        return PerfEvent(PERF_TYPE_BREAKPOINT, 0, 1, config1=address, config2=length,
                         bp_type=bits, per_process=user, cpus=online_cpu_numbers())

    def unsupported(self, target):
        return Unsupported.unless(features.hw_breakpoints())
