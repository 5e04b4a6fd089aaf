"""Functions whose effect reaches user space through the event channel: printf, exit."""

from __future__ import annotations

from .. import ast
from ..codegen.values import CValue
from ..printf import FormatError, conversions, parse_format
from ..types import StringType, Type, VOID
from .base import Function, Kind, Param, Signature, STATEMENT_ONLY

EXIT_EVENT_ID = 0  # printf events are numbered from 1


def _kind(typ: Type) -> str:
    """A type as bpftrace's printf messages name it."""
    return "string" if typ.is_string else "integer" if typ.is_integral else str(typ)


def check_printf(ck, call: ast.Call, arg_types: list) -> None:
    fmt_node, args = call.args[0], call.args[1:]
    fmt_node.type = StringType(len(fmt_node.value) + 1)
    try:
        convs = conversions(parse_format(fmt_node.value.decode("utf-8", "surrogateescape")))
    except FormatError as err:
        ck.error(fmt_node.span, err.message)
        return
    if len(args) != len(convs):
        which = "Too many" if len(args) > len(convs) else "Not enough"
        ck.error(call.span, f"printf: {which} arguments for format string "
                            f"({len(args)} supplied, {len(convs)} expected)")
        return
    for conv, arg, typ in zip(convs, args, arg_types[1:]):
        if typ is None:
            continue
        if conv.wants_string and not typ.is_string:
            ck.error(arg.span, f"printf: {conv.text} specifier expects a value of type string "
                               f"({_kind(typ)} supplied)")
        elif not conv.wants_string and not (typ.is_integral or typ.is_pointer):
            ck.error(arg.span, f"printf: {conv.text} specifier expects a value of type integer "
                               f"({_kind(typ)} supplied)")


def emit_printf(gen, call: ast.Call) -> None:
    event = gen.resources.printf_for(call)
    record = CValue(gen.buffer(event.layout_tuple), event.layout_tuple)
    gen.line(f"{record.text}->f0 = {event.id};")
    for i, arg in enumerate(call.args[1:], start=1):
        gen.store(gen.element(record, i), gen.expr(arg))
    gen.line(f"tracer_emit({record.text}, {event.layout.size});")


def emit_exit(gen, call: ast.Call) -> None:
    # Like bpftrace, exit() also ends this probe: nothing after it runs.
    gen.line(f"{{ u64 tracer_exit = {EXIT_EVENT_ID}; "
             f"tracer_emit(&tracer_exit, sizeof(tracer_exit)); return 0; }}")


FUNCTIONS = [
    Function("printf", "print formatted output",
             Signature((Param("format", Kind.STRING_LITERAL),), variadic=Param("value"),
                       places=STATEMENT_ONLY),
             VOID, emit_printf, check=check_printf),
    Function("exit", "stop tracing: run END, print the maps, exit",
             Signature(places=STATEMENT_ONLY), VOID, emit_exit, ends_probe=True),
]
