"""libbpf, loaded once through ctypes, with the signature of every function tracer calls.

libbpf 1.x comes with BCC (libbcc links it), so no other package is needed. BCC only compiles;
everything after that goes through libbpf: creating maps, loading programs (with BTF func_info
where they have callbacks), running BEGIN/END programs (BPF_PROG_TEST_RUN), and reading maps as
raw bytes.
"""

from __future__ import annotations

import ctypes
import functools

from ..diagnostics import TracerError


class TestRunOpts(ctypes.Structure):
    # struct bpf_test_run_opts (libbpf >= 0.7)
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("data_in", ctypes.c_void_p), ("data_out", ctypes.c_void_p),
        ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_void_p), ("ctx_out", ctypes.c_void_p),
        ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
        ("retval", ctypes.c_uint32), ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
        ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32), ("batch_size", ctypes.c_uint32),
    ]


class ProgLoadOpts(ctypes.Structure):
    # struct bpf_prog_load_opts (libbpf >= 1.0)
    _fields_ = [
        ("sz", ctypes.c_size_t), ("attempts", ctypes.c_int),
        ("expected_attach_type", ctypes.c_int), ("prog_btf_fd", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32), ("prog_ifindex", ctypes.c_uint32),
        ("kern_version", ctypes.c_uint32), ("attach_btf_id", ctypes.c_uint32),
        ("attach_prog_fd", ctypes.c_uint32), ("attach_btf_obj_fd", ctypes.c_uint32),
        ("fd_array", ctypes.c_void_p),
        ("func_info", ctypes.c_void_p), ("func_info_cnt", ctypes.c_uint32),
        ("func_info_rec_size", ctypes.c_uint32),
        ("line_info", ctypes.c_void_p), ("line_info_cnt", ctypes.c_uint32),
        ("line_info_rec_size", ctypes.c_uint32),
        ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_char_p), ("log_true_size", ctypes.c_uint32),
    ]


class MapCreateOpts(ctypes.Structure):
    # struct bpf_map_create_opts (libbpf >= 0.7)
    _fields_ = [
        ("sz", ctypes.c_size_t), ("btf_fd", ctypes.c_uint32),
        ("btf_key_type_id", ctypes.c_uint32), ("btf_value_type_id", ctypes.c_uint32),
        ("btf_vmlinux_value_type_id", ctypes.c_uint32), ("inner_map_fd", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32), ("map_extra", ctypes.c_uint64),
        ("numa_node", ctypes.c_uint32), ("map_ifindex", ctypes.c_uint32),
    ]


class MapInfo(ctypes.Structure):
    # struct bpf_map_info, as far as tracer reads it (the kernel fills what fits)
    _fields_ = [
        ("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32), ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32), ("name", ctypes.c_char * 16),
    ]


_P, _I, _U32, _SZ, _S = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_size_t,
                         ctypes.c_char_p)
SIGNATURES = {
    "bpf_prog_test_run_opts": ([_I, ctypes.POINTER(TestRunOpts)], _I),
    "bpf_prog_load": ([_I, _S, _S, _S, _SZ, ctypes.POINTER(ProgLoadOpts)], _I),
    "bpf_map_create": ([_I, _S, _U32, _U32, _U32, ctypes.POINTER(MapCreateOpts)], _I),
    "bpf_obj_get_info_by_fd": ([_I, _P, ctypes.POINTER(_U32)], _I),
    "bpf_map_get_next_key": ([_I, _P, _P], _I),
    "bpf_map_lookup_elem": ([_I, _P, _P], _I),
    "bpf_map_update_elem": ([_I, _P, _P, ctypes.c_uint64], _I),
    "bpf_map_delete_elem": ([_I, _P], _I),
    "libbpf_num_possible_cpus": ([], _I),
    "bpf_raw_tracepoint_open": ([_S, _I], _I),
    "btf__new_empty": ([], _P),
    "btf__free": ([_P], None),
    "btf__add_int": ([_P, _S, _SZ, _I], _I),
    "btf__add_func_proto": ([_P, _I], _I),
    "btf__add_func_param": ([_P, _S, _I], _I),
    "btf__add_func": ([_P, _S, _I, _I], _I),
    "btf__load_into_kernel": ([_P], _I),
    "btf__fd": ([_P], _I),
}


@functools.lru_cache(maxsize=1)
def libbpf():
    try:
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    except OSError as err:
        raise TracerError(f"cannot load libbpf: {err}",
                          hint="install libbpf1 (it comes with python3-bpfcc)") from None
    for name, (args, result) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, result
    return lib
