"""printf's bytes against the installed bpftrace 0.17, for the formats where 0.17 prints what
0.26 prints.

0.17 handed each specifier to C's snprintf; 0.26 formats through a C++ stream (see
tracer/printf.py). The two agree on the cases below. Left out on purpose, because 0.26 prints
them differently from 0.17 or 0.17 lacks them: a precision (0.26 ignores it), the 0 flag with a
negative value or with '-', %p of 0 (0.26: "0", 0.17: "(nil)"), %c of 0 (0.17 stops at the
NUL), %% (0.17 prints "%%"), %i, the + space # flags and '*' (0.17 does not know them), a width
on %r, and %s of anything but a string (0.17 refuses it).

All the cases run in one bpftrace program, each printf followed by a separator byte.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tracer.values import Buffer
from tracer.printf import parse_format, render

SEPARATOR = b"\x1e"

# (format, the arguments as bpftrace source, the same values as tracer's runtime hands them)
CASES = [
    ("%d", "5000000000", [5000000000]),
    ("%ld", "5000000000", [5000000000]),
    ("%lld", "-5000000000", [-5000000000]),
    ("%u", "-1", [-1]),
    ("%lu", "-1", [-1]),
    ("%x", "-1", [-1]),
    ("%lx", "-1", [-1]),
    ("%llX", "-2", [-2]),
    ("%X", "255", [255]),
    ("%o", "8", [8]),
    ("%lo", "-1", [-1]),
    ("%x %o", "0, 0", [0, 0]),
    ("%hd", "70000", [70000]),
    ("%hhd", "300", [300]),
    ("%hhd", "200", [200]),
    ("%hu", "-1", [-1]),
    ("%hhu", "-1", [-1]),
    ("%hhx", "-1", [-1]),
    ("%zu", "-1", [-1]),
    ("%zd", "-1", [-1]),
    ("%jd", "5000000000", [5000000000]),
    ("%td", "-5000000000", [-5000000000]),
    ("%tx", "-1", [-1]),
    ("%p", "4096", [4096]),
    ("%10p|", "255", [255]),
    ("%-10p|", "255", [255]),
    ("%c", "321", [321]),
    ("%c", "233", [233]),
    ("%5c|", "66", [66]),
    ("%-3c|", "66", [66]),
    ("%5d|", "-42", [-42]),
    ("%3d|", "12345", [12345]),
    ("%-5d|", "42", [42]),
    ("%-8x|", "255", [255]),
    ("%05x", "42", [42]),
    ("%08d", "1234", [1234]),
    ("%00d", "5", [5]),
    ("%5hhu|", "-1", [-1]),
    ("%08lx", "3735928559", [3735928559]),
    ("%s", '"hello"', ["hello"]),
    ("%10s|", '"hi"', ["hi"]),
    ("%-10s|", '"hi"', ["hi"]),
    ("%5s|", '"é"', ["é"]),
    ("%2s|", '"abcdef"', ["abcdef"]),
    ("pid=%d comm=%s", '42, "bash"', [42, "bash"]),
    ("é%dü", "3", [3]),
    ("%d %s %x", '1, "two", 3', [1, "two", 3]),
    ("%r", r'buf("ab\x01c~", 5)', [Buffer(b"ab\x01c~")]),
    ("%rx", 'buf("AB", 2)', [Buffer(b"AB")]),
    ("%rh", r'buf("AB\xff", 3)', [Buffer(b"AB\xff")]),
    ("[%r]", r'buf("\x00\x7f ", 3)', [Buffer(b"\x00\x7f ")]),
    ("no conversions at all", "", []),
]


def _program() -> str:
    calls = []
    for fmt, args, _ in CASES:
        calls.append(f'printf("{fmt}"{", " + args if args else ""});')
        calls.append(r'printf("\x1e");')
    return "BEGIN { " + " ".join(calls) + " exit(); }"


@pytest.fixture(scope="module")
def bpftrace_outputs() -> list[bytes]:
    exe = shutil.which("bpftrace")
    if exe is None:
        pytest.skip("bpftrace is not on PATH")
    proc = subprocess.run([exe, "-e", _program()], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    first_line, _, rest = proc.stdout.partition(b"\n")
    assert first_line.startswith(b"Attaching 1 probe")
    outputs = rest.split(SEPARATOR)
    # What follows the last separator is what bpftrace prints at exit, not a case.
    assert len(outputs) == len(CASES) + 1, proc.stdout
    return outputs[:-1]


def test_cases_are_unique():
    keys = [(fmt, args) for fmt, args, _ in CASES]
    assert len(keys) == len(set(keys)) >= 40


@pytest.mark.compat
@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[f"{fmt}<-{args}" for fmt, args, _ in CASES])
def test_same_bytes_as_bpftrace(bpftrace_outputs, index):
    fmt, _, values = CASES[index]
    ours = render(parse_format(fmt), values).encode("utf-8", "surrogateescape")
    assert ours == bpftrace_outputs[index]
