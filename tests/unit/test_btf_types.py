"""Kernel types from BTF (``cdefs.btf_types``) and their C listing (``cdefs.btf_dump``): against
the running kernel's /sys/kernel/btf/vmlinux, against small BTF blobs written here byte by byte
(bitfields with and without kflag, enums with negative values, split module BTF ...), against
gcc's own BTF, and, for the listing, against bpftrace 0.17 itself."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from tracer.cdefs import btf_dump
from tracer.cdefs.btf_dump import c_definition, c_definitions
from tracer.cdefs.btf_types import BtfTypes, kernel_types
from tracer.host import btf as host
from tracer.host.btf import (ARRAY, CONST, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, STRUCT,
                             TYPE_TAG, TYPEDEF, UNION, VOLATILE)
from tracer.types import (BOOL, INT16, INT32, INT64, UINT8, UINT32, UINT64, ArrayType,
                          OpaqueType, PointerType, StringType, StructRef, StructType)

needs_kernel_btf = pytest.mark.skipif(
    host.vmlinux() is None, reason="no kernel BTF (/sys/kernel/btf/vmlinux) or no libbpf")


# ---------------------------------------------------------------------------------------------
# A BTF blob, written by hand


class BtfBuilder:
    """Raw BTF, one type at a time; each ``add_*`` returns the new type's id. For a split blob
    (a module's), ids go on from the base's and string offsets from the end of its strings."""

    def __init__(self, first_id: int = 1, base_strings: int = 0):
        self.records: list[bytes] = []
        self.strings = bytearray() if base_strings else bytearray(b"\0")
        self.base_strings, self.next_id = base_strings, first_id

    def string(self, text: str) -> int:
        if not text:
            return 0
        offset = self.base_strings + len(self.strings)
        self.strings += text.encode() + b"\0"
        return offset

    def add(self, kind, name, size_or_type, vlen=0, kflag=False, tail=b"") -> int:
        info = kind << 24 | vlen | int(kflag) << 31
        self.records.append(struct.pack("<III", self.string(name), info, size_or_type) + tail)
        self.next_id += 1
        return self.next_id - 1

    def add_int(self, name, size, signed=False, bits=0, shift=0, boolean=False) -> int:
        encoding = (int(signed) | 4 * int(boolean)) << 24 | shift << 16 | (bits or size * 8)
        return self.add(INT, name, size, tail=struct.pack("<I", encoding))

    def add_array(self, element, count, index) -> int:
        return self.add(ARRAY, "", 0, tail=struct.pack("<III", element, index, count))

    def add_struct(self, name, size, members, kflag=False, union=False) -> int:
        """members: (name, type id, bit offset, bit size)."""
        tail = b"".join(struct.pack("<III", self.string(m), t, (bits << 24 | off) if kflag else off)
                        for m, t, off, bits in members)
        return self.add(UNION if union else STRUCT, name, size, len(members), kflag, tail)

    def add_enum(self, name, size, values, signed=False) -> int:
        tail = b"".join(struct.pack("<II", self.string(n), v & 0xFFFFFFFF) for n, v in values)
        return self.add(ENUM, name, size, len(values), signed, tail)

    def add_enum64(self, name, values, signed=False) -> int:
        tail = b"".join(struct.pack("<III", self.string(n), v & 0xFFFFFFFF, v >> 32 & 0xFFFFFFFF)
                        for n, v in values)
        return self.add(ENUM64, name, 8, len(values), signed, tail)

    def blob(self) -> bytes:
        types = b"".join(self.records)
        header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                             len(self.strings))
        return header + types + bytes(self.strings)


def base_blob() -> tuple[bytes, dict[str, int]]:
    """A blob with one of everything the conversion handles; returns it and the ids by name."""
    b, ids = BtfBuilder(), {}
    i32 = ids["int"] = b.add_int("int", 4, signed=True)
    u32 = ids["unsigned int"] = b.add_int("unsigned int", 4)
    char = b.add_int("char", 1)  # the kernel builds with -funsigned-char: no sign flag
    uchar = b.add_int("unsigned char", 1)
    short = b.add_int("short int", 2, signed=True)
    boolean = b.add_int("_Bool", 1, boolean=True)
    b.add_int("__int128", 16, signed=True)
    long_ = b.add_int("long unsigned int", 8)
    # Old-style bitfields (no kflag): an int type narrower than its size, maybe shifted.
    u32_3 = b.add_int("unsigned int", 4, bits=3)
    u32_5_at_2 = b.add_int("unsigned int", 4, bits=5, shift=2)
    b.add_struct("old_bits", 8, [("a", u32_3, 0, 0), ("b", u32_5_at_2, 1, 0), ("c", i32, 32, 0)])
    # kflag bitfields, one of them crossing a byte boundary.
    b.add_struct("new_bits", 8, [("a", u32, 0, 3), ("b", u32, 3, 5), ("c", u32, 10, 12),
                                 ("d", i32, 32, 0)], kflag=True)
    # typedef int a_t; typedef a_t b_t; typedef const volatile b_t c_t;
    a_t = b.add(TYPEDEF, "a_t", i32)
    b_t = b.add(TYPEDEF, "b_t", a_t)
    c_t = b.add(TYPEDEF, "c_t", b.add(CONST, "", b.add(VOLATILE, "", b_t)))
    # struct outer { int x; union { int a; struct { short b; short c; }; }; c_t t; };
    inner = b.add_struct("", 4, [("b", short, 0, 0), ("c", short, 16, 0)])
    middle = b.add_struct("", 4, [("a", i32, 0, 0), ("", inner, 0, 0)], union=True)
    b.add_struct("outer", 12, [("x", i32, 0, 0), ("", middle, 32, 0), ("t", c_t, 64, 0)])
    # Arrays: of char (also through a typedef and const), unsigned char, int, and empty ones.
    mychar = b.add(TYPEDEF, "mychar", char)
    const_mychar = b.add(CONST, "", mychar)
    arrays = [("name", b.add_array(char, 16, u32), 16),
              ("tag", b.add_array(const_mychar, 4, u32), 4),
              ("bytes", b.add_array(uchar, 6, u32), 6), ("nums", b.add_array(i32, 5, u32), 20),
              ("chars0", b.add_array(char, 0, u32), 0), ("ints0", b.add_array(i32, 0, u32), 0)]
    members, offset = [], 0
    for name, type_id, size in arrays:
        offset = (offset + 3) // 4 * 4
        members.append((name, type_id, offset * 8, 0))
        offset += size
    b.add_struct("arrays", offset, members)
    # Forward declarations, pointers of every sort, a float, a bool.
    fwd = b.add(FWD, "opaque", 0)
    b.add(FWD, "uopaque", 0, kflag=True)
    proto = b.add(FUNC_PROTO, "", i32)
    user_int = b.add(TYPE_TAG, "user", i32)
    double = b.add(FLOAT, "double", 8)
    pointers = {"op": b.add(PTR, "", fwd), "fn": b.add(PTR, "", proto), "vp": b.add(PTR, "", 0),
                "up": b.add(PTR, "", user_int)}
    node_ptr = b.add(PTR, "", b.next_id + 1)  # to struct node, the next type
    ids["node"] = b.add_struct("node", 72, [
        ("next", node_ptr, 0, 0), ("op", pointers["op"], 64, 0), ("fn", pointers["fn"], 128, 0),
        ("vp", pointers["vp"], 192, 0), ("up", pointers["up"], 256, 0), ("dbl", double, 320, 0),
        ("flag", boolean, 384, 0), ("len", long_, 448, 0), ("v", i32, 512, 0)])
    assert ids["node"] == node_ptr + 1
    # Enums: signed (kflag) with negative values, unsigned holding 0xffffffff, 64-bit ones.
    b.add_enum("sign", 4, [("NEG", -1), ("POS", 2)], signed=True)
    b.add_enum("usign", 4, [("ALL_ONES", 0xFFFFFFFF)])
    b.add_enum("small", 1, [("SMALL_ONE", 1)])
    b.add_enum64("big", [("HUGE", 1 << 40)])
    b.add_enum64("sbig", [("MINUS_FIVE", -5)], signed=True)
    ids["strings"] = len(b.strings)
    ids["count"] = b.next_id
    return b.blob(), ids


@pytest.fixture
def blob_types(tmp_path):
    blob, ids = base_blob()
    path = tmp_path / "base.btf"
    path.write_bytes(blob)
    btf = host.parse(str(path))
    assert btf is not None, "libbpf refused the hand-written BTF"
    yield BtfTypes(btf, module_dir=str(tmp_path / "no-modules")), ids
    btf.free()


# ---------------------------------------------------------------------------------------------
# Hand-written blobs


def test_old_style_bitfields_come_from_the_int_encoding(blob_types):
    types, _ = blob_types
    bits = types.find("struct old_bits")
    a, b, c = bits.find("a"), bits.find("b"), bits.find("c")
    assert (a.offset, a.bit_size, a.bit_shift, a.type) == (0, 3, 0, UINT32)
    assert (b.offset, b.bit_size, b.bit_shift) == (0, 5, 3)  # member bit 1, int offset 2
    assert (c.offset, c.bit_size, c.type) == (4, 0, INT32) and not c.is_bitfield


def test_kflag_bitfields_come_from_the_member_offset(blob_types):
    types, _ = blob_types
    bits = types.find("struct new_bits")
    got = [(m.name, m.offset, m.bit_size, m.bit_shift) for m in bits.members]
    assert got == [("a", 0, 3, 0), ("b", 0, 5, 3), ("c", 1, 12, 2), ("d", 4, 0, 0)]


def test_nested_anonymous_members_are_found_through_find(blob_types):
    types, _ = blob_types
    outer = types.find("struct outer")
    assert [m.name for m in outer.members] == ["x", "", "t"]
    assert outer.members[1].type.kind == "union" and outer.members[1].type.name == ""
    assert outer.find("a").offset == 4 and outer.find("a").type == INT32
    assert (outer.find("c").offset, outer.find("c").type) == (6, INT16)
    assert outer.member_names() == ["x", "a", "b", "c", "t"]
    assert (outer.size, outer.align) == (12, 4)


def test_arrays_of_plain_char_are_strings_and_others_arrays(blob_types):
    types, _ = blob_types
    arrays = types.find("struct arrays")
    assert arrays.find("name").type == StringType(16)
    assert arrays.find("tag").type == StringType(4)  # const mychar, mychar a typedef of char
    assert arrays.find("bytes").type == ArrayType(UINT8, 6)
    assert arrays.find("nums").type == ArrayType(INT32, 5)
    assert arrays.find("chars0").type == StringType(0)
    assert arrays.find("ints0").type == ArrayType(INT32, 0)
    assert arrays.find("nums").offset == 28


def test_typedef_chains_resolve_to_the_underlying_type(blob_types):
    types, _ = blob_types
    assert types.find("a_t") == INT32
    assert types.find("c_t") == INT32
    assert types.find("struct outer").find("t").type == INT32
    assert types.find("mychar") == UINT8
    assert types.find("unsigned int") == UINT32
    assert types.find("no_such_t") is None


def test_forward_declarations_are_struct_refs(blob_types):
    types, _ = blob_types
    assert types.find("struct opaque") == StructRef("struct opaque")
    assert types.find("union uopaque") == StructRef("union uopaque")
    assert types.find("union opaque") is None
    assert types.find("struct node").find("op").type == PointerType(StructRef("struct opaque"),
                                                                     False)


def test_pointers_ints_and_opaque_types(blob_types):
    types, _ = blob_types
    node = types.find("struct node")
    assert node.find("next").type.target is node  # a struct that points to itself
    assert node.find("fn").type == PointerType(None, False)  # a function pointer
    assert node.find("vp").type == PointerType(None, False)
    assert node.find("up").type == PointerType(INT32, True)  # __user
    assert node.find("dbl").type == OpaqueType("double", 8, 8)
    assert node.find("flag").type == BOOL
    assert node.find("len").type == UINT64
    wide = types.find("__int128")
    assert isinstance(wide, OpaqueType) and wide.size == 16
    assert (node.size, node.align) == (72, 8)


def test_enums_are_integers_signed_by_kflag(blob_types):
    types, _ = blob_types
    assert types.find("enum sign") == INT32
    assert types.find("enum usign") == UINT32
    assert types.find("enum small") == UINT8
    assert types.find("enum big") == UINT64
    assert types.find("enum sbig") == INT64
    assert types.enum_constant("NEG") == (-1, INT32)
    assert types.enum_constant("POS") == (2, INT32)
    assert types.enum_constant("ALL_ONES") == (0xFFFFFFFF, UINT32)
    assert types.enum_constant("SMALL_ONE") == (1, UINT8)
    assert types.enum_constant("HUGE") == (1 << 40, UINT64)
    assert types.enum_constant("MINUS_FIVE") == (-5, INT64)
    assert types.enum_constant("NOT_THERE") is None


def test_names_lists_every_named_struct_union_and_enum(blob_types):
    types, _ = blob_types
    assert types.names("struct") == ["arrays", "new_bits", "node", "old_bits", "outer"]
    assert types.names("union") == []
    assert types.names("enum") == ["sign", "small", "usign"]  # no enum64, as bpftrace lists
    assert types.names("typedef") == []


def test_a_type_is_converted_once(blob_types):
    types, _ = blob_types
    assert types.find("struct node") is types.find("struct  node")
    assert types.find("struct outer").find("x").type is types.find("int")


def test_module_btf_is_read_on_a_miss_and_shares_the_base_types(tmp_path):
    blob, ids = base_blob()
    (tmp_path / "base.btf").write_bytes(blob)
    base = host.parse(str(tmp_path / "base.btf"))
    module = BtfBuilder(first_id=ids["count"], base_strings=ids["strings"])
    node_ptr = module.add(PTR, "", ids["node"])
    module.add_struct("mod_struct", 16, [("n", node_ptr, 0, 0), ("x", ids["int"], 64, 0)])
    module.add_enum("mod_enum", 4, [("MOD_CONST", 7)])
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "vmlinux").write_bytes(blob)  # never read as a module
    (tmp_path / "modules" / "mymod").write_bytes(module.blob())
    types = BtfTypes(base, module_dir=str(tmp_path / "modules"))
    assert types._modules is None  # found in the base: no module is read
    assert types.find("struct node") is not None and types._modules is None
    mod_struct = types.find("struct mod_struct")
    assert isinstance(mod_struct, StructType) and mod_struct.origin == "BTF of mymod"
    assert mod_struct.find("n").type.target is types.find("struct node")
    assert mod_struct.find("x").type == INT32
    assert types.enum_constant("MOD_CONST") == (7, UINT32)
    assert "mod_struct" in types.names("struct")
    assert [m.origin for m in types.modules()] == ["mymod"]
    base.free()


def test_listing_a_hand_written_blob(blob_types):
    types, _ = blob_types
    listed = c_definitions("struct n*", types.btf)
    assert listed == ("struct node {\n\tstruct node *next;\n\tstruct opaque *op;\n"
                      "\tint (*fn)();\n\tvoid *vp;\n"
                      '\tint __attribute__((btf_type_tag("user"))) *up;\n\tdouble dbl;\n'
                      "\t_Bool flag;\n\tlong unsigned int len;\n\tint v;\n};\n\n")
    assert c_definitions("struct nothing_like_it", types.btf) == ""
    assert c_definition(types.btf, "enum sign") == "enum sign {\n\tNEG = -1,\n\tPOS = 2,\n};\n\n"
    assert c_definition(types.btf, "enum big") is None  # enum64: bpftrace 0.17 lists none


def test_listing_runs_on_past_a_definition_that_does_not_end_in_a_bare_brace(blob_types):
    """libbpf ends old_bits with `} __attribute__((packed));`: bpftrace 0.17's cut runs on to
    the next `};`, so new_bits comes out with old_bits and never on its own."""
    types, _ = blob_types
    listed = c_definitions("struct old_bits", types.btf)
    assert listed.startswith("struct old_bits {\n")
    assert "} __attribute__((packed));\n\nstruct new_bits {\n\tunsigned int a: 3;\n" in listed
    assert listed.endswith("\tint d;\n};\n\n")
    assert c_definitions("struct new_bits", types.btf) == ""
    assert c_definition(types.btf, "struct new_bits") is None
    alone = c_definition(types.btf, "struct new_bits", exact=False)
    assert alone.startswith("struct new_bits {\n") and alone.endswith("\tint d;\n};\n\n")


@pytest.mark.compat
@pytest.mark.parametrize("pattern", ["struct *", "enum *", "struct old_bits", "enum sign"])
def test_listing_a_hand_written_blob_as_bpftrace_does(blob_types, tmp_path, run_bpftrace,
                                                      monkeypatch, pattern):
    types, _ = blob_types
    monkeypatch.setenv("BPFTRACE_BTF", str(tmp_path / "base.btf"))
    want = run_bpftrace("-lv", pattern)
    assert want.returncode == 0 and want.stdout, want.stderr
    assert c_definitions(pattern, types.btf) == want.stdout


@pytest.mark.parametrize("pattern, text, matches", [
    ("struct file *{*}*", "struct file {\n};\n", True),
    ("struct file *{*}*", "struct file_ra_state {\n};\n", False),
    ("struct t*k *{*}*", "struct task {\n};\n", True),
    ("*task *{*}*", "struct task {\n};\n", True),
    ("struct ta?k *{*}*", "struct task {\n};\n", False),  # only * is special
    ("abc", "abcd", False),
    ("a*c", "abcabc", False),  # each part at its first place: not fnmatch's answer
])
def test_wildcards_match_as_bpftrace_matches_them(pattern, text, matches):
    assert btf_dump._wildcard_match(pattern, text) == matches


# ---------------------------------------------------------------------------------------------
# gcc's BTF, and bpftrace reading the same blob

GCC_SOURCE = """
typedef char mychar;
typedef struct { int counter; } anon_t;
struct opaque;
enum sign { NEG = -1, POS = 2 };
struct gnode { struct gnode *next; int v; };
struct gfoo {
    unsigned int a:3, b:5, c:12;
    int d;
    char name[16];
    const mychar tag[4];
    unsigned char bytes[6];
    union { int u1; struct { short s1; short s2; }; };
    struct opaque *op;
    void (*fn)(int);
    anon_t at;
    enum sign sg;
    _Bool flag;
    int tail[0];
};
struct after { anon_t x; int y; };
struct gfoo g; struct after af; struct gnode nd;
"""


@pytest.fixture
def gcc_btf(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "g.c").write_text(GCC_SOURCE)
    built = subprocess.run([gcc, "-gbtf", "-c", "g.c", "-o", "g.o"], cwd=tmp_path,
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"gcc cannot emit BTF: {built.stderr.strip()[:200]}")
    btf = host.parse(str(tmp_path / "g.o"))
    assert btf is not None, "libbpf cannot read gcc's .BTF section"
    (tmp_path / "g.btf").write_bytes(btf.raw_data())  # raw, for BPFTRACE_BTF
    yield btf, str(tmp_path / "g.btf")
    btf.free()


def test_gcc_btf_converts(gcc_btf, tmp_path):
    btf, _ = gcc_btf
    types = BtfTypes(btf, module_dir=str(tmp_path / "none"))
    gfoo = types.find("struct gfoo")
    assert [(gfoo.find(n).offset, gfoo.find(n).bit_size, gfoo.find(n).bit_shift)
            for n in "abc"] == [(0, 3, 0), (0, 5, 3), (1, 12, 0)]
    assert gfoo.find("name").type == StringType(16)
    assert gfoo.find("tag").type == StringType(4)
    assert gfoo.find("bytes").type == ArrayType(UINT8, 6)
    assert gfoo.find("s2").offset == gfoo.find("u1").offset + 2
    assert gfoo.find("op").type == PointerType(StructRef("struct opaque"), False)
    assert gfoo.find("fn").type == PointerType(None, False)
    assert gfoo.find("at").type.find("counter").type == INT32
    assert gfoo.find("flag").type == BOOL
    assert gfoo.find("tail").type == ArrayType(INT32, 0)
    assert types.enum_constant("NEG")[0] in (-1, 0xFFFFFFFF)  # gcc 12 sets no kflag
    assert types.find("struct gnode").find("next").type.target is types.find("struct gnode")


@pytest.mark.compat
@pytest.mark.parametrize("pattern", ["struct *", "struct gfoo", "struct after", "enum sign",
                                     "union *"])
def test_listing_gcc_btf_as_bpftrace_does(gcc_btf, run_bpftrace, monkeypatch, pattern):
    """bpftrace reads types from BPFTRACE_BTF instead of the kernel's: the same blob, listed
    by both. `struct gfoo` is swallowed by the `typedef struct {` before it: nothing."""
    btf, path = gcc_btf
    monkeypatch.setenv("BPFTRACE_BTF", path)
    want = run_bpftrace("-lv", pattern)
    assert want.returncode == 0, want.stderr
    assert c_definitions(pattern, btf) == want.stdout


# ---------------------------------------------------------------------------------------------
# The running kernel


@needs_kernel_btf
def test_task_struct_members():
    types = kernel_types()
    task = types.find("struct task_struct")
    assert isinstance(task, StructType) and task.kind == "struct" and task.size > 1000
    pid, tgid = task.find("pid"), task.find("tgid")
    assert pid.type == INT32 and tgid.type == INT32 and tgid.offset == pid.offset + 4
    assert task.find("comm").type == StringType(16)
    parent = task.find("real_parent").type
    assert parent == PointerType(task, False) and parent.target is task
    assert types.find("struct task_struct") is task


@needs_kernel_btf
def test_kernel_bitfields():
    task = kernel_types().find("struct task_struct")
    first, second = task.find("sched_reset_on_fork"), task.find("sched_contributes_to_load")
    assert first.bit_size == 1 and second.bit_size == 1
    assert (second.offset * 8 + second.bit_shift) == (first.offset * 8 + first.bit_shift) + 1
    assert first.type == UINT32


@needs_kernel_btf
def test_kernel_anonymous_union_member():
    skb = kernel_types().find("struct sk_buff")
    assert "next" not in [m.name for m in skb.members]  # inside an anonymous union
    assert skb.find("next").type == PointerType(skb, False) and skb.find("next").offset == 0
    assert "next" in skb.member_names()


@needs_kernel_btf
def test_kernel_enums_and_typedefs():
    types = kernel_types()
    assert types.enum_constant("PIDTYPE_TGID") == (1, types.find("enum pid_type"))
    assert types.enum_constant("PIDTYPE_PID")[0] == 0
    assert types.enum_constant("TASK_RUNNING") is None  # a macro, not an enumerator
    assert types.find("pid_t") == INT32 and types.find("u64") == UINT64
    assert types.find("atomic_t").find("counter").type == INT32
    assert types.find("struct no_such_struct_here") is None
    structs = types.names("struct")
    assert "task_struct" in structs and structs == sorted(structs)


@needs_kernel_btf
@pytest.mark.compat
@pytest.mark.parametrize("name", ["struct task_struct", "struct cfs_rq", "enum pid_type",
                                  "struct file", "struct task_*"])
def test_listing_matches_bpftrace(run_bpftrace, name):
    want = run_bpftrace("-lv", name)
    assert want.returncode == 0, want.stderr
    assert c_definitions(name) == want.stdout
    if "*" not in name:
        assert c_definition(kernel_types(), name) == (want.stdout or None)
