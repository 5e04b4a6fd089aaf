"""What running a case means: compile it with tracer, or compile it with tracer and then have
BCC (clang) compile the C, exactly as ``tracer.runtime.session`` does before loading.

Why the second: tracer accepting a program is only half the promise; C that clang refuses is a
tracer bug the user meets at run time ("BCC could not compile the generated program"). A BCC
compile costs about 0.3 s, so the fuzzer samples a few accepted programs for it.
"""

from __future__ import annotations

import os
import re
import tempfile

from tracer import ast
from tracer.compiler import compile_program
from tracer.diagnostics import CompileError
from tracer.options import CompileOptions

REFUSALS = (CompileError,)


def _quiet(message: str) -> None:
    pass


def compile_case(case):
    """tracer's whole compiler on the case, in this process; CompileError means refused.

    What the command line does with the result is part of the promise too, so it is done
    here: a refusal's messages are rendered (with their hints, cut to the window), and an
    accepted program's warnings and its `-d` dump."""
    options = CompileOptions(params=list(case.params), named=dict(case.named),
                             has_child=case.has_child, notice=_quiet)
    try:
        # No BPFTRACE_* variables from the fuzzer's own environment: runs must reproduce.
        compiled = compile_program(case.text, "fuzz.bt", options, environ={})
    except CompileError as err:
        err.render()
        raise
    for warning in compiled.warnings:
        warning.render(compiled.source)
    ast.dump(compiled.program)
    return compiled


class ClangRejected(Exception):
    """BCC refused tracer's C. ``fuzz_cause`` groups failures by clang's first error."""

    def __init__(self, message: str, cause: str, c_text: str):
        super().__init__(message)
        self.fuzz_cause = cause
        self.fuzz_extra = c_text


_prepared = False


def clang_case(case):
    """compile_case, then BCC on the C. Only accepted programs are given to it."""
    global _prepared
    from tracer.runtime import kernel
    import bcc

    c_text = compile_case(case).c_text
    if not _prepared:
        kernel.prepare(_quiet)  # kernel headers for BCC, as a real run sets them up
        _prepared = True
    # BCC prints clang's messages on file descriptor 2 and raises a bare Exception: catch both.
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            bpf = bcc.BPF(text=c_text, debug=0, cflags=["-w"])
        except Exception as err:
            os.dup2(saved, 2)
            captured.seek(0)
            messages = captured.read().decode("utf-8", "replace")
            raise ClangRejected(f"{err}\n{messages}", clang_cause(messages, str(err)),
                                c_text) from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    bpf.cleanup()


def clang_cause(messages: str, error: str) -> str:
    """clang's first error, with its place and the numbers in it blurred, so that one mistake
    in tracer's C is one cause however many programs show it."""
    first = next((line for line in messages.splitlines() if "error:" in line), error[:200])
    first = first.split("error:", 1)[-1].strip()
    first = re.sub(r"\d+", "N", first)
    return f"ClangRejected: {first}"
