"""tracer: bpftrace programs compiled to eBPF through BCC.

The command line is ``tracer``; the same stages are here for programs and tests:

    import tracer
    compiled = tracer.compile('BEGIN { printf("hi\\n"); exit(); }')   # parse, check, generate C
    print(compiled.c_text)
    tracer.run('tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }',
               command="./workload")                                  # as root: trace, print

Imports are deferred so that ``import tracer`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"


def compile(text: str, name: str = "stdin", params=(), has_child: bool = False, named=None):
    """Parse, check and generate C for a program; raises CompileError with located errors.
    ``named`` holds the named parameters getopt() reads ({"name": "value" or True})."""
    from .compiler import compile_program
    from .options import CompileOptions

    return compile_program(text, name, CompileOptions(params=list(params), has_child=has_child,
                                                      named=dict(named or {})))


def run(text: str, name: str = "stdin", params=(), command: str | None = None,
        pid: int | None = None, output_fd: int = 1, named=None) -> int:
    """Compile and run a program as the CLI does, writing bpftrace's text output to
    ``output_fd``; returns when the program ends (exit(), the command or process ending, or
    SIGINT/SIGTERM). Needs root."""
    from .compiler import compile_program
    from .options import CompileOptions
    from .output import TextOutput
    from .runtime import kernel
    from .runtime.session import trace

    options = CompileOptions(params=list(params), has_child=command is not None, target_pid=pid,
                             named=dict(named or {}))
    kernel.tracefs_path(options.notice)  # tracepoints are expanded from it
    compiled = compile_program(text, name, options)
    return trace(compiled, options, TextOutput(output_fd), command)
