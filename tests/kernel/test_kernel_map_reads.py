"""Reading whole maps from the kernel: the batch path (BPF_MAP_LOOKUP_BATCH) and the walk it
falls back to give the same entries, and maps of many thousand keys print exactly.

The first tests make maps directly (bpf_map_create), fill them one entry at a time with known
bytes and read them back; the last ones run tracer on workloads whose map contents are known.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
from types import SimpleNamespace

import pytest

from tracer.passes.resources import MapResource
from tracer.runtime import batch, maps
from tracer.runtime.mapstate import ProgramMaps
from tracer.types import INT64, AggregateType
from outcomes import stdout_of as _ok

CLOSE = "tracepoint:syscalls:sys_enter_close"

# tk_close_range FIRST COUNT: close(fd) for COUNT fds from FIRST (unopened: EBADF, which is all
# we want). The fds are counted in the program, not passed one by one: 20,000 of them on one
# command line would pass the kernel's limit on the length of one argument.
CLOSE_RANGE = r"""
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long first = atol(argv[1]), count = atol(argv[2]);
    for (long i = 0; i < count; i++) close((int)(first + i));
    return 0;
}
"""

HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY = 1, 2, 5, 6
PER_CPU_TYPES = {PERCPU_HASH, PERCPU_ARRAY}
ARRAY_TYPES = {ARRAY, PERCPU_ARRAY}


class MapCreateOpts(ctypes.Structure):
    # struct bpf_map_create_opts (libbpf >= 0.7)
    _fields_ = [("sz", ctypes.c_size_t), ("btf_fd", ctypes.c_uint32),
                ("btf_key_type_id", ctypes.c_uint32), ("btf_value_type_id", ctypes.c_uint32),
                ("btf_vmlinux_value_type_id", ctypes.c_uint32),
                ("inner_map_fd", ctypes.c_uint32), ("map_flags", ctypes.c_uint32),
                ("map_extra", ctypes.c_uint64), ("numa_node", ctypes.c_uint32),
                ("map_ifindex", ctypes.c_uint32)]


@pytest.fixture
def new_map():
    """``new_map(type, key_size, value_size, max_entries) -> fd``, closed after the test.
    A handle of libbpf of its own, so that no signature set here meets tracer's."""
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    create = lib.bpf_map_create
    create.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32,
                       ctypes.c_uint32, ctypes.POINTER(MapCreateOpts)]
    create.restype = ctypes.c_int
    fds = []

    def make(kind: int, key_size: int, value_size: int, max_entries: int) -> int:
        fd = create(kind, b"tk_reads", key_size, value_size, max_entries,
                    ctypes.byref(MapCreateOpts(ctypes.sizeof(MapCreateOpts))))
        assert fd >= 0, f"bpf_map_create: {os.strerror(-fd)}"
        fds.append(fd)
        return fd

    yield make
    for fd in fds:
        os.close(fd)


def _cpu_value(key: int, cpu: int, value_size: int) -> bytes:
    """A value that differs by key and by CPU, so that a slot read from the wrong place shows."""
    return struct.pack("<Q", key * 1000 + cpu + 1).ljust(value_size, bytes([cpu + 0x40]))


def _fill(fd: int, kind: int, count: int, value_size: int) -> dict[bytes, bytes]:
    """Write ``count`` entries one by one; what user space should read back, by key."""
    per_cpu = kind in PER_CPU_TYPES
    cpus = maps.possible_cpus() if per_cpu else 1
    stride = (value_size + 7) // 8 * 8 if per_cpu else value_size
    expected = {}
    for i in range(count):
        key = struct.pack("<I", i) if kind in ARRAY_TYPES else struct.pack("<q", i * 7919 - 5)
        value = b"".join(_cpu_value(i, cpu, value_size).ljust(stride, b"\0")
                         for cpu in range(cpus))
        maps.update(fd, key, value)
        expected[key] = value
    return expected


def _by_key(raw) -> dict[bytes, bytes]:
    return {raw.keys[i * raw.key_size:(i + 1) * raw.key_size]:
            raw.values[i * raw.value_stride:(i + 1) * raw.value_stride]
            for i in range(raw.count)}


@pytest.mark.parametrize("kind", [HASH, PERCPU_HASH, ARRAY, PERCPU_ARRAY],
                         ids=["hash", "percpu_hash", "array", "percpu_array"])
