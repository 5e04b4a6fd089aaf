"""C type definitions written in scripts -> the language's types (tracer.cdefs.cparse), with
struct layouts checked against gcc: the same definitions are compiled into a small C program
that prints sizeof, _Alignof, offsetof and, for bitfields, which bits a member sets."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from tracer.cdefs.cparse import Definitions, parse_definitions
from tracer.cdefs.preprocess import preprocess
from tracer.diagnostics import CompileError, Span
from tracer.types import (BOOL, INT8, INT32, UINT8, UINT32, UINT64, ArrayType, IntType,
                          OpaqueType, PointerType, StringType, StructRef, StructType)


def parse(text: str, macros=None, resolve=None, line: int = 1, col: int = 1) -> Definitions:
    span = Span(line, col, line + text.count("\n"), len(text.rsplit("\n", 1)[-1]) + 1)
    return parse_definitions([(text, span)], macros or {}, resolve)


def error(text: str, **kw) -> CompileError:
    with pytest.raises(CompileError) as info:
        parse(text, **kw)
    return info.value


# -- against gcc ------------------------------------------------------------------------------

def leaves(struct: StructType, prefix: str = ""):
    """(C member designator, Member) for every member, nested structs' members included."""
    for member in struct.members:
        path = f"{prefix}.{member.name}" if prefix and member.name else member.name or prefix
        if isinstance(member.type, StructType):
            inner = list(leaves(member.type, path))
            for sub_path, sub in inner:
                yield sub_path, type(sub)(sub.name, sub.type, member.offset + sub.offset,
                                          sub.bit_size, sub.bit_shift)
            if member.name:
                yield path, member
        else:
            yield path, member


CHECKER = r"""
#include <stdio.h>
#include <stddef.h>
#include <string.h>
%(definitions)s
static void bits(const unsigned char *p, size_t n) {
    int first = -1, count = 0;
    for (size_t i = 0; i < n * 8; i++)
        if (p[i / 8] >> (i %% 8) & 1) { if (first < 0) first = (int)i; count++; }
    printf("%%d %%d\n", first, count);
}
int main(void) {
    %(type)s s;
    printf("%%zu %%zu\n", sizeof(%(type)s), _Alignof(%(type)s));
%(lines)s
    return 0;
}
"""


def both_layouts(definitions: str, c_type: str, struct: StructType) -> tuple[list, list]:
    """(what gcc prints, what tracer says), line by line: the size and alignment, then each
    member's offset, or a bitfield's first bit and number of bits."""
    lines, ours = [], [f"{struct.size} {struct.align}"]
    for path, member in leaves(struct):
        if member.is_bitfield:
            value = "1" if member.type == BOOL else "-1"
            lines.append(f"    memset(&s, 0, sizeof s); s.{path} = {value}; "
                         f"bits((const unsigned char *)&s, sizeof s);")
            ours.append(f"{member.offset * 8 + member.bit_shift} {member.bit_size}")
        elif not isinstance(member.type, StructType) or member.name:
            lines.append(f'    printf("%zu\\n", offsetof({c_type}, {path}));')
            ours.append(str(member.offset))
    program = CHECKER % {"definitions": definitions, "type": c_type, "lines": "\n".join(lines)}
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "layout")
        build = subprocess.run(["gcc", "-x", "c", "-std=gnu11", "-w", "-o", exe, "-"],
                               input=program.encode(), capture_output=True)
        assert build.returncode == 0, build.stderr.decode()
        out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    return out.splitlines(), ours


needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")

LAYOUTS = {
    "plain": ("struct plain { char c; int i; short s; long l; char name[13]; void *p; "
              "unsigned long long u; _Bool b; };", "struct plain"),
    "bitfields": ("struct bits { unsigned a:3; unsigned b:30; unsigned char c:2; int d:5, :0; "
                  "int e:7; unsigned long long f:40; unsigned long long g:30; char h; "
                  "_Bool flag:1; short k:9; short m:9; };", "struct bits"),
    "unnamed bitfields": ("struct ub { char a; int :4; char b; long :0; char c; "
                          "unsigned long long :63; char d; };", "struct ub"),
    "union": ("union un { int i; char c[7]; unsigned long long x:33; "
              "struct { short a, b; } s; };", "union un"),
    "nested anonymous": ("struct nest { int tag; union { struct { int x, y; }; long z; }; "
                         "struct { char q; long r; } named; char tail; };", "struct nest"),
    "arrays and pointers": ("struct arr { int m[2][3]; char *s; char t[4][8]; "
                            "struct arr *next; void (*fn)(int, char *); int (*pa)[3]; "
                            "unsigned char mac[6]; short last; };", "struct arr"),
    "packed": ("struct __attribute__((packed)) pk { char c; int i; short s:3; long l; "
               "unsigned u:30; };", "struct pk"),
    "aligned": ("struct al { char c; int i __attribute__((aligned(16))); } "
                "__attribute__((aligned(32)));", "struct al"),
    "typedefs and enums": ("typedef unsigned int u_int; enum color { RED, GREEN = 5 }; "
                           "typedef struct { u_int v; char c; } wrap_t; "
                           "struct td { wrap_t w; u_int arr[3]; enum color col; char x; "
                           "enum color bf:3; };", "struct td"),
}


