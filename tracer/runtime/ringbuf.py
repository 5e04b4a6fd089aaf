"""Read the events ring buffer (BPF_MAP_TYPE_RINGBUF) straight from its shared memory.

libbpf's ring_buffer__poll calls back into Python once per event through ctypes, and does not
return while events keep arriving; reading the memory here costs a fraction of that per event
and stops when asked. The kernel's layout (kernel/bpf/ringbuf.c):

* page 0, writable by user space: the consumer position;
* page 1, read-only: the producer position;
* then the data area, mapped twice in a row, so that a record that wraps around its end is
  still contiguous in memory.

A record is an 8-byte header (its length, with a BUSY bit while the producer is still writing
it and a DISCARD bit if it was dropped, then a page offset the kernel uses) and its bytes,
padded to 8. Positions only grow; a record sits at ``position & (size - 1)`` in the data area.
The kernel wakes a waiting reader only when the buffer was empty (the consumer had caught up),
so a reader drains everything before it waits again (``epoll`` on the map's fd).
"""

from __future__ import annotations

import mmap
import select
import struct
from typing import Callable

BUSY = 1 << 31
DISCARD = 1 << 30
HEADER = 8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
# Hand space back to the kernel after this many records, not only at the end of a batch, so a
# producer racing a long batch finds room sooner.
RELEASE_EVERY = 256


class RingBuffer:
    def __init__(self, fd: int, size: int):
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._consumer = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                                   offset=0)
        self._memory = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                                 offset=page)
        self._data_start = page
        self._poll = select.epoll()
        self._poll.register(fd, select.EPOLLIN)

    @property
    def memory(self) -> mmap.mmap:
        """What a record's offset (as handed to ``consume``'s callback) is an offset into."""
        return self._memory

    def consume(self, handle: Callable[[int, int], None], limit: int = 1 << 62,
                refresh: bool = True) -> int:
        """Hand each waiting record to ``handle(offset, length)``, oldest first, up to ``limit``
        records; returns how many were read. A record still being written ends the batch.
        Without ``refresh``, only the records already there when called are read."""
        memory, mask, start = self._memory, self.mask, self._data_start
        unpack_u32 = _U32.unpack_from
        consumer = _U64.unpack_from(self._consumer, 0)[0]
        producer = _U64.unpack_from(memory, 0)[0]
        count = 0
        try:
            while count < limit:
                if consumer >= producer:
                    if not refresh:
                        break
                    producer = _U64.unpack_from(memory, 0)[0]
                    if consumer >= producer:
                        break
                offset = start + (consumer & mask)
                header = unpack_u32(memory, offset)[0]
                if header & BUSY:
                    break
                length = header & ~(BUSY | DISCARD)
                consumer += (length + HEADER + 7) & ~7
                count += 1
                if not header & DISCARD:
                    handle(offset + HEADER, length)
                if not count % RELEASE_EVERY:
                    _U64.pack_into(self._consumer, 0, consumer)
        finally:
            # Even when a handler raises, the records before it are done and given back.
            _U64.pack_into(self._consumer, 0, consumer)
        return count

    def wait(self, timeout: float) -> None:
        """Sleep until records may be waiting, or ``timeout`` seconds pass."""
        self._poll.poll(timeout)

    def close(self) -> None:
        self._poll.close()
        self._consumer.close()
        self._memory.close()
