"""The command line, compatible with bpftrace's: it wires the stages together and turns every
failure into a message and an exit code. Nothing here compiles, loads or prints trace output.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Optional

import click

from . import __version__, ast
from .compiler import compile_program
from .diagnostics import CompileError, TracerError
from .options import CompileOptions, split_named
from .output import FORMATS, make_output
from .runtime.session import trace

EXIT_PROGRAM_ERROR = 1
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE

EPILOG = """\b
Examples:
  tracer -e 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }'
  tracer -c ./workload -e 'tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @ = count(); }'
  tracer script.bt 42 name     (in the script, $1 is 42 and str($2) is "name")
"""


@click.command(context_settings=dict(help_option_names=["-h", "--help"],
                                     allow_interspersed_args=False),
               epilog=EPILOG)
@click.option("-e", "program_text", metavar="PROGRAM", help="The program to run.")
@click.option("-c", "command", metavar="CMD",
              help="Run CMD, trace it (cpid is its pid) and stop when it exits.")
@click.option("-p", "pid", type=click.IntRange(min=1), metavar="PID",
              help="Stop when process PID exits.")
@click.option("-d", "dry_run", is_flag=True,
              help="Dry run: print the syntax tree and the generated C, load nothing.")
@click.option("-v", "verbose", is_flag=True, help="Say what is prepared and attached.")
@click.option("-f", "fmt", type=click.Choice(sorted(FORMATS)), default="text",
              help="Output format: text (bpftrace's) or json (one object per line).")
@click.option("-o", "output_path", metavar="FILE", help="Write the trace output to FILE.")
@click.option("-q", "quiet", is_flag=True, help="Do not say how many probes are attached.")
@click.option("--unsafe", is_flag=True, help="Allow functions that act beyond tracing: "
                                              "system(), signal().")
@click.version_option(__version__, "--version", message="tracer v%(version)s")
@click.argument("args", nargs=-1, metavar="[FILE | -] [ARG]...")
def cli(program_text: Optional[str], command: Optional[str], pid: Optional[int], dry_run: bool,
        verbose: bool, fmt: str, output_path: Optional[str], quiet: bool, unsafe: bool,
        args: tuple[str, ...]) -> None:
    """Trace the Linux kernel with a bpftrace program, compiled to eBPF through BCC.

    The program comes from -e, from FILE, or from standard input (-); the words after it are
    its positional parameters, $1, $2, ... After `--` come more of them and the named ones
    that getopt() reads: -- --name=value --flag.
    """
    name, text, params = read_program(program_text, list(args))
    more, named = split_named(click.get_current_context().obj or [])
    options = CompileOptions(params=params + more, named=named,
                             has_child=command is not None, target_pid=pid, verbose=verbose,
                             unsafe=unsafe, quiet=quiet)
    compiled = compile_program(text, name, options)
    if "help" in named:
        _program_options(compiled.facts.getopts)
        return
    for warning in compiled.warnings:
        click.echo(warning.render(compiled.source), err=True)
    if dry_run:
        click.echo("AST:\n" + ast.dump(compiled.program) + "\n\nC:\n" + compiled.c_text, nl=False)
        return
    _name_process("tracer")
    fd = open_output(output_path)
    output = make_output(fmt, fd, isatty=os.isatty(fd), environ=os.environ)
    raise click.exceptions.Exit(trace(compiled, options, output, command))


def open_output(path: Optional[str]) -> int:
    """The descriptor trace output goes to: stdout, or FILE for -o (created or truncated)."""
    if path is None:
        return sys.stdout.fileno()
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise TracerError(f"cannot open {path} for the output (-o): {err.strerror}") from None


def _program_options(getopts: dict[str, str]) -> None:
    """`-- --help`: the named parameters the program reads, as bpftrace lists them."""
    lines = ["HINT: expected program options:"]
    lines += [f"--{name}: {doc}" if doc else f"--{name}" for name, doc in getopts.items()]
    click.echo("\n".join(lines), err=True)
    raise click.exceptions.Exit(1)


def read_program(program_text: Optional[str], args: list[str]) -> tuple[str, str, list[str]]:
    """(name for messages, program text, positional parameters)."""
    if program_text is not None:
        return "stdin", program_text, args
    if not args:
        raise click.UsageError("no program: give -e PROGRAM, a FILE, or - for standard input")
    path, params = args[0], args[1:]
    if path == "-":
        return "stdin", sys.stdin.read(), params
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return path, f.read(), params
    except OSError as err:
        raise TracerError(f"cannot read {path}: {err.strerror}") from None


def _name_process(name: str) -> None:
    """Show as `tracer` (not `python3`) in comm, as bpftrace shows as `bpftrace`."""
    try:
        ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def main() -> None:
    argv = sys.argv[1:]
    # Words after `--` are the program's (named parameters and more positional ones); click
    # would drop the `--` in some places and not in others, so it never sees them.
    after: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, after = argv[:split], argv[split + 1:]
    try:
        # Without standalone mode click returns an Exit's code instead of exiting with it.
        code = cli.main(argv, standalone_mode=False, obj=after)
        if isinstance(code, int):
            sys.exit(code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except CompileError as err:
        click.echo(err.render(), err=True)
        sys.exit(EXIT_PROGRAM_ERROR)
    except TracerError as err:
        click.echo(err.render(), err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (| head): leave quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as err:  # a tracer bug: say so plainly; the traceback only on request
        if os.environ.get("TRACER_DEBUG"):
            raise
        click.echo(f"tracer: internal error: {type(err).__name__}: {err}\n"
                   f"hint: this is a bug in tracer; TRACER_DEBUG=1 shows where it happened",
                   err=True)
        sys.exit(EXIT_INTERNAL_ERROR)
