"""The semantic pass, through compile_program: errors and warnings as a person sees them.

Most programs here use BEGIN/END/interval probes so that nothing depends on the kernel; the few
that read tracepoint formats are marked `kernel`: they need root to mount tracefs.
"""

from __future__ import annotations

import re

import pytest

from tracer import ast
from tracer.compiler import compile_program
from tracer.diagnostics import CompileError
from tracer.options import CompileOptions


def compile_error(text: str, options: CompileOptions | None = None, name: str = "stdin") -> str:
    with pytest.raises(CompileError) as info:
        compile_program(text, name, options)
    return info.value.render()


def compiled_ok(text: str, options: CompileOptions | None = None):
    return compile_program(text, "stdin", options)


def heads(rendered: str) -> list[str]:
    """The `FILE:LINE:COL: severity: message` lines of a rendering."""
    return [line for line in rendered.splitlines() if re.match(r"^[^ ]+:\d+:\d+: ", line)]


# ---- errors, rendered in full ---------------------------------------------------------------


@pytest.mark.parametrize("text, rendered", [
    ("BEGIN { @ = pidd; }",
     "stdin:1:13: error: Unknown identifier: 'pidd'\n"
     "BEGIN { @ = pidd; }\n"
     "            ~~~~\n"
     "hint: did you mean 'pid'?"),
    ('BEGIN { prinft("x"); }',
     "stdin:1:9: error: Unknown function: 'prinft'\n"
     'BEGIN { prinft("x"); }\n'
     "        ~~~~~~\n"
     "hint: did you mean 'printf'?"),
    ('BEGIN { printf("x", 1); }',
     "stdin:1:9: error: too many arguments for format string (1 supplied, 0 expected)\n"
     'BEGIN { printf("x", 1); }\n'
     "        ~~~~~~~~~~~~~~"),
    ('BEGIN { printf("%d %d\\n", 1); }',
     "stdin:1:9: error: not enough arguments for format string (1 supplied, 2 expected)\n"
     'BEGIN { printf("%d %d\\n", 1); }\n'
     "        ~~~~~~~~~~~~~~~~~~~~"),
    ("BEGIN { count(); }",
     "stdin:1:9: error: count() must be assigned to a map, as in @name = count()\n"
     "BEGIN { count(); }\n"
     "        ~~~~~~~"),
    ('BEGIN { @x = 1; @x = "s"; }',
     "stdin:1:17: error: Type mismatch for @x: trying to assign value of type 'string[2]' when "
     "map already has a type 'int8'\n"
     'BEGIN { @x = 1; @x = "s"; }\n'
     "                ~~~~~~~~"),
    ("BEGIN { @x[1] = 1; @x[1, 2] = 2; }",
     "stdin:1:20: error: Argument mismatch for @x: trying to access with arguments: "
     "'(int8, int8)' when map expects arguments: 'int8'\n"
     "BEGIN { @x[1] = 1; @x[1, 2] = 2; }\n"
     "                   ~~~~~~~~"),
    ("BEGIN { @x = $y; }",
     "stdin:1:14: error: Undefined or undeclared variable: $y\n"
     "BEGIN { @x = $y; }\n"
     "             ~~"),
    ("BEGIN { @ = cpid; }",
     "stdin:1:13: error: cpid is the pid of the command given with -c; there is none\n"
     "BEGIN { @ = cpid; }\n"
     "            ~~~~"),
    ("BEGIN { @ = args->foo; }",
     "stdin:1:13: error: args is not available in BEGIN probes\n"
     "BEGIN { @ = args->foo; }\n"
     "            ~~~~"),
    ('BEGIN { @ = "a" + 1; }',
     "stdin:1:17: error: The + operator can not be used on expressions of types string[2], "
     "int8\n"
     'BEGIN { @ = "a" + 1; }\n'
     "                ~"),
])
def test_error_rendering(text, rendered):
    assert compile_error(text) == rendered


