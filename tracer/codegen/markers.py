"""Placeholders the generated C leaves for the loader (``tracer.runtime.loader``) to fill.

Each is a 64-bit immediate load of a marker: the high 32 bits say what kind of placeholder it is,
the low 32 bits which one. An inline ``asm volatile`` keeps clang from folding, moving or
merging it, so the loader finds exactly one ``ld_imm64`` per use.
"""

from __future__ import annotations

CALLBACK_TAG = 0x7ACE7ACE  # the address of callback function number <low>
CONSTANT_TAG = 0x7ACE7ACF  # the value of load-time constant number <low>
MAP_TAG = 0x7ACE7AD0  # the address of map number <low> (its index among the program's maps)

# Load-time constants, by index.
CPID = 0
START_NS = 1  # CLOCK_MONOTONIC when the program was loaded: elapsed counts from it


def _marker(tag: int, index: int) -> str:
    return f"0x{tag:08x}{index:08x}"


def constant(index: int) -> str:
    """A C expression (u64) whose value the loader supplies."""
    return (f"({{ u64 __c; asm volatile(\"%0 = {_marker(CONSTANT_TAG, index)} ll\" : \"=r\"(__c)); "
            f"__c; }})")


def callback_address(index: int) -> str:
    """A C expression (void *) for the address of callback number ``index`` of a program."""
    return (f"({{ void *__f; asm volatile(\"%0 = {_marker(CALLBACK_TAG, index)} ll\" : "
            f"\"=r\"(__f)); __f; }})")


def map_address(index: int) -> str:
    """A C expression (void *) for a map, as helpers that take a map want it."""
    return (f"({{ void *__m; asm volatile(\"%0 = {_marker(MAP_TAG, index)} ll\" : "
            f"\"=r\"(__m)); __m; }})")
