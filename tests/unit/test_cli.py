"""The command line, run as a user runs it (`python -m tracer`), and -c's command splitting."""

from __future__ import annotations

import os
import shutil
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
    assert proc.returncode == 127  # as a shell's "command not found"
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


# ---- standard streams that are closed, full or go away, and not being root ------------------
#
# Each is run as the reporter ran it: through the shell, with its redirection. None may end in
# an internal error (status 70) or a traceback.

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
BEGIN_X = 'BEGIN { printf("x\\n"); exit(); }'
OPENAT = 'tracepoint:syscalls:sys_enter_openat { printf("%s\\n", str(args->filename)); }'
STDOUT_CLOSED = ("tracer: error: standard output is closed, so there is nowhere to print to\n"
                 "hint: redirect it instead (> FILE, or > /dev/null to discard it); -o FILE "
                 "takes the trace output\n")
STDIN_CLOSED = ("tracer: error: cannot read the program from standard input (-): it is closed\n"
                "hint: give the program with -e PROGRAM or as a FILE, or redirect standard input "
                "(< FILE)\n")
NEEDS_ROOT = ("tracer: error: tracer needs root to load BPF programs\n"
              "hint: run it with sudo or as root\n")
TRACEPOINTS_NEED_ROOT = (
    "tracer: error: tracepoint probes need root, even to compile them (-d): the kernel "
    "describes them in /sys/kernel/tracing, which only root may read\n"
    "hint: run it with sudo or as root; a program without tracepoints (BEGIN, END, interval) "
    "compiles with -d as any user\n")


def shell_tracer(redirect: str, *args: str, stdin: str | None = None,
                 as_nobody: bool = False) -> subprocess.CompletedProcess:
    """`tracer ARGS REDIRECT` as sh runs it (REDIRECT: `>&-`, `> /dev/full`, `<&-`)."""
    argv = ["/bin/sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-m", "tracer", *args]
    if as_nobody and os.geteuid() == 0:
        argv = NOBODY + argv
    return subprocess.run(argv, input="" if stdin is None else stdin, capture_output=True,
                          text=True, timeout=60, cwd=MAIN)


def assert_no_crash(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr


def test_dry_run_with_stdout_closed():
    proc = shell_tracer(">&-", "-d", "-e", BEGIN_X)
    assert_no_crash(proc)
    assert (proc.returncode, proc.stderr) == (1, STDOUT_CLOSED)


def test_dry_run_with_stdout_on_a_full_device():
    proc = shell_tracer("> /dev/full", "-d", "-e", BEGIN_X)
    assert_no_crash(proc)
    assert (proc.returncode, proc.stderr) == (
        1, "tracer: error: cannot write to standard output (/dev/full): "
           "No space left on device\n")


def test_dry_run_program_from_closed_stdin():
    proc = shell_tracer("<&-", "-d", "-")
    assert_no_crash(proc)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", STDIN_CLOSED)


def test_dry_run_into_a_pipe_nobody_reads_ends_quietly():
    # A reader that went away before anything was written: EPIPE at the first write.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "tracer", "-d", "-e", BEGIN_X],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                              cwd=MAIN)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_program_from_stdin_that_is_not_utf8():
    # Read as bytes and decoded as a FILE is, whatever Python's own decoding of stdin would
    # do with them (strict, as it is here, fails on the \xff).
    proc = subprocess.run([sys.executable, "-m", "tracer", "-d", "-"],
                          input=b'BEGIN { printf("\xff\\n"); }', capture_output=True,
                          timeout=60, cwd=MAIN, env={**os.environ,
                                                     "PYTHONIOENCODING": "utf-8:strict"})
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert b"StrLit value=b'\\xff\\n' :: string[3]\n" in proc.stdout


def test_printf_width_in_other_digits_is_a_located_error():
    proc = tracer_module("-d", "-e", 'BEGIN { printf("%\u0663d\\n", 5); exit(); }')
    assert_no_crash(proc)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        "stdin:1:16: error: invalid format specifier '%\u0663': widths and precisions take the "
        "digits 0-9 only\n"
        'BEGIN { printf("%\u0663d\\n", 5); exit(); }\n'
        "               ~~~~~~~\n")


# -- not root: what needs no kernel description compiles with -d; the rest says root is needed

needs_a_user_switch = pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None,
    reason="running as root, and setpriv (util-linux) is missing to become nobody")


@needs_a_user_switch
def test_not_root_dry_run_of_a_begin_program():
    proc = shell_tracer("", "-d", "-", stdin=BEGIN_X, as_nobody=True)
    assert_no_crash(proc)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("AST:\n") and "int probe_0(" in proc.stdout


@needs_a_user_switch
def test_not_root_dry_run_of_a_tracepoint_says_root_is_needed():
    proc = shell_tracer("", "-d", "-e", OPENAT, as_nobody=True)
    assert_no_crash(proc)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", TRACEPOINTS_NEED_ROOT)


@needs_a_user_switch
def test_not_root_run_says_root_is_needed():
    # Before -o is opened (it would fail: the directory does not exist), or anything else.
    proc = shell_tracer("", "-o", "/nonexistent/out", "-e", BEGIN_X, as_nobody=True)
    assert_no_crash(proc)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", NEEDS_ROOT)


@needs_a_user_switch
def test_not_root_run_of_a_tracepoint_says_root_is_needed():
    # Its compile already needs root: the message is the one of -d.
    proc = shell_tracer("", "-e", OPENAT, as_nobody=True)
    assert_no_crash(proc)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "", TRACEPOINTS_NEED_ROOT)


@needs_a_user_switch
def test_not_root_run_shows_the_programs_own_errors_first():
    proc = shell_tracer("", "-e", "BEGIN { @ = 1 +; }", as_nobody=True)
    assert_no_crash(proc)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr.startswith("stdin:1:16: error: syntax error: unexpected ';'\n")


def test_not_root_with_tracefs_unmounted_says_only_root_mounts_it(tmp_path, monkeypatch):
    from tracer.diagnostics import TracerError
    from tracer.runtime import kernel

    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\n")
    tracing = tmp_path / "kernel" / "tracing"
    tracing.mkdir(parents=True)

    def refuse(source, target, fstype):
        raise OSError("mount(2): Operation not permitted")

    monkeypatch.setattr(kernel, "_tracefs_cache", None)
    monkeypatch.setattr(kernel.os, "geteuid", lambda: 65534)
    with pytest.raises(TracerError) as err:
        kernel.tracefs_path(lambda message: None, mounts_file=str(mounts),
                            sys_kernel=str(tmp_path / "kernel"), mount=refuse)
    assert err.value.render() == (
        f"tracer: error: tracefs is not mounted and mounting it on {tracing} failed: "
        f"mount(2): Operation not permitted\n"
        f"hint: only root can mount it: run tracer with sudo or as root, or mount it by hand: "
        f"mount -t tracefs nodev {tracing}")
