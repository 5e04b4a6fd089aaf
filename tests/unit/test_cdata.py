"""C data in the language: kernel structs from this machine's BTF, checked and compiled (not
run: tests/kernel/test_kernel_types.py runs them), and C values decoded and shown as bpftrace
shows them."""

from __future__ import annotations

import pytest

from tracer.cdefs.btf_types import kernel_types
from tracer.check.cdata import closest_members
from tracer.compiler import compile_program
from tracer.diagnostics import CompileError
from tracer.layout import CArray, Layout, Record
from tracer.output.jsonl import json_value
from tracer.output.text import format_value
from tracer.types import (INT32, UINT8, UINT16, ArrayType, Member, PointerType, StringType,
                          StructType, UINT64)

needs_btf = pytest.mark.skipif(kernel_types() is None, reason="this kernel has no BTF")


def error_of(text: str) -> str:
    with pytest.raises(CompileError) as info:
        compile_program(text, "stdin")
    return info.value.render()


def type_of(src: str):
    compiled = compile_program(f"BEGIN {{ $result = {src}; }}", "stdin")
    (variable,) = [v for v in compiled.facts.variables[0] if v.name == "$result"]
    return variable.type


@needs_btf
def test_curtask_is_a_typed_kernel_pointer_and_its_members_typed():
    task = type_of("curtask")
    assert isinstance(task, PointerType) and task.user is False
    assert str(task.target) == "struct task_struct"
    assert type_of("curtask->comm") == StringType(16)
    assert type_of("curtask->pid") == INT32
    assert str(type_of("curtask->real_parent")) == "struct task_struct *"
    assert type_of("curtask->se.load").is_struct
    assert type_of("curtask->real_parent->real_parent->tgid") == INT32
    # bpftrace 0.26: `.` reads through a pointer, and `->` is another spelling of `.`.
    assert type_of("curtask.real_parent.tgid") == INT32
    assert type_of("curtask->se->load.weight") == type_of("curtask.se.load.weight")


@needs_btf
def test_member_reads_use_this_kernels_offsets_and_the_kernel_helper():
    c_text = compile_program("BEGIN { @ = curtask->tgid; }", "stdin").c_text
    tgid = kernel_types().find("struct task_struct").find("tgid")
    assert "bpf_probe_read_kernel(&" in c_text
    assert f"+ {tgid.offset})" in c_text


@pytest.mark.parametrize("src, message", [
    ("curtask->pid.x", "Can not access field 'x' on type 'int32'"),
    ("curtask->pidd", "struct task_struct has no field named 'pidd'"),
    ("((struct task_struct *)0)->comm[40]", "the index 40 is out of bounds for an array of 16"),
    ("sizeof(struct no_such_struct_anywhere)", 'Cannot resolve unknown type "struct '
                                                'no_such_struct_anywhere"'),
    ("offsetof(struct task_struct, nothing_like_this)", "has no field named"),
])
@needs_btf
def test_located_errors(src, message):
    rendered = error_of(f"BEGIN {{ @ = {src}; }}")
    assert message in rendered, rendered
    assert rendered.startswith("stdin:1:") and "Traceback" not in rendered


@needs_btf
def test_a_missing_member_names_the_closest_ones():
    rendered = error_of("BEGIN { @ = curtask->real_parnt; }")
    assert "the closest fields it has: real_parent" in rendered


@needs_btf
def test_sizeof_offsetof_and_enum_constants_are_btfs():
    kernel = kernel_types()
    task = kernel.find("struct task_struct")
    assert type_of("sizeof(struct task_struct)").is_int
    compiled = compile_program("BEGIN { @a = sizeof(struct task_struct); "
                               "@b = offsetof(struct task_struct, se.load.weight); "
                               "@c = PIDTYPE_TGID; }", "stdin")
    se = task.find("se")
    weight = se.type.find("load").offset + se.type.find("load").type.find("weight").offset
    assert f"{task.size}" in compiled.c_text and f"{se.offset + weight}" in compiled.c_text
    assert kernel.enum_constant("PIDTYPE_TGID")[0] == 1


# ---- values ------------------------------------------------------------------------------------

