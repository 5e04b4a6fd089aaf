"""The C preprocessor's stage before the parser (tracer.cdefs.preprocess): directives, macro
expansion and where it applies, the way back to the user's positions, the C definitions taken
out of the program; and the constants of #include'd headers (tracer.cdefs.includes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from tracer.cdefs import includes
from tracer.cdefs.cexpr import macro_values
from tracer.cdefs.cparse import parse_definitions
from tracer.cdefs.macros import FunctionMacro
from tracer.cdefs.preprocess import Include, preprocess
from tracer.diagnostics import CompileError, Source, Span
from tracer.parser import parse
from tracer.types import StringType, StructType, UINT32

BTF = {"BPFTRACE_HAVE_BTF": "1"}


def pp(text: str, defined=None, **kw):
    result = preprocess(text, defined, **kw)
    # Whatever happens, every line stays where it was.
    assert result.text.count("\n") == text.count("\n")
    return result


def kept(text: str, defined=None, **kw) -> list[str]:
    """The non-empty lines of the output."""
    return [line.strip() for line in pp(text, defined, **kw).text.split("\n") if line.strip()]


def error(text: str, defined=None):
    with pytest.raises(CompileError) as info:
        preprocess(text, defined)
    return info.value.diagnostics[0]


# -- a program with no C in it ----------------------------------------------------------------

def test_program_without_directives_is_returned_as_it_is():
    text = 'kprobe:tcp_connect { $sk = (struct sock *)arg0; @[comm] = count(); }\n'
    result = preprocess(text, BTF)
    assert result.text is text
    assert result.includes == [] and result.definitions == [] and result.segments == {}
    assert result.macros == BTF
    assert result.origin(1, 30) == (1, 30)


# -- directives -------------------------------------------------------------------------------

def test_conditionals_choose_lines():
    text = ("#define A 1\n#ifdef A\nyes_ifdef\n#else\nno_ifdef\n#endif\n"
            "#ifndef B\nyes_ifndef\n#endif\n#undef A\n#ifdef A\nno_undef\n#endif\n"
            "#if 0\nno\n#elif defined A\nno\n#elifdef C\nno\n#elifndef C\nyes_elifndef\n"
            "#else\nno\n#endif\n"
            "#if 0\n#if 1\nno_nested\n#else\nno_nested_else\n#endif\n#error not here\n#endif\n")
    assert kept(text) == ["yes_ifdef", "yes_ifndef", "yes_elifndef"]


@pytest.mark.parametrize("condition, value", [
    ("1 + 2 * 3 == 7", True), ("(1 << 62) * 4 == 0", True), ("-1 < 0", True),
    ("-1 < 0u", False), ("0x10 == 16 && 010 == 8 && 0b11 == 3", True), ("'A' == 65", True),
    ("'\\n' == 10", True), ("defined X && defined(X) && !defined Y", True),
    ("UNKNOWN == 0", True), ("UNKNOWN", False), ("1 ? 2 : 3 / 0", True), ("0 && 1 / 0", False),
    ("TWICE(X) == 6", True), ("TWICE", False), ("BPFTRACE_HAVE_BTF", True),
    ("-7 / 2 == -3 && -7 % 2 == -1", True), ("~0u == 0xffffffffffffffff", True),
    ("(2, 0)", False), ("18446744073709551615 == -1", True), ("1 > 2 ? 1 : 0 ? 1 : 2", True),
])
def test_if_expressions(condition, value):
    text = f"#define X 3\n#define TWICE(v) ((v) * 2)\n#if {condition}\nyes\n#endif\n"
    assert kept(text, BTF) == (["yes"] if value else [])


def test_continued_lines():
    result = pp("#define LONG (1 + \\\n   2)\n#if LONG == \\\n 3\nBEGIN { LONG }\n#endif\n")
    assert result.text == "\n\n\n\nBEGIN { (1 + 2) }\n\n"
    assert result.macros["LONG"] == "(1 + 2)"


def test_comments_and_directives():
    # A `#` inside a comment that spans lines is no directive; a comment that starts in a
    # directive makes the lines it spans part of the directive.
    text = "/* not a directive:\n#define A 1\n*/\n#define B 2 /* two\nlines */ + 3\nBEGIN { A B }\n"
    assert kept(text) == ["/* not a directive:", "#define A 1", "*/", "BEGIN { A 2 + 3 }"]


def test_includes_are_recorded_where_live():
    text = ('#ifndef BPFTRACE_HAVE_BTF\n#include <linux/socket.h>\n#include <net/sock.h>\n'
            '#else\n#include <sys/socket.h>\n#endif\n#include "local.h"\n'
            '#define HDR <linux/sched.h>\n#include HDR\n')
    assert pp(text, BTF).includes == [
        Include("sys/socket.h", True, Span(5, 1, 5, 24)),
        Include("local.h", False, Span(7, 1, 7, 19)),
        Include("linux/sched.h", True, Span(9, 1, 9, 13))]
    assert [i.name for i in pp(text).includes] == [
        "linux/socket.h", "net/sock.h", "local.h", "linux/sched.h"]


def test_header_macros_through_the_callback():
    seen = []

    def headers(so_far):
        seen.append([i.name for i in so_far])
        return {"AF_INET": "2", "MINE": "5"} if so_far[-1].name == "sys/socket.h" else {}
    text = ("#define MINE 9\n#include <linux/types.h>\n#include <sys/socket.h>\n"
            "#if AF_INET == 2\n#define OK 1\n#endif\nBEGIN { OK; AF_INET; MINE; }\n")
    result = pp(text, headers=headers)
    assert result.text.strip() == "BEGIN { 1; 2; 9; }"
    assert seen == [["linux/types.h"], ["linux/types.h", "sys/socket.h"]]
    assert result.macros["AF_INET"] == "2" and result.macros["MINE"] == "9"


def test_directives_that_do_nothing():
    assert kept('#pragma once\n#line 10\n# 1 "file.c"\n#\n#ident "x"\nBEGIN { }\n') == ["BEGIN { }"]


def test_warnings():
    result = pp("#warning careful\n#define X 1\n#define X 2\n#define Y 1\n#define Y 1\n")
    assert [(w.message, w.span.line) for w in result.warnings] == [
        ("#warning careful", 1), ("'X' redefined", 3)]


@pytest.mark.parametrize("text, message, span", [
    ('BEGIN { }\n#error no BTF "here"\n', '#error no BTF "here"', Span(2, 1, 2, 21)),
    ("#if 1\nBEGIN { }\n", "unterminated conditional directive", Span(1, 1, 1, 6)),
    ("#else\n", "#else without #if", Span(1, 2, 1, 6)),
    ("#if 1\n#else\n#elif 1\n#endif\n", "#elif after #else", Span(3, 2, 3, 6)),
    ("#foo bar\n", "unknown preprocessor directive '#foo'", Span(1, 1, 1, 5)),
    ("#if 1 / 0\n#endif\n", "division by zero in a constant expression", Span(1, 7, 1, 8)),
    ("#if 1 +\n#endif\n", "expected a value after '+'", Span(1, 7, 1, 8)),
    ("#if defined(\n#endif\n", "operator 'defined' requires an identifier", Span(1, 5, 1, 12)),
    ("#define 3 x\n", "macro name must be an identifier", Span(1, 9, 1, 10)),
    ("#define F(a, a) a\n", "bad parameter list of macro 'F'", Span(1, 14, 1, 15)),
    ("#ifdef\n#endif\n", "#ifdef expects a macro name", Span(1, 2, 1, 7)),
    ("#include nothing\n", '#include expects "FILENAME" or <FILENAME>', Span(1, 1, 1, 17)),
    ("#define F(a, b) a\nBEGIN {\n  F(1);\n}\n", "macro 'F' takes 2 arguments, 1 given",
     Span(3, 3, 3, 4)),
    ("#define F(a) a\nBEGIN { F(1; }\n", "unterminated call of macro 'F': missing ')'",
     Span(2, 9, 2, 10)),
])
def test_errors_are_located(text, message, span):
    diag = error(text)
    assert diag.message == message
    assert diag.span == span


def test_error_only_where_live():
    assert kept("#ifndef BPFTRACE_HAVE_BTF\n#error needs BTF\n#endif\nBEGIN { }\n", BTF) == \
        ["BEGIN { }"]
    assert error("#ifndef BPFTRACE_HAVE_BTF\n#error needs BTF\n#endif\n").message == \
        "#error needs BTF"


# -- expansion --------------------------------------------------------------------------------

def test_where_macros_apply():
    text = ('#define X 7\n'
            'kprobe:X, uprobe:/bin/X:X /X == pid/ { $X = X; @X[X] = X; $s->X = "X"; // X\n'
            '  /* X */ if (X) { return; } let $v: X; }\nconfig = { X = 1 }\n'
            'macro m(x) { x + X }\n')
    assert kept(text) == [
        'kprobe:X, uprobe:/bin/X:X /7 == pid/ { $X = 7; @X[7] = 7; $s->7 = "X"; // X',
        '/* X */ if (7) { return; } let $v: 7; }', 'config = { X = 1 }', 'macro m(x) { x + 7 }']
    # The language's own words are never macros.
    assert kept("#define if while\n#define true 0\nBEGIN { if (true) { } }\n") == \
        ["BEGIN { if (true) { } }"]


def test_function_like_macros():
    text = ('#define SQ(x) ((x) * (x))\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n'
            '#define STR(x) #x\n#define CAT(a, b) a ## b\n'
            '#define LOG(fmt, ...) printf(fmt, ## __VA_ARGS__)\n#define f g\n#define g(x) x + 1\n'
            'BEGIN { SQ(MAX(1, (2, 3))); SQ; SQ (4); STR(a  + "b"); CAT(12, 34); CAT(pi, d);\n'
            '  LOG("a"); LOG("%d %d", 1, 2); f(5); }\n')
    assert kept(text) == [
        'BEGIN { ((((1) > ((2, 3)) ? (1) : ((2, 3)))) * (((1) > ((2, 3)) ? (1) : ((2, 3))))); '
        'SQ; ((4) * (4)); "a + \\"b\\""; 1234; pid;',
        'printf("a"); printf("%d %d", 1, 2); 5 + 1; }']


def test_a_macro_never_expands_inside_itself():
    text = "#define A B\n#define B A\n#define C C + 1\nBEGIN { A; B; C; }\n"
    assert kept(text) == ["BEGIN { A; B; C + 1; }"]


def test_macros_apply_from_their_definition_on():
    text = "BEGIN { X }\n#define X 1\nEND { X }\n#undef X\nEND { X }\n"
    assert kept(text) == ["BEGIN { X }", "END { 1 }", "END { X }"]


def test_directives_inside_a_probe():
    text = "BEGIN {\n#ifdef BPFTRACE_HAVE_BTF\n  @a = 1;\n#else\n  @a = 2;\n#endif\n}\n"
    assert kept(text, BTF) == ["BEGIN {", "@a = 1;", "}"]
    assert kept(text) == ["BEGIN {", "@a = 2;", "}"]


def test_positions_map_back_to_the_input():
    text = ("#define LONGNAME 7\n#define ADD(a, b) a + b\n"
            "BEGIN { $x = LONGNAME + nope; $y = ADD(1,\n   oops); $z = 1; }\n")
    result = pp(text)
    lines = result.text.split("\n")
    assert lines[2] == "BEGIN { $x = 7 + nope; $y = 1 + oops"
    assert lines[3] == "; $z = 1; }"
    # After an expansion: the text as it was, columns shifted back.
    assert result.origin(3, lines[2].index("nope") + 1) == (3, 25)
    assert result.origin(4, 3) == (4, 11)  # `$z`
    # Inside an expansion: the macro's name.
    assert result.origin(3, 14) == (3, 14)
    assert result.origin(3, lines[2].index("+ oops") + 1) == (3, 36)  # the `+` of ADD's body
    # An argument keeps its own place.
    assert result.origin(3, lines[2].index("oops") + 1) == (4, 4)
    span = Span(3, 14, 3, 15)  # `7`
    assert result.origin_span(span) == Span(3, 14, 3, 22)
    # Lines without expansion are the input's.
    assert result.origin(1, 5) == (1, 5)


def test_output_parses():
    text = ("#define AF_INET 2\n#define FAMILY(sk) ((sk)->__sk_common.skc_family)\n"
            "struct foo { int a; char name[16]; };\n"
            "kprobe:tcp_connect /FAMILY((struct sock *)arg0) == AF_INET/\n"
            "{\n  $f = (struct foo *)arg1;\n  printf(\"%d\\n\", AF_INET);\n}\n")
    result = pp(text)
    program = parse(Source("t.bt", result.text))
    assert len(program.probes) == 1
    assert "((struct sock *)arg0)->__sk_common.skc_family) == 2" in result.text


# -- definitions ------------------------------------------------------------------------------

def test_definitions_are_taken_out():
    text = ('struct a { int x; };\n'
            'BEGIN { $s = (struct a *)0; printf("}"); } // }\n'
            'union u {\n  int a;\n  char c[4]; /* } */\n} __attribute__((packed));\n'
            'typedef struct { int q; } q_t; enum e { A, B };\n'
            'struct nosemi { int z; }\nEND { }\n')
    result = pp(text)
    assert [(d.text, d.span) for d in result.definitions] == [
        ("struct a { int x; };", Span(1, 1, 1, 21)),
        ("union u {\n  int a;\n  char c[4]; /* } */\n} __attribute__((packed));",
         Span(3, 1, 6, 27)),
        ("typedef struct { int q; } q_t;", Span(7, 1, 7, 31)),
        ("enum e { A, B };", Span(7, 32, 7, 48)),
        ("struct nosemi { int z; }", Span(8, 1, 8, 25))]
    lines = result.text.split("\n")
    assert lines[0] == " " * 20 and lines[1] == text.split("\n")[1]
    assert lines[6].strip() == "" and lines[8] == "END { }"
    assert len(parse(Source("t", result.text)).probes) == 2


def test_definition_with_directives_inside():
    text = ("#define WIDE\nstruct s {\n  int a;\n#ifdef WIDE\n  long b;\n#else\n  short b;\n"
            "#endif\n};\nBEGIN { }\n")
    (definition,) = pp(text).definitions
    assert definition.text == "struct s {\n  int a;\n\n  long b;\n\n\n\n};"
    assert definition.span == Span(2, 1, 9, 3)
    struct = parse_definitions(pp(text).definitions).types["struct s"]
    assert struct.find("b").type.size == 8 and struct.size == 16


# -- scripts like bpftrace's tools ------------------------------------------------------------

TCP_LIKE = """\
#ifndef BPFTRACE_HAVE_BTF
#include <linux/socket.h>
#include <net/sock.h>
#else
/* BTF has the types: only the constants are needed. */
#define AF_INET   2 /* IPv4 */
#define AF_INET6 10 /* IPv6 */
#endif

