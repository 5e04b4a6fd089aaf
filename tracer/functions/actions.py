"""Functions that act in user space when their event arrives: time, cat, system, errorf, warnf;
and signal, which acts in the probe.

cat, system, errorf and warnf take a printf format and its values; the format is checked and
parsed once, at compile time, like printf's.
"""

from __future__ import annotations

import subprocess
import time as _time

from .. import ast
from ..printf import render
from ..types import VOID, StringType
from .strings import READ_STR
from .base import Event, Function, Kind, Param, Signature, STATEMENT_ONLY
from .output import _printf_fields, _printf_format, check_printf, emit_printf

DEFAULT_TIME_FORMAT = "%H:%M:%S\n"


# ---- time([fmt]) -------------------------------------------------------------------------------

def _time_format(call: ast.Call) -> str:
    if not call.args:
        return DEFAULT_TIME_FORMAT
    return call.args[0].value.decode("utf-8", "surrogateescape")


def emit_time(gen, call: ast.Call) -> None:
    gen.send_event(call, [])


def _handle_time(runtime, fmt: str, values) -> None:
    # The time user space handles the event, as in bpftrace, not the time the probe fired.
    runtime.output.time(_time.strftime(fmt, _time.localtime()))


# ---- cat(fmt, ...), system(fmt, ...) ----------------------------------------------------------

def _handle_cat(runtime, parts, values) -> None:
    path = render(parts, values)
    limit = runtime.config.max_cat_bytes
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError as err:
        runtime.output.diagnostic("error", f"failed to open file '{path}': {err.strerror}")
        return
    runtime.output.cat(data.decode("utf-8", "surrogateescape"))


def _handle_system(runtime, parts, values) -> None:
    command = render(parts, values)
    runtime.output.flush()
    # A shell, as bpftrace's popen() runs one; the command is the user's own, allowed by
    # --unsafe. Its output and errors are printed as bpftrace 0.26 prints them, after it ends.
    done = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    runtime.output.system(done.stdout.decode("utf-8", "surrogateescape"))


# ---- errorf(fmt, ...), warnf(fmt, ...) ---------------------------------------------------------

def _located(severity: str, kind: str) -> Event:
    def prepare(call: ast.Call):
        return _printf_format(call), call.span

    def handle(runtime, facts, values) -> None:
        parts, span = facts
        # The line quoted would only be the errorf/warnf call itself: bpftrace leaves it out.
        runtime.diagnose(severity, span, render(parts, values), kind, quote=False)
    return Event(_printf_fields, handle, prepare)


# ---- join(array [, separator]) ----------------------------------------------------------------

JOIN_ARGS = 16  # bpftrace's join_argnum and join_argsize: how many strings, and their capacity
JOIN_ARG_SIZE = 1024
READ = {True: "bpf_probe_read_user", False: "bpf_probe_read_kernel", None: "bpf_probe_read"}


def check_join(ck, call: ast.Call, arg_types: list) -> None:
    typ = arg_types[0]
    if typ is not None and not (typ.is_pointer or typ.is_int):
        ck.error(call.args[0].span, f"join() expects an array of strings, a char ** "
                                    f"({typ} provided)")
    if len(call.args) > 1:
        call.args[1].type = StringType(len(call.args[1].value) + 1)


def _join_fields(call: ast.Call) -> list:
    return [StringType(JOIN_ARG_SIZE)] * JOIN_ARGS


def _join_separator(call: ast.Call) -> str:
    return call.args[1].value.decode("utf-8", "surrogateescape") if len(call.args) > 1 else " "


def emit_join(gen, call: ast.Call) -> None:
    """Each of the array's first 16 pointers read, and the string at each, into the event;
    a NULL pointer ends the list (its string reads as empty)."""
    event = gen.resources.event_for(call)
    record = gen.buffer(event.layout_tuple, zeroed=False)
    array = gen.expr(call.args[0])
    user = array.type.user if array.type.is_pointer else None
    gen.line(f"{record}->f0 = {event.id};")
    pointer = gen.temp("u64 {} = 0")
    for i in range(JOIN_ARGS):
        gen.line(f"{READ[user]}(&{pointer}, 8, (void *)({array.as_u64} + {8 * i}));")
        gen.line(f"{READ_STR[user]}({record}->f{i + 1}, {JOIN_ARG_SIZE}, (void *){pointer});")
    gen.line(f"tracer_emit({record}, {event.layout.size});")


