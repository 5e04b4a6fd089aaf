"""The command line, compatible with bpftrace's: it wires the stages together and turns every
failure into a message and an exit code. Nothing here compiles, loads or prints trace output.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Iterator, Optional

import click

from . import __version__, ast
from .compiler import compile_program
from .diagnostics import EXIT_INTERNAL_ERROR, CompileError, TracerError
from .options import CompileOptions, split_named
from .output import FORMATS, Output, make_output
from .runtime import kernel


EPILOG = """\b
Examples:
  tracer -e 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }'
  tracer -c ./workload -e 'tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @ = count(); }'
  tracer script.bt 42 name     (in the script, $1 is 42 and str($2) is "name")
  tracer doctor                (what this machine supports, and how to fix each gap)
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
@click.option("--dry-run", "attach_only", is_flag=True,
              help="Compile, load and attach every probe, then exit at once without running "
                   "anything or printing: checks that the program can run on this machine.")
@click.option("-v", "verbose", is_flag=True,
              help="Say what is prepared and attached; with -l, show each probe's arguments.")
@click.option("-l", "listing", is_flag=True,
              help="List the probes that match the pattern given as ARG (all without one).")
@click.option("-f", "fmt", type=click.Choice(sorted(FORMATS)), default="text",
              help="Output format: text (bpftrace's) or json (one object per line).")
@click.option("-o", "output_path", metavar="FILE", help="Write the trace output to FILE.")
@click.option("-q", "quiet", is_flag=True, help="Do not say how many probes are attached.")
@click.option("--unsafe", is_flag=True, help="Allow functions that act beyond tracing: "
                                              "system(), signal().")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Compile the program even if the compiled-program cache has it, and keep "
                   "nothing there (also: TRACER_NO_CACHE=1).")
@click.option("--metrics", "metrics", metavar="[HOST:]PORT",
              help="Serve the maps to Prometheus at HOST:PORT (127.0.0.1 unless given), read "
                   "from the kernel at each scrape.")
@click.option("--metrics-labels", "metrics_labels", metavar="SPEC",
              help="Label names of the maps' keys: '@reqs=comm,pid;@lat=cpu' "
                   "(key0, key1 ... otherwise).")
@click.option("--live", "live", is_flag=False, flag_value="1s", metavar="[=INTERVAL]",
              help="On a terminal, redraw the maps in place every INTERVAL (1s unless given: "
                   "--live=500ms); q or Ctrl-C ends it and prints the final maps.")
@click.version_option(__version__, "--version", message="tracer v%(version)s")
@click.argument("args", nargs=-1, metavar="[FILE | -] [ARG]...")
def cli(program_text: Optional[str], command: Optional[str], pid: Optional[int], dry_run: bool,
        verbose: bool, listing: bool, fmt: str, output_path: Optional[str], quiet: bool,
        unsafe: bool, no_cache: bool, attach_only: bool, metrics: Optional[str],
        metrics_labels: Optional[str], live: Optional[str], args: tuple[str, ...]) -> None:
    """Trace the Linux kernel with a bpftrace program, compiled to eBPF through BCC.

    The program comes from -e, from FILE, or from standard input (-); the words after it are
    its positional parameters, $1, $2, ... After `--` come more of them and the named ones
    that getopt() reads: -- --name=value --flag.
    """
    if listing:
        _list_probes(program_text, list(args), verbose)
        return
    interval, args = _live_interval(live, fmt, output_path, args)
    name, text, params = read_program(program_text, list(args))
    more, named = split_named(click.get_current_context().obj or [])
    options = CompileOptions(params=params + more, named=named,
                             has_child=command is not None, target_pid=pid, verbose=verbose,
                             unsafe=unsafe, quiet=quiet, use_cache=not no_cache,
                             attach_only=attach_only, metrics=metrics,
                             metrics_labels=metrics_labels, live=interval)
    with _quiet_if_the_reader_leaves():
        _tracefs_for(dry_run or attach_only, options)
        compiled = compile_program(text, name, options)
        if "help" in named:
            _program_options(compiled.facts.getopts)
            return
        for warning in compiled.warnings:
            click.echo(warning.render(compiled.source), err=True)
        if dry_run:
            print_to_stdout("AST:\n" + ast.dump(compiled.program) + "\n\nC:\n" + compiled.c_text)
            return
        # Compiling needs no root, except for what the kernel describes only to root (tracefs),
        # which says so itself; so that the program's own errors show first, bpftrace's order
        # (root first) is not followed. Everything from here on needs root.
        kernel.require_root()
        _name_process("tracer")
        fd = open_output(output_path)
        output = make_output(fmt, fd, isatty=os.isatty(fd), environ=os.environ,
                             live=interval is not None)
        from .runtime.session import trace  # loading and running: only for a real run
        raise click.exceptions.Exit(trace(compiled, options, output, command))


def _list_probes(program_text: Optional[str], args: list[str], verbose: bool) -> None:
    """-l [PATTERN]: what the kernel offers is read as -d reads it, from a private tracefs
    mount where none is mounted, so that listing changes nothing on the machine."""
    if program_text is not None or len(args) > 1:
        raise click.UsageError("-l takes one pattern (or none, to list every probe) and no "
                               "program")
    from . import listing as probe_listing
    with _quiet_if_the_reader_leaves():
        kernel.private_tracefs()
        print_to_stdout(probe_listing.render(args[0] if args else None, verbose))


