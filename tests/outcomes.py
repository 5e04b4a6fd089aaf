"""What the kernel tests ask of a finished tracer run, written once: it succeeded without a
Python traceback (``stdout_of``), and printed exactly this (``expect_output``)."""

from __future__ import annotations

import subprocess


def stdout_of(proc: subprocess.CompletedProcess) -> str:
    """The run's stdout, once it is known to have ended with status 0 and no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def expect_output(proc: subprocess.CompletedProcess, stdout: str) -> None:
    """Exit status 0, exactly this stdout, and no Python traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (proc.returncode, proc.stdout) == (0, stdout), proc.stderr