@needs_gcc
@pytest.mark.parametrize("case", list(LAYOUTS))
def test_layout_matches_gcc(case):
    text, c_type = LAYOUTS[case]
    struct = parse(text).types[c_type]
    assert isinstance(struct, StructType) and struct.origin == "the script"
    gcc, ours = both_layouts(text, c_type, struct)
    assert len(ours) > 2
    assert gcc == ours


# -- the types members get --------------------------------------------------------------------

def members(text: str, c_type: str, **kw) -> dict:
    return {m.name: m for m in parse(text, **kw).types[c_type].members}


def test_char_arrays_are_strings_other_byte_arrays_are_arrays():
    m = members("struct s { char name[16]; char rows[4][8]; unsigned char mac[6]; "
                "signed char sc[3]; __u8 raw[2]; char empty[]; };", "struct s")
    assert m["name"].type == StringType(16)
    assert m["rows"].type == ArrayType(StringType(8), 4)
    assert m["mac"].type == ArrayType(UINT8, 6)
    assert m["sc"].type == ArrayType(INT8, 3) and not isinstance(m["sc"].type, StringType)
    assert m["raw"].type == ArrayType(UINT8, 2)
    assert m["empty"].type == ArrayType(INT8, 0) and m["empty"].offset == 59


def test_base_type_spellings():
    m = members("struct s { unsigned a; short int b; long long c; unsigned long int d; "
                "signed e; u32 f; __s16 g; uint64_t h; size_t i; bool j; _Bool k; "
                "const volatile int l; long double m; float n; };", "struct s")
    assert [m[n].type for n in "abcdefgh"] == [
        UINT32, IntType(16, True), IntType(64, True), UINT64, INT32, UINT32, IntType(16, True),
        UINT64]
    assert m["i"].type == UINT64 and m["j"].type == BOOL and m["k"].type == BOOL
    assert m["l"].type == INT32
    assert m["m"].type == OpaqueType("long double", 16, 16) and m["m"].offset == 64
    assert m["n"].type.size == 4


def test_pointers():
    text = ("struct node { struct node *next; void *data; char *name; "
            "void (*callback)(int, char *); int (*row)[3]; struct later *fwd; "
            "const char **argv; };  struct later { int x; };")
    defs = parse(text)
    node, later = defs.types["struct node"], defs.types["struct later"]
    m = {x.name: x for x in node.members}
    assert m["next"].type == PointerType(node) and m["next"].type.target is node
    assert m["next"].type.user is None
    assert m["data"].type == PointerType(None)
    assert m["name"].type == PointerType(INT8)
    assert isinstance(m["callback"].type, PointerType) and m["callback"].type.size == 8
    assert isinstance(m["callback"].type.target, OpaqueType)
    assert m["row"].type == PointerType(ArrayType(INT32, 3))
    # A struct pointed to before it is defined is the defined one once all is read.
    assert m["fwd"].type.target is later
    assert m["argv"].type == PointerType(PointerType(INT8))
    assert node.size == 56


def test_array_lengths_from_macros_and_enums():
    pp = preprocess("#define LEN 16\n#define TWICE(x) ((x) * 2)\n"
                    "enum { SLOTS = TWICE(2) + 1 };\n"
                    "struct s { char name[LEN]; int v[TWICE(LEN)]; long w[SLOTS][LEN / 8]; };\n"
                    "BEGIN { }\n")
    defs = parse_definitions(pp.definitions, pp.macros)
    m = {x.name: x for x in defs.types["struct s"].members}
    assert m["name"].type == StringType(16)
    assert m["v"].type == ArrayType(INT32, 32)
    assert m["w"].type == ArrayType(ArrayType(IntType(64, True), 2), 5)
    assert defs.constants["SLOTS"] == 5
    # Macros as include_macros gives them: name -> body text.
    assert members("struct t { int a[TASK_COMM_LEN]; };", "struct t",
                   macros={"TASK_COMM_LEN": "16"})["a"].type == ArrayType(INT32, 16)


def test_enums():
    defs = parse("enum color { RED, GREEN = 5, BLUE, ALIAS = GREEN | 0x10 };\n"
                 "enum sign { NEG = -1, POS };\nenum big { HUGE = 0x100000000 };\n"
                 "typedef enum color color_t;")
    assert defs.constants == {"RED": 0, "GREEN": 5, "BLUE": 6, "ALIAS": 21, "NEG": -1, "POS": 0,
                              "HUGE": 1 << 32}
    assert defs.types["enum color"] == UINT32
    assert defs.types["enum sign"] == INT32
    assert defs.types["enum big"] == UINT64
    assert defs.types["color_t"] == UINT32