kprobe:tcp_v4_connect
{
  $sk = (struct sock *)arg0;
  if ($sk->__sk_common.skc_family == AF_INET || $sk->__sk_common.skc_family == AF_INET6) {
    printf("%s\\n", "AF_INET");
  }
}
"""

RUNQ_LIKE = """\
#ifndef BPFTRACE_HAVE_BTF
#include <linux/sched.h>

// defined by hand: it is in a kernel-internal header
struct cfs_rq_like {
\tstruct load_weight load;
\tunsigned int nr_queued;
\tunsigned int h_nr_queued;
};
#else
#define TASK_RUNNING 0
#endif

profile:hz:99
{
  $task = (struct task_struct *)curtask;
  @q = lhist($task->__state == TASK_RUNNING, 0, 100, 1);
}
"""


def test_tool_like_script_with_btf():
    result = pp(TCP_LIKE, BTF)
    assert result.includes == []
    assert result.macros["AF_INET"] == "2" and result.macros["AF_INET6"] == "10"
    assert "== 2 ||" in result.text and "== 10)" in result.text
    assert '"AF_INET"' in result.text
    assert len(parse(Source("tcp.bt", result.text)).probes) == 1
    result = pp(RUNQ_LIKE, BTF)
    assert result.definitions == [] and "__state == 0," in result.text
    assert len(parse(Source("runq.bt", result.text)).probes) == 1


def test_tool_like_script_without_btf():
    result = pp(TCP_LIKE)
    assert [i.name for i in result.includes] == ["linux/socket.h", "net/sock.h"]
    assert "AF_INET" not in result.macros and "== AF_INET ||" in result.text
    result = pp(RUNQ_LIKE)
    assert [i.name for i in result.includes] == ["linux/sched.h"]
    (definition,) = result.definitions
    assert definition.span.line == 5
    load = StructType("struct", "load_weight", 16, 8, [], origin="BTF")
    defs = parse_definitions(result.definitions, result.macros,
                             {"struct load_weight": load}.get)
    struct = defs.types["struct cfs_rq_like"]
    assert [(m.name, m.offset) for m in struct.members] == [
        ("load", 0), ("nr_queued", 16), ("h_nr_queued", 20)]
    assert struct.find("nr_queued").type == UINT32 and struct.size == 24
    assert len(parse(Source("runq.bt", result.text)).probes) == 1


def test_macro_table_is_kept():
    result = pp("#define N 16\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n#define E\n"
                "struct s { char name[N]; };\nBEGIN { }\n", BTF)
    assert result.macros == {"BPFTRACE_HAVE_BTF": "1", "N": "16", "E": "",
                             "MAX": FunctionMacro(("a", "b"), "((a) > (b) ? (a) : (b))")}
    defs = parse_definitions(result.definitions, result.macros)
    assert defs.types["struct s"].find("name").type == StringType(16)


def test_macro_values():
    result = pp('#define A (B + 1)\n#define B 2\n#define S "x"\n#define F(x) x\n#define G F(7)\n'
                '#define N -B\n#define U ((__u32)-1)\n#define E\n#define LOOP LOOP\n')
    assert macro_values(result.macros) == {"A": 3, "B": 2, "G": 7, "N": -2, "U": 0xFFFFFFFF}
    assert macro_values({"X": "Y * 2", "Y": "0x10"}, ["X"]) == {"X": 32}


# -- constants from headers -------------------------------------------------------------------

needs_cpp = pytest.mark.skipif(includes.preprocessor() is None, reason="no C preprocessor")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("TRACER_CACHE_DIR", str(directory))
    return directory


@needs_cpp
def test_af_inet_from_sys_socket(cache):
    assert includes.include_macros([("sys/socket.h", True)], kernel=None)["AF_INET"] == "2"
    assert includes.include_macros([Include("sys/socket.h", True, Span(1, 1, 1, 2))]
                                   )["AF_INET6"] == "10"


@needs_cpp
def test_header_macros_from_cpp_reach_if_and_the_program(cache):
    text = "#include <sys/socket.h>\n#ifdef AF_INET6\nBEGIN { AF_INET6 }\n#endif\n"
    assert kept(text, headers=lambda so_far: includes.include_macros(so_far, kernel=None)) == \
        ["BEGIN { 10 }"]
    assert kept(text) == []


@needs_cpp
def test_a_missing_header_is_skipped(cache):
    found = includes.read_includes([("linux/socket.h", True), ("no/such/header.h", True),
                                    ("sys/socket.h", True)], kernel=None)
    assert found.skipped == ["no/such/header.h"]
    assert found.macros["AF_INET"] == "2"
    # Compiler-defined macros are not the headers'.
    assert "__GNUC__" not in found.macros and "__x86_64__" not in found.macros


@needs_cpp
def test_header_constants_are_evaluated(tmp_path, cache):
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "mine.h").write_text(
        "#define SHIFT 4\n#define FLAG (1 << SHIFT)\n#define BOTH (FLAG | 0x3)\n"
        "#define ALL ((unsigned int)-1)\n#define NEG (-5)\n#define CHAIN BOTH\n"
        "#define TEXT \"str\"\n#define F(x) (x)\n#define CALL F(3)\n#define SELF SELF\n"
        "#define BIG 0xffffffffffffffffULL\n#define OCT 0755\n"
        "#define V(first, ...) (first)\n#define VV V(3, 4, 5)\n")
    found = includes.include_macros([("mine.h", True)], kernel=None,
                                    include_dirs=[str(tmp_path / "inc")])
    assert {k: found[k] for k in ("SHIFT", "FLAG", "BOTH", "ALL", "NEG", "CHAIN", "CALL",
                                  "BIG", "OCT", "VV")} == {
        "SHIFT": "4", "FLAG": "16", "BOTH": "19", "ALL": "4294967295", "NEG": "-5",
        "CHAIN": "19", "CALL": "3", "BIG": str((1 << 64) - 1), "OCT": str(0o755), "VV": "3"}
    assert "TEXT" not in found and "F" not in found and "SELF" not in found


@needs_cpp
@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_header_constants_agree_with_gcc(cache):
    headers = ["sys/socket.h", "fcntl.h", "linux/sched.h", "signal.h"]
    found = includes.include_macros([(h, True) for h in headers], kernel=None)
    assert len(found) > 200
    names = sorted(found)
    program = "".join(f"#include <{h}>\n" for h in headers + ["stdio.h"])
    program += "int main(void) {\n"
    program += "".join(f'  printf("%lld %d\\n", (long long)({n}), ({n}) < 0);\n' for n in names)
    program += "  return 0;\n}\n"
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "values")
        build = subprocess.run(["gcc", "-w", "-x", "c", "-o", exe, "-"], input=program.encode(),
                               capture_output=True)
        assert build.returncode == 0, build.stderr.decode()[:2000]
        out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.split("\n")
    for name, line in zip(names, out):
        value, negative = (int(x) for x in line.split())
        ours = int(found[name])
        assert (ours % (1 << 64), ours < 0) == (value % (1 << 64), bool(negative)), name


@needs_cpp
def test_results_are_cached_until_a_header_changes(tmp_path, cache, monkeypatch):
    inc = tmp_path / "inc"
    inc.mkdir()
    header = inc / "ver.h"
    header.write_text("#define VERSION 7\n")
    ask = lambda: includes.include_macros([("ver.h", True)], kernel=None,  # noqa: E731
                                          include_dirs=[str(inc)])
    assert ask()["VERSION"] == "7"
    assert list((cache / includes.CACHE_SUBDIR).glob("*.json"))
    real_run = subprocess.run

    def no_cpp(*args, **kwargs):
        raise AssertionError("cpp ran although the answer was cached")
    monkeypatch.setattr(includes.subprocess, "run", no_cpp)
    assert ask()["VERSION"] == "7"
    header.write_text("#define VERSION 8\n")
    os.utime(header, ns=(1, 1))  # a different stamp even on a coarse clock
    monkeypatch.setattr(includes.subprocess, "run", real_run)
    assert ask()["VERSION"] == "8"


@needs_cpp
def test_an_untrusted_cache_is_not_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("TRACER_CACHE_DIR", str(shared))
    assert includes.include_macros([("sys/socket.h", True)], kernel=None)["AF_INET"] == "2"
    assert not list(shared.rglob("*.json"))


@needs_cpp
def test_kernel_headers_give_kernel_constants(cache):
    from tracer.host.headers import kernel_tree
    tree = kernel_tree()
    if tree is None:
        pytest.skip("no kernel headers are installed")
    # net/sock.h only exists in kernel headers; the kernel's linux/socket.h defines AF_INET.
    found = includes.read_includes([("linux/socket.h", True), ("net/sock.h", True)],
                                   kernel=tree)
    assert found.skipped == []
    assert found.macros["AF_INET"] == "2" and found.macros["TASK_RUNNING"] == "0"


def test_kernel_tree_is_found_like_bccs(tmp_path):
    from tracer.host.headers import KernelTree, kernel_tree
    usr_src, modules = tmp_path / "src", tmp_path / "modules"
    for name in ("linux-headers-6.1.0-9-common", "linux-headers-6.1.0-9-amd64",
                 "linux-headers-6.1.0-10-common", "linux-headers-6.1.0-10-amd64"):
        (usr_src / name).mkdir(parents=True)
    for common in ("linux-headers-6.1.0-9-common", "linux-headers-6.1.0-10-common"):
        (usr_src / common / "include/linux").mkdir(parents=True)
        (usr_src / common / "include/linux/kconfig.h").write_text("")
    found = kernel_tree("6.8.0-1-amd64", environ={}, modules_dir=str(modules),
                        usr_src=str(usr_src))
    # The newest, its shared half as the source and its flavour's half as the build tree.
    assert found == KernelTree(str(usr_src / "linux-headers-6.1.0-10-common"),
                               str(usr_src / "linux-headers-6.1.0-10-amd64"), found.description)
    exact = kernel_tree("6.1.0-9-amd64", environ={}, modules_dir=str(modules),
                        usr_src=str(usr_src))
    assert exact.build == str(usr_src / "linux-headers-6.1.0-9-amd64")
    chosen = str(usr_src / "linux-headers-6.1.0-9-common")
    assert kernel_tree("6.8.0-1-amd64", environ={"BCC_KERNEL_SOURCE": chosen},
                       modules_dir=str(modules), usr_src=str(usr_src)).source == chosen
    assert kernel_tree("6.8.0-1-amd64", environ={}, modules_dir=str(modules),
                       usr_src=str(tmp_path / "none")) is None
    assert includes.kernel_flags(found, "x86")[:2] == [
        f"-I{found.source}/arch/x86/include", f"-I{found.build}/arch/x86/include/generated"]
