"""The event reader over a ring buffer's memory: records in runs and one by one, records that
wrap around the end of the data area, discarded and unfinished records (no kernel needed: the
memory is built here as the kernel lays it out)."""

from __future__ import annotations

import struct
from types import SimpleNamespace

from tracer import types as T
from tracer.functions.base import Event
from tracer.layout import Layout
from tracer.runtime.events import EventReader
from tracer.runtime.ringbuf import BUSY, DISCARD, HEADER

PAGE = 4096


class FakeRing:
    """The consumer/producer positions and one mapping of the data area, as RingBuffer has."""

    def __init__(self, size: int):
        self.size, self.mask = size, size - 1
        self.memory = bytearray(PAGE + size)
        self.data_start, self.data_end = PAGE, PAGE + size
        self.consumer = self.position = 0

    def put(self, payload: bytes, flags: int = 0) -> None:
        offset = self.position & self.mask
        header = struct.pack("<II", len(payload) | flags, 0)
        record = header + payload + bytes(-len(payload) % 8)
        for i, byte in enumerate(record):  # wraps byte by byte, as the double mapping would
            self.memory[PAGE + (offset + i) % self.size] = byte
        self.position += len(record)
        struct.pack_into("<Q", self.memory, 0, self.position)

    def positions(self):
        return self.consumer, self.position

    def producer(self):
        return self.position

    def release(self, consumer: int) -> None:
        self.consumer = consumer

    def record(self, offset: int, length: int) -> bytes:
        end = offset + length
        if end <= self.data_end:
            return bytes(self.memory[offset:end])
        return bytes(self.memory[offset:self.data_end]
                     + self.memory[PAGE:PAGE + end - self.data_end])


def reader_for(ring, batch: bool):
    """Event 1: (u32 n, string s); event 2: (s64 v). Each handler records what it got."""
    got = []
    one = Layout.of([T.IntType(64, False), T.IntType(32, False), T.StringType(13)])
    two = Layout.of([T.IntType(64, False), T.IntType(64, True)])
    batch_handler = (lambda rt, facts, columns, count: got.extend(
        (facts, *row) for row in zip(*columns))) if batch else None
    events = {
        1: SimpleNamespace(layout=one, facts="one", event=Event(
            None, lambda rt, facts, values: got.append((facts, *values)),
            handle_batch=batch_handler)),
        2: SimpleNamespace(layout=two, facts="two", event=Event(
            None, lambda rt, facts, values: got.append((facts, *values)))),
    }
    runtime = SimpleNamespace(discarding=False, helper_failed=None)
    reader = EventReader(ring, runtime, SimpleNamespace(events=events), [])
    return reader, got, one, two


def put_one(ring, layout, n: int, text: bytes) -> None:
    ring.put(struct.pack("<QI13s", 1, n, text) + bytes(layout.size - 25))


def test_runs_and_single_records_wrapping_around_give_every_event_in_order():
    for batch in (True, False):
        ring = FakeRing(PAGE)
        reader, got, one, two = reader_for(ring, batch)
        expected = []
        for round_ in range(40):  # about 25 times round the 4 KiB area
            for i in range(7):
                n = round_ * 10 + i
                put_one(ring, one, n, b"name%d" % n)
                expected.append(("one", n, "name%d" % n))
            ring.put(struct.pack("<Qq", 2, -round_))
            expected.append(("two", -round_))
            assert reader.read() == 8
        assert got == expected
        assert ring.consumer == ring.position


def test_discarded_records_are_skipped_and_an_unfinished_one_ends_the_read():
    ring = FakeRing(PAGE)
    reader, got, one, two = reader_for(ring, True)
    ring.put(struct.pack("<Qq", 2, 5), DISCARD)
    put_one(ring, one, 1, b"a")
    put_one(ring, one, 2, b"b")
    before = ring.position
    ring.put(struct.pack("<Qq", 2, 6), BUSY)  # still being written
    assert reader.read() == 2
    assert got == [("one", 1, "a"), ("one", 2, "b")]
    assert ring.consumer == before


def test_a_limit_and_the_producer_position_seen_bound_a_read():
    ring = FakeRing(4 * PAGE)
    reader, got, one, _ = reader_for(ring, True)
    for n in range(100):
        put_one(ring, one, n, b"x")
    assert reader.read(limit=30) == 30
    assert [g[1] for g in got] == list(range(30))
    assert reader.read(refresh=False) == 70
    assert [g[1] for g in got] == list(range(100))
    assert ring.consumer == ring.position
    assert HEADER == 8