def test_batch_and_walk_read_every_entry_exactly(new_map, kind, monkeypatch):
    count, value_size = 3000, 12  # a value size that per-CPU maps round up to 16
    key_size = 4 if kind in ARRAY_TYPES else 8
    fd = new_map(kind, key_size, value_size, count)
    expected = _fill(fd, kind, count, value_size)
    stride = maps.value_stride(value_size, kind in PER_CPU_TYPES)

    batched = batch.lookup_all(fd, key_size, stride)
    assert batched is not None, "this kernel has batch lookups: the fallback should not be used"
    assert batched.count == count and _by_key(batched) == expected
    walked = maps.walk_all(fd, key_size, value_size, kind in PER_CPU_TYPES)
    assert walked.count == count and _by_key(walked) == expected

    # One entry per call: a hash bucket holding two entries answers ENOSPC, and the read goes on
    # with a bigger count; an array goes on key by key.
    monkeypatch.setattr(batch, "CHUNK_ENTRIES", 1)
    assert _by_key(batch.lookup_all(fd, key_size, stride)) == expected
    # The per-entry view the rest of tracer may use: one value per CPU, each value_size long.
    cpus = maps.possible_cpus() if kind in PER_CPU_TYPES else 1
    assert {key: b"".join(v.ljust(stride // cpus, b"\0") for v in values)
            for key, values in maps.entries(fd, key_size, value_size,
                                            kind in PER_CPU_TYPES)} == expected


def _sum_map(new_map, count: int) -> tuple[ProgramMaps, int, dict[int, int]]:
    """A per-CPU sum() map as the program keeps it, each CPU's slot holding a known part."""
    resource = MapResource("@s", 0, "m0", INT64, AggregateType("sum", (), True), count)
    fd = new_map(PERCPU_HASH, 8, resource.value_size, count)
    cpus = maps.possible_cpus()
    merged = {}
    for i in range(count):
        key = i * 31 - 1000
        parts = [key * (cpu + 1) - cpu for cpu in range(cpus)]  # negative sums too
        maps.update(fd, struct.pack("<q", key), struct.pack(f"<{cpus}q", *parts))
        merged[key] = sum(parts)
    program_maps = ProgramMaps(SimpleNamespace(maps={"@s": resource}), {"m0": fd},
                               lambda value: value)
    return program_maps, fd, merged


def test_per_cpu_sums_merge_exactly_by_batch_and_by_walk(new_map, monkeypatch):
    program_maps, _, merged = _sum_map(new_map, 5000)
    snapshot = program_maps.read("@s")
    assert snapshot.name == "@s" and snapshot.keyed and snapshot.aggregation == "sum"
    assert sorted(snapshot.entries) == sorted(merged.items())

    monkeypatch.setattr(batch, "lookup_all", lambda *args: None)  # as a kernel without batches
    assert sorted(program_maps.read("@s").entries) == sorted(snapshot.entries)


def test_clear_and_zero_through_batches(new_map):
    program_maps, fd, merged = _sum_map(new_map, 3000)
    program_maps.zero("@s")
    assert sorted(program_maps.read("@s").entries) == [(key, 0) for key in sorted(merged)]
    program_maps.clear("@s")
    assert program_maps.read("@s").entries == []
    assert maps.walk_all(fd, 8, 8, True).count == 0


def test_deleting_keys_already_gone_skips_them(new_map):
    fd = new_map(HASH, 8, 8, 100)
    keys = [struct.pack("<q", k) for k in range(10)]
    for key in keys:
        maps.update(fd, key, bytes(8))
    maps.delete(fd, keys[3])
    maps.delete(fd, keys[7])
    maps.delete_many(fd, b"".join(keys), 8)  # 3 and 7 fail with ENOENT: the rest still go
    assert maps.walk_all(fd, 8, 8).count == 0


# ---- tracer, end to end ----------------------------------------------------------------------

FDS = 20000
FIRST_FD = 100000


def test_a_map_of_20000_keys_prints_every_entry_in_order(run_tracer, build_workload):
    closer = build_workload("tk_close_range", CLOSE_RANGE)
    prog = (f"config = {{ max_map_keys = {FDS + 100} }} "
            f"{CLOSE} /pid == cpid && args.fd >= {FIRST_FD}/ {{ @[args.fd] = count(); }}")
    out = _ok(run_tracer("-c", f"{closer} {FIRST_FD} {FDS}", "-e", prog, timeout=120))
    # All counts are 1: equal values go by key, ascending.
    expected = "".join(f"@[{fd}]: 1\n" for fd in range(FIRST_FD, FIRST_FD + FDS))
    assert out == "\n\n" + expected, out[:300]

    json_out = _ok(run_tracer("-f", "json", "-c", f"{closer} {FIRST_FD} {FDS}", "-e", prog,
                              timeout=120))
    maps_lines = [line for line in json_out.splitlines() if '"type": "map"' in line]
    body = ", ".join(f'"{fd}": 1' for fd in range(FIRST_FD, FIRST_FD + FDS))
    assert maps_lines == ['{"type": "map", "data": {"@": {' + body + "}}}"]
    assert len(json.loads(maps_lines[0])["data"]["@"]) == FDS


def test_keys_filled_on_two_cpus_merge_exactly(run_tracer, workload):
    # tk_cpus: fds -1000..-1 closed on CPU 0 and 5000..7999 on CPU 1, at the same time; every
    # key below (the fd's parity) gets values from both CPUs.
    prog = (f'{CLOSE} /comm == "tk_cpus" && ((int32)args.fd < 0 || args.fd >= 5000)/ {{'
            " $fd = (int32)args.fd; @s[$fd & 1] = sum($fd); @n[$fd & 1] = count();"
            " @a[$fd & 1] = avg($fd); @c[cpu] = count(); }")
    out = _ok(run_tracer("-c", workload("tk_cpus"), "-e", prog))
    fds = list(range(-1000, 0)) + list(range(5000, 8000))
    parity = {p: [fd for fd in fds if fd & 1 == p] for p in (0, 1)}
    sums = {p: sum(values) for p, values in parity.items()}
    averages = {p: int(sums[p] / len(parity[p])) for p in parity}  # C truncates toward 0
    assert "@c[0]: 1000\n@c[1]: 3000\n" in out  # the values did come from two CPUs
    assert "@n[0]: 2000\n@n[1]: 2000\n" in out
    order = sorted(parity, key=lambda p: sums[p])
    assert "".join(f"@s[{p}]: {sums[p]}\n" for p in order) in out
    order = sorted(parity, key=lambda p: averages[p])
    assert "".join(f"@a[{p}]: {averages[p]}\n" for p in order) in out