@pytest.mark.parametrize("name, suggestion", [("comn", "comm"), ("nsec", "nsecs"), ("tdi", "tid")])
def test_unknown_identifier_hints(name, suggestion):
    rendered = compile_error(f"BEGIN {{ @ = {name}; }}")
    assert heads(rendered) == [f"stdin:1:13: error: Unknown identifier: '{name}'"]
    assert rendered.splitlines()[-1] == f"hint: did you mean '{suggestion}'?"


def test_unknown_identifier_without_a_close_match_has_no_hint():
    rendered = compile_error("BEGIN { @ = zzzzzzzz; }")
    assert heads(rendered) == ["stdin:1:13: error: Unknown identifier: 'zzzzzzzz'"]
    assert "hint" not in rendered


def test_errors_name_the_script_file_and_line():
    rendered = compile_error("BEGIN {\n  @ = pidd;\n}\n", name="trace.bt")
    assert rendered.splitlines()[:3] == [
        "trace.bt:2:7: error: Unknown identifier: 'pidd'",
        "  @ = pidd;",
        "      ~~~~",
    ]


# ---- printf ---------------------------------------------------------------------------------
# bpftrace (0.17, src/printf.cpp) prints the expected and the supplied type by their kind:
# "unsupported format specifier for type 'string[2]': d".


def test_printf_int_specifier_given_a_string():
    rendered = compile_error('BEGIN { printf("%d\\n", "s"); }')
    assert heads(rendered) == [
        "stdin:1:24: error: unsupported format specifier for type 'string[2]': d"]


def test_printf_buffer_specifier_given_an_int():
    rendered = compile_error('BEGIN { printf("%r\\n", 1); }')
    assert heads(rendered) == [
        "stdin:1:24: error: unsupported format specifier for type 'int8': r"]


@pytest.mark.parametrize("text", [
    'BEGIN { printf("%d\\n", 1); }',
    'BEGIN { printf("%s %d\\n", "a", 1); }',
    'BEGIN { printf("%s\\n", comm); }',
    'BEGIN { printf("%lu %x %c\\n", pid, nsecs, 65); }',
    'BEGIN { printf("100%%\\n"); }',
    'BEGIN { $s = "x"; printf("%s\\n", $s); }',
])
def test_printf_accepted(text):
    assert compiled_ok(text).warnings == []


def test_printf_unsupported_specifier_points_at_the_format():
    rendered = compile_error('BEGIN { printf("%z"); }')
    assert heads(rendered) == ["stdin:1:16: error: invalid format specifier '%z': the format string ends before its "
        "conversion (write %% for a literal %)"]


def test_printf_first_argument_must_be_a_literal():
    rendered = compile_error("BEGIN { printf(1); }")
    assert heads(rendered) == [
        "stdin:1:16: error: printf() expects a string literal (int8 provided)"]


# ---- count, maps, variables -----------------------------------------------------------------


@pytest.mark.parametrize("text, head", [
    ("BEGIN { $x = count(); }",
     "stdin:1:14: error: count() must be assigned to a map, as in @name = count()"),
    ('BEGIN { printf("%d", count()); }',
     "stdin:1:22: error: count() must be assigned to a map, as in @name = count()"),
])
def test_count_outside_a_map_assignment(text, head):
    assert heads(compile_error(text))[0] == head


def test_count_into_a_map_is_fine():
    compiled = compiled_ok("BEGIN { @ = count(); @k[pid, comm] = count(); }")
    assert sorted(compiled.resources.maps) == ["@", "@k"]


def test_histogram_map_cannot_be_read():
    assert heads(compile_error("BEGIN { @x = hist(1); @y = @x; }")) == [
        "stdin:1:28: error: @x holds hist() values; they can only be printed"]


def test_map_key_type_mismatch():
    assert heads(compile_error('BEGIN { @x["a"] = 1; @x[1] = 2; }')) == [
        "stdin:1:22: error: Argument mismatch for @x: trying to access with arguments: 'int8' "
        "when map expects arguments: 'string[2]'"]


