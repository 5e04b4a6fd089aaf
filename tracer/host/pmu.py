"""The perf event sources (PMUs) the kernel registered, from /sys/bus/event_source/devices.

A dynamic PMU (kprobe, uprobe) has a type number that perf_event_open takes, and describes its
config bits in format/ files ("config:0" for retprobe, "config:32-63" for ref_ctr_offset). A
source that is missing here is a feature the running kernel lacks: the kprobe PMU exists only
with CONFIG_KPROBES, the cpu PMU only where the processor's counters are visible.
"""

from __future__ import annotations

import functools
import os
from typing import Optional

DEVICES = "/sys/bus/event_source/devices"


def _read(*names: str) -> Optional[str]:
    try:
        with open(os.path.join(DEVICES, *names)) as f:
            return f.read().strip()
    except OSError:
        return None


@functools.lru_cache(maxsize=None)
def pmu_type(name: str) -> Optional[int]:
    """The type number of PMU ``name`` (kprobe, uprobe, breakpoint ...), or None without it."""
    text = _read(name, "type")
    return int(text) if text and text.isdigit() else None


@functools.lru_cache(maxsize=None)
def format_bits(name: str, field: str) -> Optional[tuple[str, int, int]]:
    """Where a PMU's format field lives: ("config", first bit, last bit), or None."""
    text = _read(name, "format", field)
    if not text or ":" not in text:
        return None
    word, _, bits = text.partition(":")
    first, _, last = bits.partition("-")
    try:
        return word, int(first), int(last or first)
    except ValueError:
        return None


def has_hardware_counters() -> bool:
    """Whether the processor's own counters (cycles, instructions ...) can be opened: the cpu
    PMU (cpu_core/cpu_atom on hybrid Intel parts, armv8_pmuv3 and the like elsewhere)."""
    try:
        names = os.listdir(DEVICES)
    except OSError:
        return False
    return any(n == "cpu" or n.startswith(("cpu_", "armv8", "armv7")) for n in names)