def _handle_join(runtime, separator: str, values) -> None:
    strings = []
    for text in values:
        if not text:
            break
        strings.append(text)
    runtime.output.join(separator.join(strings))


# ---- signal(sig) -------------------------------------------------------------------------------

SIGNALS = {f"SIG{name}": number for number, name in enumerate(
    ["", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV",
     "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
     "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"]) if name}
MAX_SIGNAL = 64


def check_signal(ck, call: ast.Call, arg_types: list) -> None:
    arg = call.args[0]
    if isinstance(arg, ast.StrLit):
        name = arg.value.decode("utf-8", "surrogateescape")
        number = SIGNALS.get(name if name.startswith("SIG") else f"SIG{name}")
        if number is None:
            ck.error(arg.span, f"signal(): unknown signal '{name}'",
                     hint="give a name such as SIGTERM or a number from 1 to 64")
            return
        call.info["signal"] = number
        return
    typ = ck.value(arg)
    if typ is None:
        return
    if not typ.is_integral:
        ck.error(arg.span, f"signal() expects a signal name or number ({typ} provided)")
        return
    number = ck.constant_int(arg)
    if number is not None and not 1 <= number <= MAX_SIGNAL:
        ck.error(arg.span, f"signal(): {number} is not a valid signal (1 to {MAX_SIGNAL})")


SEND_SIGNAL = {"signal": "bpf_send_signal", "signal_thread": "bpf_send_signal_thread"}


def emit_signal(gen, call: ast.Call) -> None:
    number = call.info.get("signal")
    value = str(number) if number is not None else f"(u32)({gen.expr(call.args[0]).text})"
    gen.line(f"{SEND_SIGNAL[call.name]}({value});")


_FORMAT = (Param("format", Kind.STRING_LITERAL),)


def _format_function(name: str, doc: str, event: Event, unsafe: bool = False) -> Function:
    return Function(name, doc, Signature(_FORMAT, variadic=Param("value"),
                                         places=STATEMENT_ONLY),
                    VOID, emit_printf, check=check_printf, event=event, unsafe=unsafe)


FUNCTIONS = [
    Function("time", "print the current time, formatted by strftime (default %H:%M:%S\\n)",
             Signature((Param("format", Kind.STRING_LITERAL, optional=True),),
                       places=STATEMENT_ONLY),
             VOID, emit_time, event=Event(lambda call: [], _handle_time, _time_format)),
    _format_function("cat", "print a file's contents (its name a printf format)",
                     Event(_printf_fields, _handle_cat, _printf_format)),
    _format_function("system", "run a shell command and print its output (needs --unsafe)",
                     Event(_printf_fields, _handle_system, _printf_format), unsafe=True),
    Function("join", "print the strings of a NULL-ended array (argv), separated by spaces",
             Signature((Param("array"), Param("separator", Kind.STRING_LITERAL, optional=True)),
                       places=STATEMENT_ONLY),
             VOID, emit_join, check=check_join,
             event=Event(_join_fields, _handle_join, _join_separator)),
    _format_function("errorf", "print an error, located in the program", _located("error", "errorf")),
    _format_function("warnf", "print a warning, located in the program", _located("warning", "warnf")),
    Function("signal", "send a signal to the current process (needs --unsafe)",
             Signature((Param("signal", Kind.CUSTOM),), places=STATEMENT_ONLY), VOID,
             emit_signal, check=check_signal, raw_args=frozenset({0}), unsafe=True),
    Function("signal_thread", "send a signal to the current thread (needs --unsafe)",
             Signature((Param("signal", Kind.CUSTOM),), places=STATEMENT_ONLY), VOID,
             emit_signal, check=check_signal, raw_args=frozenset({0}), unsafe=True),
]