def test_typedefs_and_declarations():
    defs = parse("typedef unsigned int u_int, *u_int_p; typedef struct pair pair_t;\n"
                 "struct pair { u_int a; pair_t *self; };\nstruct only_declared;\n"
                 "typedef char name_t[8]; struct n { name_t n; };")
    assert defs.types["u_int"] == UINT32 and defs.types["u_int_p"] == PointerType(UINT32)
    pair = defs.types["struct pair"]
    assert defs.types["pair_t"] is pair
    assert pair.find("self").type.target is pair
    assert defs.types["struct only_declared"] == StructRef("struct only_declared")
    assert defs.types["name_t"] == StringType(8)
    assert defs.types["struct n"].find("n").type == StringType(8)


def test_anonymous_members_are_found_through():
    struct = parse("struct s { int tag; union { struct { short lo, hi; }; int both; }; };"
                   ).types["struct s"]
    assert [m.name for m in struct.members] == ["tag", ""]
    assert struct.find("hi").offset == 6 and struct.find("both").offset == 4
    assert struct.member_names() == ["tag", "lo", "hi", "both"]


def test_types_from_the_resolver():
    path = StructType("struct", "path", 16, 8, [], origin="BTF")
    asked = []

    def resolve(name):
        asked.append(name)
        return {"struct path": path, "gfp_t": UINT32}.get(name)

    defs = parse("struct nameidata { struct path path; gfp_t flags; struct qstr *last; };",
                 resolve=resolve)
    nd = defs.types["struct nameidata"]
    assert nd.find("path").type is path and nd.find("flags").offset == 16
    assert nd.find("last").type == PointerType(StructRef("struct qstr"))
    assert "struct path" in asked and "gfp_t" in asked and "struct qstr" in asked
    assert nd.size == 32


def test_the_scripts_own_struct_wins_over_the_kernels():
    kernel = StructType("struct", "later", 64, 8, [], origin="BTF")
    defs = parse("struct a { struct later *p; }; struct later { int x; };",
                 resolve={"struct later": kernel}.get)
    assert defs.types["struct a"].find("p").type.target is defs.types["struct later"]
    assert defs.types["struct later"].size == 4
    # By value, only what is defined by then counts (here: the kernel's).
    defs = parse("struct b { struct later v; }; ", resolve={"struct later": kernel}.get)
    assert defs.types["struct b"].find("v").type is kernel
    assert "struct later" not in defs.types


# -- errors point into the user's file -------------------------------------------------------

def test_unknown_type_name_is_located():
    err = error("struct s {\n  int a;\n  mystery_t b;\n};", line=5, col=3)
    assert err.diagnostics[0].message == "unknown type name 'mystery_t'"
    assert err.diagnostics[0].span == Span(7, 3, 7, 12)


def test_incomplete_member_is_located():
    err = error("struct s { int a; struct nowhere n; };")
    assert "incomplete type 'struct nowhere'" in err.diagnostics[0].message
    assert err.diagnostics[0].span == Span(1, 34, 1, 35)


@pytest.mark.parametrize("text, message, col", [
    ("struct s { int a b; };", "expected ';', found 'b'", 18),
    ("struct s { int a:33; };", "width of bit-field 'a' (33 bits) does not fit", 17),
    ("struct s { char *p:3; };", "bit-field 'p' has type", 19),
    ("struct s { int a; long a; };", "duplicate member 'a'", 24),
    ("struct s { int a; }; struct s { int b; };", "redefinition of 'struct s'", 29),
    ("struct s { int a; } var;", "only types can be defined here", 21),
    ("struct s { unsigned float f; };", "'float' cannot be signed or unsigned", 12),
    ("struct s { int a[-1]; };", "array length is negative", 17),
    ("enum e { A, A };", "redefinition of enumerator 'A'", 13),
    ("struct s { struct s inner; };", "member 'inner' has incomplete type 'struct s'", 21),
    ("struct s { struct t { int a; } x; struct t { int b; } y; };",
     "redefinition of 'struct t'", 42),
    ("struct s { void v; };", "member 'v' cannot have type 'void'", 17),
    ("struct s { int a[1 +]; };", "expected a value after '+'", 20),
])
def test_syntax_errors_are_located(text, message, col):
    diag = error(text).diagnostics[0]
    assert message in diag.message
    assert (diag.span.line, diag.span.col) == (1, col)


def test_error_in_a_macro_points_at_the_macro_name():
    pp = preprocess("#define BAD (1 +)\nstruct s {\n  int a[BAD];\n};\n")
    with pytest.raises(CompileError) as info:
        parse_definitions(pp.definitions, pp.macros)
    assert info.value.diagnostics[0].span.line == 3
    assert info.value.diagnostics[0].span.col == 9
