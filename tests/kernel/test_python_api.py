"""tracer's Python API: the same stages as the CLI, called from a program."""

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.kernel


def test_run_counts_a_commands_calls(workload, tmp_path):
    # tracer.run writes to a descriptor and returns when the command exits. It runs in a child
    # Python so that the test process keeps its own signal handlers and stdout.
    script = textwrap.dedent(f"""
        import os, tracer
        fd = os.open({str(tmp_path / "out")!r}, os.O_WRONLY | os.O_CREAT)
        status = tracer.run("tracepoint:syscalls:sys_enter_getppid /pid == cpid/ {{ @ = count(); }}",
                            command={workload("tk_loop") + " 250"!r}, output_fd=fd)
        print(status)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "0\n"), proc.stderr
    assert (tmp_path / "out").read_text() == "\n\n@: 250\n"
