"""From ring-buffer records to the events' handlers, fast enough for a flood.

Each record holds an event: its id (a u64) and then the values its layout describes. The
reader decodes a record and hands its values to its function's ``Event.handle``. Under a flood
one event kind usually fills the buffer with records of one size, back to back; a run of such
records is read in one pass (``struct.iter_unpack`` over a copy of the run) and handed over as
columns to the event's ``handle_batch`` where it has one, which formats them all at once. What
breaks a run (another event, a record still being written, a discarded one) ends it, and the
record-by-record path takes over there.
"""

from __future__ import annotations

import struct
from typing import Callable

from ..passes.resources import WARNING_EVENT_ID, WARNING_LAYOUT
from .resolve import has_symbolic, resolve
from .ringbuf import BUSY, DISCARD, HEADER, RingBuffer

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
RELEASE_EVERY = 256  # records between two hand-backs of space to the kernel (see ringbuf)


class EventReader:
    def __init__(self, ring: RingBuffer, runtime, resources, warnings: list):
        self.ring = ring
        self.runtime = runtime  # the session: handlers' runtime, and its discarding flag
        self.warnings = warnings
        self._single: dict[int, Callable[[object, int], None]] = {}
        self._runs: dict[int, tuple] = {}  # event id -> (record length, batch reader)
        for event_id, site in resources.events.items():
            self._single[event_id] = self._decoder(site)
            if site.event.handle_batch is not None and not has_symbolic(site.layout.types):
                self._runs[event_id] = (site, {})
        self._read_warning = WARNING_LAYOUT.reader()

    def read(self, limit: int = 1 << 62, refresh: bool = True) -> int:
        """Handle waiting records, oldest first, up to about ``limit``; returns how many.
        Without ``refresh``, only those already there when called."""
        ring = self.ring
        memory, mask, start, end = ring.memory, ring.mask, ring.data_start, ring.data_end
        consumer, producer = ring.positions()
        count = released = 0
        runtime = self.runtime
        try:
            while count < limit:
                if consumer >= producer:
                    if not refresh:
                        break
                    producer = ring.producer()
                    if consumer >= producer:
                        break
                offset = start + (consumer & mask)
                header = _U32.unpack_from(memory, offset)[0]
                if header & BUSY:
                    break
                length = header & ~(BUSY | DISCARD)
                stride = (length + HEADER + 7) & ~7
                if header & DISCARD:
                    consumer += stride
                    continue
                if runtime.discarding:
                    consumer += stride
                    count += 1
                    continue
                # The id follows the header, or (the header ending the area) starts it.
                event_id = _U64.unpack_from(memory, offset + HEADER if offset + HEADER < end
                                            else start)[0]
                run = self._runs.get(event_id)
                most = min((producer - consumer) // stride, limit - count,
                           (end - offset) // stride)  # a run stops at the end of the area
                if run is not None and most >= 2:
                    taken = self._read_run(run, event_id, length, stride, offset, most)
                    consumer += taken * stride
                    count += taken
                else:
                    consumer += stride
                    count += 1
                    if offset + stride <= end:
                        self._one(event_id, memory, offset + HEADER)
                    else:  # the record wraps around: put together
                        self._one(event_id, ring.record(offset + HEADER, length), 0)
                if count - released >= RELEASE_EVERY:
                    ring.release(consumer)
                    released = count
        finally:
            ring.release(consumer)  # even when a handler raised: the records before it are done
        return count

    def _one(self, event_id: int, buffer, offset: int) -> None:
        if event_id == WARNING_EVENT_ID:
            _, index, result = self._read_warning(buffer, offset)
            self.runtime.helper_failed(self.warnings[index], result)
        else:
            self._single[event_id](buffer, offset)

    def _read_run(self, run, event_id: int, length: int, stride: int, offset: int,
                  most: int) -> int:
        """Handle up to ``most`` records of one event from ``offset``; returns how many."""
        site, readers = run
        if stride not in readers:
            readers[stride] = (struct.Struct(f"<IxxxxQ{stride - HEADER - 8}x"),
                               site.layout.records_reader(HEADER, stride))
        heads, rows_of = readers[stride]
        raw = self.ring.memory[offset:offset + most * stride]
        expected = (length, event_id)
        headers = list(heads.iter_unpack(raw))
        if headers.count(expected) != most:
            most = next(i for i, h in enumerate(headers) if h != expected)
            raw = raw[:most * stride]
        rows = rows_of(raw)
        columns = list(zip(*rows))[1:]  # without the event id
        site.event.handle_batch(self.runtime, site.facts, columns, most)
        return most

    def _decoder(self, site) -> Callable[[object, int], None]:
        read = site.layout.reader()
        handle, facts, runtime = site.event.handle, site.facts, self.runtime
        if has_symbolic(site.layout.types):
            def on_symbolic(buffer, offset: int) -> None:
                values = read(buffer, offset)
                handle(runtime, facts, [resolve(runtime, v) for v in values[1:]])
            return on_symbolic

        def on_event(buffer, offset: int) -> None:
            handle(runtime, facts, read(buffer, offset)[1:])
        return on_event
