"""Reading a map's entries straight from the kernel, through libbpf, as raw bytes.

BCC's table objects are not used for the program's maps: they rebuild ctypes types from the C
declarations and fail on some (an ``s8`` member), and tracer decodes keys and values itself
from their types (``tracer.layout``) anyway.

A whole map is read with the batch commands (``batch``) where the kernel has them, else by
walking it one key at a time; both give the same ``RawEntries``.
"""

from __future__ import annotations

import ctypes
import errno
import functools
from typing import Iterator

from ..diagnostics import TracerError
from . import batch
from .batch import RawEntries
from .libbpf import libbpf


@functools.lru_cache(maxsize=1)
def possible_cpus() -> int:
    n = libbpf().libbpf_num_possible_cpus()
    if n <= 0:
        raise TracerError("cannot tell how many CPUs this machine may have")
    return n


def value_stride(value_size: int, per_cpu: bool) -> int:
    """The bytes of one entry's value as user space reads it: a per-CPU map gives every possible
    CPU's value, each rounded up to 8 bytes."""
    if per_cpu:
        return (value_size + 7) // 8 * 8 * possible_cpus()
    return max(value_size, 1)


def read_all(fd: int, key_size: int, value_size: int, per_cpu: bool = False) -> RawEntries:
    """Every entry of a hash or array map, in as few system calls as the kernel allows."""
    stride = value_stride(value_size, per_cpu)
    found = batch.lookup_all(fd, key_size, stride)
    return found if found is not None else walk_all(fd, key_size, value_size, per_cpu)


def walk_all(fd: int, key_size: int, value_size: int, per_cpu: bool = False) -> RawEntries:
    """Every entry, one key at a time (get_next_key, then lookup): for kernels without batch
    lookups."""
    lib = libbpf()
    stride = value_stride(value_size, per_cpu)
    key = ctypes.create_string_buffer(max(key_size, 1))
    next_key = ctypes.create_string_buffer(max(key_size, 1))
    value = ctypes.create_string_buffer(stride)
    keys, values = bytearray(), bytearray()
    previous = None
    while lib.bpf_map_get_next_key(fd, previous, next_key) == 0:
        ctypes.memmove(key, next_key, key_size)
        previous = key
        if lib.bpf_map_lookup_elem(fd, key, value) != 0:
            if ctypes.get_errno() == errno.ENOENT:
                continue  # deleted since the key was listed
            raise TracerError(f"cannot read a map entry: {errno.errorcode.get(ctypes.get_errno())}")
        keys += key.raw[:key_size]
        values += value.raw[:stride]
    return RawEntries(len(keys) // key_size, bytes(keys), bytes(values), key_size, stride)


def entries(fd: int, key_size: int, value_size: int,
            per_cpu: bool = False) -> Iterator[tuple[bytes, list[bytes]]]:
    """Every (key, values) of a hash or array map; ``values`` has one item per possible CPU
    for a per-CPU map, else just one."""
    raw = read_all(fd, key_size, value_size, per_cpu)
    cpus = possible_cpus() if per_cpu else 1
    slot = raw.value_stride // cpus
    for i in range(raw.count):
        key = raw.keys[i * key_size:(i + 1) * key_size]
        start = i * raw.value_stride
        yield key, [raw.values[start + c * slot:start + c * slot + value_size]
                    for c in range(cpus)]


def delete(fd: int, key: bytes) -> None:
    libbpf().bpf_map_delete_elem(fd, ctypes.create_string_buffer(key, max(len(key), 1)))


def delete_many(fd: int, keys: bytes, key_size: int) -> None:
    """Delete these keys (back to back), in batches where the kernel allows."""
    if batch.delete_all(fd, keys, key_size):
        return
    for i in range(0, len(keys), key_size):
        delete(fd, keys[i:i + key_size])


def update(fd: int, key: bytes, value: bytes) -> None:
    """Write a value (for a per-CPU map: every CPU's, one after another, 8-byte aligned)."""
    lib = libbpf()
    if lib.bpf_map_update_elem(fd, ctypes.create_string_buffer(key, max(len(key), 1)),
                               ctypes.create_string_buffer(value, max(len(value), 1)), 0) != 0:
        raise TracerError(f"cannot write a map entry: {errno.errorcode.get(ctypes.get_errno())}")


def update_many(fd: int, keys: bytes, values: bytes, key_size: int, value_stride: int) -> None:
    """Write values (back to back, ``value_stride`` bytes each) under keys (back to back), in
    batches where the kernel allows."""
    if batch.update_all(fd, keys, values, key_size, value_stride):
        return
    for i in range(len(keys) // key_size):
        update(fd, keys[i * key_size:(i + 1) * key_size],
               values[i * value_stride:(i + 1) * value_stride])