def test_map_read_with_wrong_key_count():
    assert heads(compile_error("BEGIN { @x = 1; @y = @x[1]; }")) == [
        "stdin:1:22: error: @x used as a map with an explicit key (non-scalar map), previously "
        "used without an explicit key (scalar map)"]


def test_map_read_but_never_assigned():
    assert heads(compile_error("BEGIN { @y = @x; }")) == [
        "stdin:1:14: error: Undefined map: @x"]


def test_map_may_be_read_in_a_probe_before_the_one_that_assigns_it():
    compiled = compiled_ok("BEGIN { @y = @x + 1; } END { @x = 5; }")
    assert sorted(compiled.resources.maps) == ["@x", "@y"]


def test_variable_type_mismatch():
    assert heads(compile_error('BEGIN { $x = 1; $x = "a"; }')) == [
        "stdin:1:17: error: Type mismatch for $x: trying to assign value of type 'string[2]' "
        "when variable already has a type 'int8'"]


def test_variables_are_local_to_their_probe():
    assert heads(compile_error("BEGIN { $x = 1; } END { @ = $x; }")) == [
        "stdin:1:29: error: Undefined or undeclared variable: $x"]


# ---- cpid and positional parameters ---------------------------------------------------------


def test_cpid_with_a_child_command():
    compiled = compiled_ok("BEGIN { @ = cpid; }", CompileOptions(has_child=True))
    assert compiled.warnings == []


def test_cpid_is_left_for_the_loader():
    # The C does not depend on the child's pid: the loader writes it in (test_loader.py).
    compiled = compiled_ok("BEGIN { @ = cpid; }", CompileOptions(has_child=True))
    assert "0x7ace7acf00000000 ll" in compiled.c_text


def test_positional_given_a_word_used_numerically():
    rendered = compile_error("BEGIN { @ = $1 + 1; }", CompileOptions(params=["foo"]))
    assert rendered == (
        'stdin:1:13: error: $1 used numerically but given "foo"\n'
        "BEGIN { @ = $1 + 1; }\n"
        "            ~~\n"
        "hint: use str($1) for a string"
    )


def test_positional_word_through_str_is_fine():
    compiled = compiled_ok('BEGIN { printf("%s\\n", str($1)); }', CompileOptions(params=["foo"]))
    assert '"foo"' in compiled.c_text


def positionals(compiled) -> list:
    return [n.value for n in ast.walk(compiled.program) if isinstance(n, ast.Positional)]


@pytest.mark.parametrize("params, expected", [
    ([], [0, 0]),  # missing positional parameters are 0
    (["7"], [7, 0]),
    (["0x10", "3"], [16, 3]),
    (["-5", "1_000"], [-5, 1000]),  # read as bpftrace reads a literal
    (["1e3", "10s"], [1000, 10_000_000_000]),
])
def test_positional_numbers(params, expected):
    compiled = compiled_ok("BEGIN { @ = $1 + $2; }", CompileOptions(params=params))
    assert positionals(compiled) == expected
    for value in expected:
        assert f"{value}LL" in compiled.c_text


@pytest.mark.parametrize("given", ["18446744073709551616", "9223372036854775808", "٣", "0b101",
                                   "1.5", "12abc"])
def test_positional_that_does_not_fit_is_a_located_error(given):
    rendered = compile_error("BEGIN { @ = $1 + 1; }", CompileOptions(params=[given]))
    assert heads(rendered)[0].startswith("stdin:1:13: error: $1")
    assert given in heads(rendered)[0]


def test_param_count():
    compiled = compiled_ok("BEGIN { @ = $#; }", CompileOptions(params=["a", "b", "c"]))
    assert re.search(r"\b3ULL\b", compiled.c_text)


