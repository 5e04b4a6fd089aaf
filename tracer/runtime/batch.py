"""Reading, deleting and writing a map's entries many at a time (the BPF_MAP_*_BATCH commands).

One system call per entry (get_next_key, then lookup) costs seconds for a map of 100,000 keys;
the batch commands move thousands of entries per call. They exist for hash and array maps, per
CPU or not, since Linux 5.6 (arrays since 5.9). Where the kernel refuses them, each function
here returns None and the caller (``maps``) walks the map one entry at a time instead.

The libbpf functions are not among those ``libbpf.py`` declares; their signatures are set here,
on the same library handle, the first time they are needed.
"""

from __future__ import annotations

import ctypes
import errno
import functools
from dataclasses import dataclass
from typing import Optional

from ..diagnostics import TracerError
from .libbpf import libbpf

# Entries asked for per call, and a bound on the bytes one call's buffers take (a per-CPU
# histogram slot can be kilobytes per entry).
CHUNK_ENTRIES = 4096
CHUNK_BYTES = 16 << 20

# The kernel's ENOTSUPP (524), which the errno module does not know: a map type without batch
# operations answers with it.
ENOTSUPP = 524

# Answers that mean "no batch operations here" rather than "something went wrong".
UNSUPPORTED = frozenset({errno.EINVAL, errno.EPERM, ENOTSUPP, errno.EOPNOTSUPP, errno.ENOSYS})


class BatchOpts(ctypes.Structure):
    # struct bpf_map_batch_opts (libbpf >= 0.0.7)
    _fields_ = [("sz", ctypes.c_size_t), ("elem_flags", ctypes.c_uint64),
                ("flags", ctypes.c_uint64)]


_P, _COUNT, _OPTS = ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(BatchOpts)
_SIGNATURES = {
    "bpf_map_lookup_batch": [ctypes.c_int, _P, _P, _P, _P, _COUNT, _OPTS],
    "bpf_map_delete_batch": [ctypes.c_int, _P, _COUNT, _OPTS],
    "bpf_map_update_batch": [ctypes.c_int, _P, _P, _COUNT, _OPTS],
}


@functools.lru_cache(maxsize=None)
def batch_function(name: str):
    """A batch function of libbpf, its signature set (it returns -errno on failure)."""
    fn = getattr(libbpf(), name)
    fn.argtypes, fn.restype = _SIGNATURES[name], ctypes.c_int
    return fn


@functools.lru_cache(maxsize=1)
def _options():
    return ctypes.byref(BatchOpts(ctypes.sizeof(BatchOpts), 0, 0))


@dataclass(frozen=True)
class RawEntries:
    """A map's entries as the kernel gave them: ``count`` keys of ``key_size`` bytes back to
    back, and their values back to back, ``value_stride`` bytes each (a per-CPU map's value is
    every possible CPU's, each rounded up to 8 bytes)."""

    count: int
    keys: bytes
    values: bytes
    key_size: int
    value_stride: int


def _failure(what: str, err: int) -> TracerError:
    return TracerError(f"cannot {what} map entries: {errno.errorcode.get(err, err)}")


def lookup_all(fd: int, key_size: int, value_stride: int) -> Optional[RawEntries]:
    """Every entry of a hash or array map, in chunks; None if the kernel has no batch lookup for
    this map."""
    lookup = batch_function("bpf_map_lookup_batch")
    chunk = max(1, min(CHUNK_ENTRIES, CHUNK_BYTES // (key_size + value_stride)))
    # The position to go on from: a bucket number for a hash map, a key for an array.
    position = ctypes.create_string_buffer(max(key_size, 8))
    keys, values = bytearray(), bytearray()
    count = ctypes.c_uint32()
    start = None  # the first call starts from the beginning
    allocated = 0
    while True:
        if allocated < chunk:
            key_buffer = ctypes.create_string_buffer(chunk * key_size)
            value_buffer = ctypes.create_string_buffer(chunk * value_stride)
            allocated = chunk
        count.value = chunk
        result = lookup(fd, start, position, key_buffer, value_buffer, ctypes.byref(count),
                        _options())
        err = -result if result < 0 else 0
        if err == errno.ENOSPC and count.value == 0:
            # One hash bucket holds more entries than were asked for: ask for more.
            chunk *= 2
            continue
        if err in UNSUPPORTED and start is None:
            return None
        if err not in (0, errno.ENOENT):
            raise _failure("read", err)
        got = count.value
        keys += memoryview(key_buffer).cast("B")[:got * key_size]
        values += memoryview(value_buffer).cast("B")[:got * value_stride]
        if err == errno.ENOENT or got == 0:  # ENOENT: nothing after these
            return RawEntries(len(keys) // key_size, bytes(keys), bytes(values), key_size,
                              value_stride)
        start = position


def delete_all(fd: int, keys: bytes, key_size: int) -> bool:
    """Delete these keys (back to back); a key already gone is skipped. False if the kernel has
    no batch delete for this map."""
    delete = batch_function("bpf_map_delete_batch")
    total = len(keys) // key_size
    done = 0
    count = ctypes.c_uint32()
    while done < total:
        count.value = min(CHUNK_ENTRIES, total - done)
        chunk = ctypes.create_string_buffer(keys[done * key_size:(done + count.value) * key_size])
        result = delete(fd, chunk, ctypes.byref(count), _options())
        err = -result if result < 0 else 0
        if err in UNSUPPORTED and done == 0 and count.value == 0:
            return False
        done += count.value
        if err == errno.ENOENT:
            done += 1  # deleted meanwhile (the probe's own delete()): nothing to do for it
        elif err:
            raise _failure("delete", err)
    return True


def update_all(fd: int, keys: bytes, values: bytes, key_size: int, value_stride: int) -> bool:
    """Write these values (back to back) under these keys. False if the kernel has no batch
    update for this map."""
    update = batch_function("bpf_map_update_batch")
    total = len(keys) // key_size
    done = 0
    count = ctypes.c_uint32()
    while done < total:
        count.value = min(CHUNK_ENTRIES, total - done)
        end = done + count.value
        key_chunk = ctypes.create_string_buffer(keys[done * key_size:end * key_size])
        value_chunk = ctypes.create_string_buffer(values[done * value_stride:end * value_stride])
        result = update(fd, key_chunk, value_chunk, ctypes.byref(count), _options())
        err = -result if result < 0 else 0
        if err in UNSUPPORTED and done == 0 and count.value == 0:
            return False
        if err:
            raise _failure("write", err)
        done += count.value
    return True
