"""Reading a map's entries straight from the kernel, through libbpf, as raw bytes.

BCC's table objects are not used for the program's maps: they rebuild ctypes types from the C
declarations and fail on some (an ``s8`` member), and tracer decodes keys and values itself
from their types (``tracer.layout``) anyway.
"""

from __future__ import annotations

import ctypes
import errno
import functools
from typing import Iterator

from ..diagnostics import TracerError
from .libbpf import libbpf


@functools.lru_cache(maxsize=1)
def possible_cpus() -> int:
    n = libbpf().libbpf_num_possible_cpus()
    if n <= 0:
        raise TracerError("cannot tell how many CPUs this machine may have")
    return n


def entries(fd: int, key_size: int, value_size: int,
            per_cpu: bool = False) -> Iterator[tuple[bytes, list[bytes]]]:
    """Every (key, values) of a hash or array map; ``values`` has one item per possible CPU
    for a per-CPU map, else just one."""
    lib = libbpf()
    stride = (value_size + 7) // 8 * 8
    cpus = possible_cpus() if per_cpu else 1
    key = ctypes.create_string_buffer(max(key_size, 1))
    next_key = ctypes.create_string_buffer(max(key_size, 1))
    value = ctypes.create_string_buffer(stride * cpus if per_cpu else max(value_size, 1))
    previous = None
    while True:
        if lib.bpf_map_get_next_key(fd, previous, next_key) != 0:
            return
        ctypes.memmove(key, next_key, key_size)
        previous = key
        if lib.bpf_map_lookup_elem(fd, key, value) != 0:
            if ctypes.get_errno() == errno.ENOENT:
                continue  # deleted since the key was listed
            raise TracerError(f"cannot read a map entry: {errno.errorcode.get(ctypes.get_errno())}")
        raw = value.raw
        values = [raw[i * stride:i * stride + value_size] for i in range(cpus)] if per_cpu \
            else [raw[:value_size]]
        yield key.raw[:key_size], values


def all_keys(fd: int, key_size: int) -> list[bytes]:
    """Every key of a hash map, listed before any is changed (deleting while walking the keys
    would restart the walk)."""
    lib = libbpf()
    keys = []
    previous = None
    next_key = ctypes.create_string_buffer(max(key_size, 1))
    while lib.bpf_map_get_next_key(fd, previous, next_key) == 0:
        keys.append(next_key.raw[:key_size])
        previous = ctypes.create_string_buffer(keys[-1], max(key_size, 1))
    return keys


def delete(fd: int, key: bytes) -> None:
    libbpf().bpf_map_delete_elem(fd, ctypes.create_string_buffer(key, max(len(key), 1)))


def update(fd: int, key: bytes, value: bytes) -> None:
    """Write a value (for a per-CPU map: every CPU's, one after another, 8-byte aligned)."""
    lib = libbpf()
    if lib.bpf_map_update_elem(fd, ctypes.create_string_buffer(key, max(len(key), 1)),
                               ctypes.create_string_buffer(value, max(len(value), 1)), 0) != 0:
        raise TracerError(f"cannot write a map entry: {errno.errorcode.get(ctypes.get_errno())}")