# ---- args -----------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", ["BEGIN", "END", "interval:s:1"])
def test_args_outside_tracepoints(probe):
    rendered = compile_error(f"{probe} {{ @ = args.foo; }}")
    col = len(probe) + 8
    assert heads(rendered) == [
        f"stdin:1:{col}: error: args is not available in {probe.split(':')[0]} probes"]


def test_bare_args_is_an_error():
    assert heads(compile_error("BEGIN { @ = args; }")) == [
        "stdin:1:13: error: args is a record: read one of its fields, as args.name"]


# These read real tracepoint formats: compile_program mounts tracefs itself as root; elsewhere
# the kernel marker skips them, and CI (TRACER_REQUIRE_KERNEL=1) fails rather than skips.
needs_tracefs = pytest.mark.kernel


@needs_tracefs
def test_tracepoint_args_arrow_and_dot():
    compiled = compiled_ok("tracepoint:syscalls:sys_enter_openat { @a = args->dfd; "
                           "@b = args.flags; }")
    assert sorted(compiled.resources.maps) == ["@a", "@b"]


@needs_tracefs
def test_tracepoint_field_typo_has_a_hint():
    rendered = compile_error("tracepoint:syscalls:sys_enter_openat { @ = args->filenam; }")
    assert heads(rendered) == [
        "stdin:1:44: error: tracepoint:syscalls:sys_enter_openat has no field 'filenam'"]
    assert rendered.splitlines()[-1] == "hint: did you mean 'filename'?"


# ---- operators on the wrong types -----------------------------------------------------------


@pytest.mark.parametrize("text, head", [
    ('BEGIN { @ = "a" + "b"; }', "stdin:1:17: error: The + operator can not be used on "
                                 "expressions of types string[2], string[2]"),
    ('BEGIN { @ = 1 * "ab"; }', "stdin:1:15: error: The * operator can not be used on "
                                "expressions of types int8, string[3]"),
    ('BEGIN { @ = "a" < "b"; }', "stdin:1:17: error: The < operator can not be used on "
                                 "expressions of types string[2], string[2]"),
    ('BEGIN { @ = -"a"; }', "stdin:1:13: error: The - operator can not be used on expressions "
                            "of type string[2]"),
    ('BEGIN { @ = "a" && 1; }', "stdin:1:13: error: The && operator can not be used on "
                                "expressions of types string[2], int8"),
])
def test_string_arithmetic(text, head):
    assert heads(compile_error(text)) == [head]


def test_string_equality_is_allowed():
    compiled_ok('BEGIN { @ = "a" == "b"; @n = comm != "x"; }')


