"""The command line, run as a user runs it (`python -m tracer`), and -c's command splitting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tracer.runtime.child import command_argv

MAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tracer(*args: str, stdin: str | None = None, timeout: float = 60,
           preamble: str = "") -> subprocess.CompletedProcess:
    """Run the CLI in a fresh Python. ``preamble`` runs before tracer is imported."""
    code = preamble + "import sys; sys.argv[0] = 'tracer'; from tracer.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=MAIN)


def tracer_module(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=MAIN, stdin=subprocess.DEVNULL)


def test_version():
    proc = tracer_module("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "tracer v0.1.0\n", "")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    proc = tracer_module(flag)
    assert proc.returncode == 0
    assert proc.stdout.startswith("Usage: ")
    assert "-e PROGRAM" in proc.stdout
    assert "-d" in proc.stdout and "-c CMD" in proc.stdout
    assert proc.stderr == ""


def test_no_program_is_a_usage_error():
    proc = tracer_module()
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("Usage: ")
    assert "Error: no program: give -e PROGRAM, a FILE, or - for standard input" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_option_is_a_usage_error():
    proc = tracer_module("--no-such-option")
    assert proc.returncode == 2
    assert "No such option" in proc.stderr and "--no-such-option" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_syntax_error_in_e():
    proc = tracer_module("-e", "BEGIN { @ = 1 +; }")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "stdin:1:16: error: syntax error: unexpected ';'\n"
        "BEGIN { @ = 1 +; }\n"
        "               ~\n"
    )


def test_semantic_error_in_e():
    proc = tracer_module("-e", "BEGIN { @ = pidd; }")
    assert proc.returncode == 1
    assert proc.stderr.startswith("stdin:1:13: error: Unknown identifier: 'pidd'\n")
    assert "Traceback" not in proc.stderr


def test_missing_script_file(tmp_path):
    missing = tmp_path / "nope.bt"
    proc = tracer_module(str(missing))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == f"tracer: error: cannot read {missing}: No such file or directory\n"


def test_script_file_errors_are_reported_under_its_name(tmp_path):
    script = tmp_path / "bad.bt"
    script.write_text("#!/usr/bin/env tracer\nBEGIN {\n  @ = pidd;\n}\n")
    proc = tracer_module(str(script))
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[:3] == [
        f"{script}:3:7: error: Unknown identifier: 'pidd'",
        "  @ = pidd;",
        "      ~~~~",
    ]


def test_program_from_stdin():
    proc = tracer("-d", "-", stdin='BEGIN { printf("from stdin\\n"); }')
    assert proc.returncode == 0, proc.stderr
    assert "int probe_0(" in proc.stdout


def test_dry_run_prints_ast_and_c_and_loads_nothing():
    # With BCC made unimportable, anything that tried to load the program would fail.
    proc = tracer("-d", "-e", 'BEGIN { printf("hi\\n"); exit(); }',
                  preamble="import sys; sys.modules['bcc'] = None; ")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert out.startswith("AST:\n")
    assert "\nC:\n" in out
    assert out.index("AST:") < out.index("\nC:\n")
    assert "Call name='printf'" in out
    assert "int probe_0(" in out
    assert "Attaching" not in out


def test_dry_run_via_module_entry_point():
    proc = tracer_module("-d", "-e", 'BEGIN { printf("hi\\n"); exit(); }')
    assert proc.returncode == 0, proc.stderr
    assert "AST:" in proc.stdout and "C:" in proc.stdout and "int probe_0" in proc.stdout


def test_dry_run_shows_warnings_on_stderr():
    proc = tracer("-d", "-e", "BEGIN { @ = (int64)-7 / (uint32)2; }")
    assert proc.returncode == 0
    assert proc.stderr.startswith("stdin:1:23: warning: signed operands for '/'")
    assert "AST:" in proc.stdout


def test_positional_parameters_after_the_script(tmp_path):
    script = tmp_path / "p.bt"
    script.write_text("BEGIN { @ = $1 + $2; }\n")
    proc = tracer("-d", str(script), "40", "2")
    assert proc.returncode == 0, proc.stderr
    assert "40LL" in proc.stdout and "2LL" in proc.stdout


# ---- -c: how the command is run -------------------------------------------------------------


@pytest.mark.parametrize("command, argv", [
    ("./loop 5", ["./loop", "5"]),
    ("echo 'a b'", ["echo", "a b"]),
    ('echo "a b" c', ["echo", "a b", "c"]),
    ("  spaced   words  ", ["spaced", "words"]),
    ("/bin/true", ["/bin/true"]),
])
def test_command_argv_splits_words(command, argv):
    assert command_argv(command) == argv


@pytest.mark.parametrize("command", [
    "a | b",
    "x > f",
    "x < f",
    "echo $HOME",
    "A=1 cmd",
    "a && b",
    "a; b",
    "sleep 1 &",
    "echo `date`",
    "ls *.c",
    "(cd /tmp)",
    "echo ~",
])
def test_command_argv_uses_a_shell_for_shell_syntax(command):
    assert command_argv(command) == ["/bin/sh", "-c", command]


def test_command_argv_unbalanced_quote_goes_to_the_shell():
    assert command_argv("echo 'oops") == ["/bin/sh", "-c", "echo 'oops"]


@pytest.mark.kernel  # the -c check runs after the root check
def test_c_command_that_does_not_exist():
    proc = tracer_module("-c", "/no/such/program", "-e", "BEGIN { exit(); }")
    assert proc.returncode == 1
    assert proc.stderr.startswith("tracer: error: -c: cannot run '/no/such/program': "
                                  "no such executable")


def test_python_api_compile_gives_ast_sites_and_c():
    import tracer
    from tracer.diagnostics import CompileError

    compiled = tracer.compile('BEGIN { printf("%d\\n", $1 + 1); exit(); }', params=["41"])
    assert [s.target.name for s in compiled.sites] == ["BEGIN"]
    assert "int probe_0(" in compiled.c_text and "41LL" in compiled.c_text
    with pytest.raises(CompileError) as err:
        tracer.compile("BEGIN { @x = cpid; }")
    assert "cpid" in err.value.render()
