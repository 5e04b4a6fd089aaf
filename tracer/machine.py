"""Facts about this machine that the compiler needs, read (never changed) from /sys."""

from __future__ import annotations

import functools
import os

POSSIBLE_CPUS = "/sys/devices/system/cpu/possible"
ONLINE_CPUS = "/sys/devices/system/cpu/online"


@functools.lru_cache(maxsize=1)
def possible_cpus() -> int:
    """How many CPUs this machine may ever have: the number of slots a per-CPU map keeps (one
    for every CPU number up to the highest)."""
    numbers = _cpu_numbers(POSSIBLE_CPUS)
    return max(numbers) + 1 if numbers else os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def online_cpus() -> int:
    """How many CPUs are online now."""
    return len(_cpu_numbers(ONLINE_CPUS)) or os.cpu_count() or 1


def _cpu_numbers(path: str) -> list[int]:
    try:
        with open(path) as f:
            return parse_cpu_list(f.read().strip())
    except OSError:
        return []


def parse_cpu_list(text: str) -> list[int]:
    """The CPU numbers of a kernel CPU list ("0-3", "0,2-5")."""
    numbers: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


@functools.lru_cache(maxsize=1)
def online_cpu_numbers() -> tuple[int, ...]:
    """The numbers of the CPUs online now: where per-CPU perf events are opened."""
    return tuple(_cpu_numbers(ONLINE_CPUS)) or tuple(range(os.cpu_count() or 1))