# ---- probes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, head", [
    ("foo:bar { @ = 1; }", "stdin:1:1: error: unknown probe type 'foo'"),
    ("it:task { @ = 1; }",
     "stdin:1:1: error: tracer cannot attach it (bpftrace's iter) probes yet"),
    ("kfunc:vfs_readd { @ = 1; }", "stdin:1:1: error: fentry: no kernel function vfs_readd in BTF"),
    ("fexit:vfs_read { @ = args.nope; }",
     "stdin:1:22: error: fexit:vfs_read has no field 'nope'"),
    ("asyncwatchpoint:0x1000:8:w { @ = 1; }",
     "stdin:1:1: error: tracer cannot attach asyncwatchpoint probes yet"),
    ("watchpoint:0x1000:8:w { @ = 1; }",
     "stdin:1:1: error: watchpoint: a user-space address needs a process to watch"),
    ("watchpoint:0x1000:3:w { @ = 1; }", "stdin:1:1: error: watchpoint: invalid length 3"),
    ("kprobe:vfs_readd { @ = 1; }", "stdin:1:1: error: kprobe: no kernel function vfs_readd"),
    ("kprobe:vfs_read+x { @ = 1; }",
     "stdin:1:1: error: kprobe: 'vfs_read+x' is not a function name"),
    ("kprobe:nomodule:vfs_read { @ = 1; }",
     "stdin:1:1: error: kprobe: no kernel function vfs_read in module nomodule"),
    ("kretprobe:vfs_read+8 { @ = 1; }",
     "stdin:1:1: error: kretprobe: an offset needs one function, at its entry"),
    ("uprobe:/nonexistent/bin:main { @ = 1; }",
     "stdin:1:1: error: uprobe: no such file or library: /nonexistent/bin"),
    ("uprobe:/etc/passwd:main { @ = 1; }",
     "stdin:1:1: error: uprobe: /etc/passwd is not an ELF file tracer can read"),
    ("uprobe:libc:no_such_function_here { @ = 1; }",
     "stdin:1:1: error: uprobe: no function no_such_function_here in "
     "/lib/x86_64-linux-gnu/libc.so.6"),
    ("rawtracepoint:no_such_event { @ = 1; }",
     "stdin:1:1: error: rawtracepoint not found: no_such_event"),
    ("software:nope { @ = 1; }", "stdin:1:1: error: software event not found: nope"),
    ("hardware:cycles:0 { @ = 1; }",
     "stdin:1:1: error: hardware: '0' is not a positive whole number"),
    ("profile:x:1 { @ = 1; }",
     "stdin:1:1: error: profile probes are written profile:UNIT:N or profile:N"),
    ("tracepoint:syscalls:sys_enter_getppid { @ = retval; }",
     "stdin:1:45: error: The retval builtin can only be used with 'fexit', "
     "'kretprobe' and 'uretprobe' probes, not tracepoint"),
    ("kprobe:vfs_read { @ = retval; }",
     "stdin:1:23: error: The retval builtin can only be used with 'fexit', "
     "'kretprobe' and 'uretprobe' probes, not kprobe"),
    ("kretprobe:vfs_read { @ = arg0; }",
     "stdin:1:26: error: The arg0 builtin can only be used with 'kprobe', 'rawtracepoint', "
     "'uprobe' and 'usdt' probes, not kretprobe"),
    ("kprobe:vfs_read { for ($i : 0..2) { @ = arg0; } }",
     "stdin:1:41: error: 'arg0' builtin is not allowed in a for-loop"),
    ("i:s:0 { @ = 1; }", "stdin:1:1: error: interval: '0' is not a positive whole number"),
    ("interval:x:1 { @ = 1; }",
     "stdin:1:1: error: interval probes are written interval:UNIT:N or interval:N"),
    ("interval:1x { @ = 1; }", "stdin:1:1: error: interval: invalid integer suffix 'x'"),
    ("BEGIN:x { @ = 1; }", "stdin:1:1: error: BEGIN takes no arguments"),
    ("self:signal:SIGUSR2 { @ = 1; }",
     "stdin:1:1: error: self probes are written self:signal:SIGNAL"),
])
def test_bad_attach_points(text, head):
    assert heads(compile_error(text)) == [head]


# ---- several errors at once -----------------------------------------------------------------


def test_every_error_is_reported():
    text = ('BEGIN { @ = pidd; prinft(); @y = $z; }\n'
            'END { printf("%d\\n"); @x = 1; @x = "s"; }')
    assert heads(compile_error(text)) == [
        "stdin:1:13: error: Unknown identifier: 'pidd'",
        "stdin:1:19: error: Unknown function: 'prinft'",
        "stdin:1:34: error: Undefined or undeclared variable: $z",
        "stdin:2:7: error: not enough arguments for format string (0 supplied, 1 expected)",
        "stdin:2:31: error: Type mismatch for @x: trying to assign value of type 'string[2]' "
        "when map already has a type 'int8'",
    ]


def test_an_error_in_a_probe_with_two_attach_points_is_reported_once():
    # One probe, two sites: each site is checked, but the same mistake at the same place is
    # one message.
    rendered = compile_error("BEGIN, END { @ = pidd; }")
    assert heads(rendered) == ["stdin:1:18: error: Unknown identifier: 'pidd'"]


