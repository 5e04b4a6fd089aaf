"""Read the events ring buffer (BPF_MAP_TYPE_RINGBUF) straight from its shared memory.

libbpf's ring_buffer__poll calls back into Python once per event through ctypes, and does not
return while events keep arriving; reading the memory here costs a fraction of that per event
and stops when asked. The kernel's layout (kernel/bpf/ringbuf.c):

* page 0, writable by user space: the consumer position;
* page 1, read-only: the producer position;
* then the data area, which the kernel lets a reader map twice in a row so that a record that
  wraps around its end is contiguous. Mapped pages count in a process's resident memory, so it
  is mapped once here, and the rare record that wraps is put together by ``record``.

A record is an 8-byte header (its length, with a BUSY bit while the producer is still writing
it and a DISCARD bit if it was dropped, then a page offset the kernel uses) and its bytes,
padded to 8. Positions only grow; a record sits at ``position & (size - 1)`` in the data area.
The kernel wakes a waiting reader only when the buffer was empty (the consumer had caught up),
so a reader drains everything before it waits again (``epoll`` on the map's fd). What the
records mean is ``events``' business.
"""

from __future__ import annotations

import mmap
import select
import struct

BUSY = 1 << 31
DISCARD = 1 << 30
HEADER = 8
_U64 = struct.Struct("<Q")


class RingBuffer:
    def __init__(self, fd: int, size: int):
        page = mmap.PAGESIZE
        self.size = size
        self.mask = size - 1
        self._consumer = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                                   offset=0)
        self._memory = mmap.mmap(fd, page + size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self._data_start = page
        self.data_end = page + size
        self._poll = select.epoll()
        self._poll.register(fd, select.EPOLLIN)

    @property
    def memory(self) -> mmap.mmap:
        """The producer page and the data area: record offsets are offsets into this."""
        return self._memory

    @property
    def data_start(self) -> int:
        return self._data_start

    def record(self, offset: int, length: int) -> bytes:
        """The ``length`` bytes from ``offset``, continued at the start of the data area where
        they run past its end."""
        end = offset + length
        if end <= self.data_end:
            return self._memory[offset:end]
        start = self._data_start
        return self._memory[offset:self.data_end] + self._memory[start:start + end - self.data_end]

    def positions(self) -> tuple[int, int]:
        """(consumer, producer): records between the two wait to be read."""
        return _U64.unpack_from(self._consumer, 0)[0], _U64.unpack_from(self._memory, 0)[0]

    def producer(self) -> int:
        return _U64.unpack_from(self._memory, 0)[0]

    def release(self, consumer: int) -> None:
        """Give the space of every record before ``consumer`` back to the kernel."""
        _U64.pack_into(self._consumer, 0, consumer)

    def wake_on(self, fd: int) -> None:
        """Let ``wait`` also end when ``fd`` turns readable (a signal, a process's end)."""
        self._poll.register(fd, select.EPOLLIN)

    def forget(self, fd: int) -> None:
        self._poll.unregister(fd)

    def wait(self, timeout: float) -> None:
        """Sleep until records may be waiting, something ``wake_on`` watches happens, or
        ``timeout`` seconds pass."""
        self._poll.poll(timeout)

    def close(self) -> None:
        self._poll.close()
        self._consumer.close()
        self._memory.close()
