"""Functions whose effect reaches user space through the event channel: printf, exit."""

from __future__ import annotations

from .. import ast
from ..printf import (FormatError, bind_types, conversions, count_error, parse_format, render,
                      render_columns)
from ..types import StringType, VOID
from .base import Event, Function, Kind, Param, Signature, STATEMENT_ONLY

def check_printf(ck, call: ast.Call, arg_types: list) -> None:
    """A printf-style format (printf, cat, system, errorf, warnf) against its arguments, with
    bpftrace 0.26's messages."""
    fmt_node, args = call.args[0], call.args[1:]
    fmt_node.type = StringType(len(fmt_node.value) + 1)
    try:
        parts = parse_format(fmt_node.value.decode("utf-8", "surrogateescape"))
    except FormatError as err:
        ck.error(fmt_node.span, err.message)
        return
    problem = count_error(parts, len(args))
    if problem is not None:
        ck.error(call.span, problem)
        return
    for conv, arg, typ in zip(conversions(parts), args, arg_types[1:]):
        problem = conv.check(typ) if typ is not None else None
        if problem is not None:
            ck.error(arg.span, problem)


def emit_printf(gen, call: ast.Call) -> None:
    gen.send_event(call, [gen.expr(arg) for arg in call.args[1:]])


def _printf_fields(call: ast.Call) -> list:
    return [arg.type for arg in call.args[1:]]


def _printf_format(call: ast.Call):
    """The format, parsed once, each conversion knowing its argument's type."""
    parts = parse_format(call.args[0].value.decode("utf-8", "surrogateescape"))
    return bind_types(parts, [arg.type for arg in call.args[1:]])


def _handle_printf(runtime, parts, values) -> None:
    runtime.output.printf(render(parts, values))


def _handle_printf_batch(runtime, parts, columns, count: int) -> None:
    runtime.output.printf_many(render_columns(parts, columns, count))


# ---- exit([code]) ------------------------------------------------------------------------------

def emit_exit(gen, call: ast.Call) -> None:
    # Like bpftrace, exit() also ends this probe: nothing after it runs.
    gen.send_event(call, [gen.expr(arg) for arg in call.args])
    gen.line("return 0;")


def _handle_exit(runtime, facts, values) -> None:
    runtime.exit(values[0] if values else 0)


FUNCTIONS = [
    Function("printf", "print formatted output",
             Signature((Param("format", Kind.STRING_LITERAL),), variadic=Param("value"),
                       places=STATEMENT_ONLY),
             VOID, emit_printf, check=check_printf,
             event=Event(_printf_fields, _handle_printf, _printf_format,
                         handle_batch=_handle_printf_batch)),
    Function("exit", "stop tracing: run END, print the maps, exit with the code given",
             Signature((Param("code", Kind.INT, optional=True),), places=STATEMENT_ONLY), VOID,
             emit_exit, ends_probe=True,
             event=Event(lambda call: [arg.type for arg in call.args], _handle_exit)),
]