# ---- warnings -------------------------------------------------------------------------------


SIGNED_DIV = ("signed operands for '{op}' can lead to undefined behavior "
              "(cast to unsigned to silence warning)")


# bpftrace 0.26 warns when the two sides (a literal taking the other's sign) differ and one
# is signed; two values of one signed type divide without a warning.
@pytest.mark.parametrize("text, col, op", [
    ("BEGIN { @ = (int64)-7 / (uint32)2; }", 23, "/"),
    ("BEGIN { @ = (int32)-7 % (uint8)2; }", 23, "%"),
    ("BEGIN { $x = (int16)5; @ = $x / pid; }", 31, "/"),
    ("BEGIN { @ = nsecs /    (int8)-3; }", 19, "/"),
])
def test_signed_division_warns_at_the_operator(text, col, op):
    compiled = compiled_ok(text)
    assert [w.render(compiled.source) for w in compiled.warnings] == [
        f"stdin:1:{col}: warning: {SIGNED_DIV.format(op=op)}\n"
        f"{text}\n"
        f"{' ' * (col - 1)}~"
    ]


@pytest.mark.parametrize("text", [
    "BEGIN { @ = 5 / 2; }",
    "BEGIN { @ = nsecs / 1000; }",
    "BEGIN { @ = 1000 / nsecs; }",
    "BEGIN { @ = pid % 7; }",
    "BEGIN { @ = 5 * -2; }",
    "BEGIN { @ = pid + nsecs; }",
    "BEGIN { @ = -7 / 2; }",  # the literal 2 takes -7's sign: both int8
    "BEGIN { $x = (int64)5; @ = $x / (int64)2; }",
])
def test_no_warning(text):
    assert compiled_ok(text).warnings == []


def test_warnings_do_not_stop_compilation():
    compiled = compiled_ok("BEGIN { @ = (int64)-7 / (uint32)2; }")
    assert len(compiled.warnings) == 1
    assert "int probe_0(" in compiled.c_text


@pytest.mark.parametrize("attach, name", [
    ("interval:1s", "interval:ns:1000000000"), ("interval:250ms", "interval:ns:250000000"),
    ("interval:1000", "interval:ns:1000"), ("i:s:2", "interval:s:2"), ("i:hz:99", "interval:hz:99"),
])
def test_interval_forms(attach, name):
    (site,) = compiled_ok(f"{attach} {{ @ = 1; }}").sites
    assert site.target.name == name


@pytest.mark.parametrize("text, undefined", [
    ("BEGIN { @a = @a; }", ["@a"]),
    ("BEGIN { @a = @b; @b = @a; }", ["@b", "@a"]),
])
def test_a_map_given_only_an_undefined_maps_value_is_undefined(text, undefined):
    # bpftrace: a map copied from one nothing assigns has no type either.
    assert [h.split("error: ")[1] for h in heads(compile_error(text))] == [
        f"Undefined map: {name}" for name in undefined]


@pytest.mark.parametrize("text, value_type", [
    ("BEGIN { @a = @a + 1; }", "int64"),
    ('BEGIN { @a = @b; } END { @b = "x"; }', "string[2]"),
    ("BEGIN { @a = @a; @a = 2; }", "int8"),  # a literal, widened where it is stored
])
def test_a_map_read_before_its_assignment_takes_the_assigned_type(text, value_type):
    compiled = compiled_ok(text)
    assert str(compiled.facts.maps["@a"].value) == value_type


def test_a_builtin_written_as_a_call_can_be_stored_in_a_map():
    compiled = compiled_ok("BEGIN { @n = cpu(); }")
    assert str(compiled.facts.maps["@n"].value) == "uint32"


def test_no_probe_type_is_both_attachable_and_listed_as_missing():
    from tracer.providers import REGISTRY
    from tracer.providers.unsupported import names
    assert not {REGISTRY.key(name) for name in names()} & set(REGISTRY.providers)