INNER = StructType("struct", "inner", 4, 2, [Member("a", UINT16, 0), Member("b", UINT16, 2)])
BITS = StructType("struct", "bits", 16, 4, [
    Member("low", UINT8, 0, bit_size=3, bit_shift=0),
    Member("delta", INT32, 0, bit_size=5, bit_shift=3),
    Member("inner", INNER, 4),
    Member("", StructType("union", "", 4, 4, [Member("as_int", INT32, 0),
                                               Member("halves", ArrayType(UINT16, 2), 0)]), 8),
    Member("name", StringType(4), 12),
])


def test_a_struct_decodes_with_bitfields_unions_and_arrays():
    raw = bytes([0b10110101, 0, 0, 0, 7, 0, 9, 0, 1, 2, 3, 4]) + b"ab\0\0"
    (value,) = Layout.of([BITS]).decode(raw)
    assert isinstance(value, Record)
    assert value.names == ("low", "delta", "inner", "as_int", "halves", "name")
    # low: bits 0-2 = 0b101; delta: bits 3-7 = 0b10110, as a signed 5-bit number -10.
    assert list(value) == [5, -10, Record(("a", "b"), (7, 9)), 0x04030201,
                           CArray((0x0201, 0x0403)), "ab"]
    assert format_value(value) == ("{ .low = 5, .delta = -10, .inner = { .a = 7, .b = 9 }, "
                                   ".as_int = 67305985, .halves = [513,1027], .name = ab }")
    assert json_value(value) == ('{"low": 5, "delta": -10, "inner": {"a": 7, "b": 9}, '
                                 '"as_int": 67305985, "halves": [513,1027], "name": "ab"}')


def test_struct_types_are_equal_by_kind_name_and_size():
    again = StructType("struct", "inner", 4, 2, lambda: [])
    assert again == INNER and hash(again) == hash(INNER)
    assert StructType("union", "inner", 4, 2, []) != INNER
    anonymous = StructType("struct", "", 4, 4, [])
    assert anonymous != StructType("struct", "", 4, 4, []) and anonymous == anonymous
    assert BITS.find("halves") == Member("halves", ArrayType(UINT16, 2), 8)
    assert UINT64 not in (INNER,)


def test_closest_members_prefer_a_shared_word():
    # struct cfs_rq on 6.18 has no nr_running; its renamed counters keep the "nr".
    names = ["load", "nr_queued", "h_nr_queued", "h_nr_runnable", "h_nr_idle", "avg",
             "runtime_remaining", "zero_vruntime"]
    assert closest_members("nr_running", names) == ["h_nr_runnable", "nr_queued", "h_nr_idle"]
    assert closest_members("lod", names) == ["load"]
    assert closest_members("zzz", names) == []


def test_pointers_print_in_hex_in_text_and_as_numbers_in_json():
    node = StructType("struct", "node", 16, 8, [Member("next", PointerType(None), 0),
                                                 Member("len", UINT64, 8)])
    raw = (0xffff888012345678).to_bytes(8, "little") + (3).to_bytes(8, "little")
    (value,) = Layout.of([node]).decode(raw)
    (fast,) = Layout.of([node, PointerType(None)]).reader()(raw + (16).to_bytes(8, "little"))[:1]
    assert format_value(value) == format_value(fast) == "{ .next = 0xffff888012345678, .len = 3 }"
    # As any integer a double cannot hold exactly: a string (bpftrace 0.26's JSON).
    assert json_value(value) == '{"next": "18446612682375452280", "len": 3}'
    (alone,) = Layout.of([PointerType(None)]).reader()((4096).to_bytes(8, "little"))
    assert format_value(alone) == "0x1000" and json_value(alone) == "4096"


def test_an_unknown_name_says_which_included_headers_gave_nothing():
    rendered = error_of("#include <no/such_header.h>\nBEGIN { @ = NO_SUCH_CONSTANT; }")
    assert "stdin:2:13: error: Unknown identifier: 'NO_SUCH_CONSTANT'" in rendered
    assert "these headers are not installed, so they gave no constants: no/such_header.h" \
        in rendered


def test_included_macro_constants_and_script_definitions_compile_to_their_values():
    c_text = compile_program("#include <sys/socket.h>\n#define TAG 8\n"
                             "struct pair { int a; char tag[TAG]; };\n"
                             "BEGIN { @a = AF_INET6; @b = sizeof(struct pair); "
                             "@c = offsetof(struct pair, tag); }", "stdin").c_text
    assert "= (s8)(10LL);" in c_text and "= (s8)(12);" in c_text and "= (s8)(4);" in c_text
