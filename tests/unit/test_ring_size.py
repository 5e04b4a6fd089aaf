"""The events ring buffer's size: perf_rb_pages as bpftrace 0.26 reads it."""

from __future__ import annotations

import os

import pytest

from tracer.runtime import program

PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("available_kb, pages", [
    (64 << 20, 4096),  # plenty of memory: 16544 KiB, nearest power of two in pages is 4096
    (100, 64),  # little: the 256 KiB floor
    (3500, 1024),  # 875 pages: nearer 1024 than 512
    (2500, 512),  # 625 pages: nearer 512
])
def test_the_default_follows_the_memory_available(monkeypatch, available_kb, pages):
    monkeypatch.setattr(program, "_available_kb", lambda: available_kb)
    assert program.ring_buffer_size(0) == pages * PAGE


@pytest.mark.parametrize("asked, cpus, pages", [(1, 2, 2), (1, 8, 8), (256, 2, 256),
                                                (300, 2, 512), (5, 4, 8)])
def test_pages_asked_for_are_at_least_one_a_cpu_and_a_power_of_two(monkeypatch, asked, cpus,
                                                                   pages):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert program.ring_buffer_size(asked) == pages * PAGE