def _live_interval(live: Optional[str], fmt: str, output_path: Optional[str],
                   args: tuple[str, ...]) -> tuple[Optional[float], tuple[str, ...]]:
    """--live: (seconds between redraws, or None; the program's words). The view is drawn
    for a person, so only on a terminal, and only in place of the text output."""
    if live is None:
        return None, args
    from .runtime.live import DEFAULT_INTERVAL, looks_like_interval, parse_interval
    if not looks_like_interval(live):
        # click gives a bare --live the next word when it is not an option: `--live
        # script.bt` meant the default interval and a script.
        live, args = f"{DEFAULT_INTERVAL:g}", (live, *args)
    if fmt != "text" or output_path is not None:
        raise click.UsageError("--live draws the maps on the terminal: it cannot be used with "
                               + ("-f json" if fmt != "text" else "-o FILE"))
    if not os.isatty(1):
        raise TracerError("--live draws on a terminal, and standard output is not one",
                          hint="run it at a terminal, or leave --live out to print the maps "
                               "as text when tracing ends")
    return parse_interval(live), args


def _tracefs_for(dry_run: bool, options: CompileOptions) -> None:
    """Tracepoints are expanded from tracefs. A run mounts it where it is missing, as it must
    to attach anything. A dry run (-d, --dry-run) reads it from a private mount if need be
    (attaching needs no mount), so that it leaves the machine's mounts as they were."""
    if dry_run:
        kernel.private_tracefs()
    elif os.geteuid() == 0:
        kernel.tracefs_path(options.notice)


# Python leaves sys.__stdout__ and sys.__stdin__ None when the descriptor was closed when it
# started; that is how a closed one is told from the /dev/null put in its place.

def stdout_closed() -> TracerError:
    return TracerError("standard output is closed, so there is nowhere to print to",
                       hint="redirect it instead (> FILE, or > /dev/null to discard it); "
                            "-o FILE takes the trace output")


def stdin_closed() -> TracerError:
    return TracerError("cannot read the program from standard input (-): it is closed",
                       hint="give the program with -e PROGRAM or as a FILE, or redirect "
                            "standard input (< FILE)")


def print_to_stdout(text: str) -> None:
    """Write to standard output as the trace output is written, so that a failure is told
    the same way (a closed pipe ends quietly, a full device is an error)."""
    if sys.__stdout__ is None:
        raise stdout_closed()
    output = Output(1)
    output.write(text)
    output.flush()


@contextlib.contextmanager
def _quiet_if_the_reader_leaves() -> Iterator[None]:
    """The reader of the output went away (| head): stop quietly with status 0. Caught here,
    because click would otherwise catch it first and exit with 1."""
    try:
        yield
    except BrokenPipeError:
        _silence_stdout()
        raise click.exceptions.Exit(0) from None


def _silence_stdout() -> None:
    # Whatever Python still holds for stdout is flushed at exit; on a broken pipe that would
    # print an "Exception ignored" message.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)


def open_output(path: Optional[str]) -> int:
    """The descriptor trace output goes to: stdout, or FILE for -o (created or truncated)."""
    if path is None:
        if sys.__stdout__ is None:
            raise stdout_closed()
        return 1
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
        return "stdin", _read_stdin(), params
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return path, f.read(), params
    except OSError as err:
        raise TracerError(f"cannot read {path}: {err.strerror}") from None


def _read_stdin() -> str:
    if sys.__stdin__ is None:
        raise stdin_closed()
    try:
        data = sys.__stdin__.buffer.read()
    except OSError as err:
        raise TracerError(f"cannot read the program from standard input (-): "
                          f"{err.strerror}") from None
    # As a FILE is read: bytes that are not UTF-8 survive into string literals.
    return data.decode("utf-8", "surrogateescape")


def _plug_closed_standard_fds() -> None:
    """Put /dev/null where a standard descriptor was closed, so that no file tracer opens
    (a BPF map, the -o file) takes its number and receives what is meant for that stream, a
    -c command does not start without one, and code that writes to sys.stderr finds a file.
    That it was closed is still known: sys.__stdout__ and the others stay None."""
    for fd, (name, mode) in enumerate((("stdin", "r"), ("stdout", "w"), ("stderr", "w"))):
        if getattr(sys, f"__{name}__") is not None:
            continue
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        os.set_inheritable(fd, True)
        setattr(sys, name, open(fd, mode, closefd=False))


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
    command, prog_name = cli, None
    if argv[:1] == ["doctor"]:  # only as the first word: a FILE named doctor runs as ./doctor
        from .doctor import doctor as command
        argv, prog_name = argv[1:], "tracer doctor"
    _plug_closed_standard_fds()
    try:
        # Without standalone mode click returns an Exit's code instead of exiting with it.
        code = command.main(argv, prog_name=prog_name, standalone_mode=False, obj=after)
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
        sys.exit(err.exit_code)
    except TracerError as err:
        click.echo(err.render(), err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (| head): leave quietly, as other tools do.
        _silence_stdout()
        sys.exit(0)
    except Exception as err:  # a tracer bug: say so plainly; the traceback only on request
        if os.environ.get("TRACER_DEBUG"):
            raise
        click.echo(f"tracer: internal error: {type(err).__name__}: {err}\n"
                   f"hint: this is a bug in tracer; TRACER_DEBUG=1 shows where it happened",
                   err=True)
        sys.exit(EXIT_INTERNAL_ERROR)
