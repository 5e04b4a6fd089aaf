"""The registry of functions (``printf``, ``count``, ``exit``, ``str`` ...).

Each entry carries its type rule (``check``, called by the semantic pass with the checker, the
call and where the call stands) and its C (``emit``, called by the code generator). Where the
function's result reaches user space, the decoding lives with the resource it creates
(``tracer.passes.resources``) and the formatting in ``tracer.output``.

``where`` is one of "stmt" (a statement of its own), "map_value" (the right side of
``@map = ...``) or "expr" (inside another expression).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from . import ast
from .printf import FormatError, conversions, parse_format
from .types import COUNT, DEFAULT_STRING, IntType, StringType, Type, VOID

EXIT_EVENT_ID = 0  # printf events are numbered from 1


@dataclass(frozen=True)
class Function:
    name: str
    check: Callable  # (Checker, ast.Call, where) -> Type
    emit: Callable  # (FunctionBuilder, ast.Call) -> C expression ("" for statements)
    doc: str
    # For an aggregation (only ever the value of `@map[key] = f(...)`): the C that folds one
    # more event into the map's slot. (FunctionBuilder, ast.Call, MapResource, key) -> None
    update: Optional[Callable] = None

    @property
    def aggregation(self) -> bool:
        return self.update is not None


def _arity(ck, call: ast.Call, low: int, high: int) -> bool:
    n = len(call.args)
    if low <= n <= high:
        return True
    want = str(low) if low == high else f"{low} to {high}"
    ck.error(call.span, f"{call.name}() takes {want} argument{'s' if high != 1 else ''}, "
                        f"{n} given")
    return False


def _statement_only(ck, call: ast.Call, where: str) -> None:
    if where != "stmt":
        ck.error(call.span, f"{call.name}() has no value; use it as a statement of its own")


# ---- printf --------------------------------------------------------------------------------

def check_printf(ck, call: ast.Call, where: str) -> Type:
    _statement_only(ck, call, where)
    if not call.args or not isinstance(call.args[0], ast.StrLit):
        span = call.args[0].span if call.args else call.span
        ck.error(span, "printf: the first argument must be a format string literal")
        for arg in call.args:
            ck.expr(arg)
        return VOID
    fmt_node, args = call.args[0], call.args[1:]
    fmt_node.type = StringType(len(fmt_node.value) + 1)
    arg_types = [ck.expr(a) for a in args]
    try:
        convs = conversions(parse_format(fmt_node.value.decode("utf-8", "surrogateescape")))
    except FormatError as err:
        ck.error(fmt_node.span, err.message)
        return VOID
    if len(args) != len(convs):
        which = "Too many" if len(args) > len(convs) else "Not enough"
        ck.error(call.span, f"printf: {which} arguments for format string "
                            f"({len(args)} supplied, {len(convs)} expected)")
        return VOID
    for conv, arg, typ in zip(convs, args, arg_types):
        if typ is None:
            continue
        if conv.wants_string and not typ.is_string:
            ck.error(arg.span, f"printf: {conv.text} specifier expects a value of type string "
                               f"({_kind(typ)} supplied)")
        elif not conv.wants_string and not typ.is_int:
            ck.error(arg.span, f"printf: {conv.text} specifier expects a value of type integer "
                               f"({_kind(typ)} supplied)")
    return VOID


def _kind(typ: Type) -> str:
    """A type as bpftrace's printf messages name it."""
    return "string" if typ.is_string else "integer" if typ.is_int else str(typ)


def emit_printf(gen, call: ast.Call) -> str:
    event = gen.resources.printf_for(call)
    var = gen.temp("struct " + event.struct_tag + " {}")
    gen.line(f"__builtin_memset(&{var}, 0, sizeof({var}));")
    gen.line(f"{var}.f0 = {event.id};")
    for field, arg in zip(event.layout.fields[1:], call.args[1:]):
        gen.store(f"{var}.{field.name}", field.type, arg)
    gen.line(f"tracer_emit(&{var}, sizeof({var}));")
    return ""


# ---- exit ----------------------------------------------------------------------------------

def check_exit(ck, call: ast.Call, where: str) -> Type:
    _statement_only(ck, call, where)
    _arity(ck, call, 0, 0)
    return VOID


def emit_exit(gen, call: ast.Call) -> str:
    # Like bpftrace, exit() also ends this probe: nothing after it runs.
    gen.line(f"{{ u64 tracer_exit = {EXIT_EVENT_ID}; tracer_emit(&tracer_exit, sizeof(tracer_exit)); "
             f"return 0; }}")
    return ""


# ---- count ---------------------------------------------------------------------------------

def check_count(ck, call: ast.Call, where: str) -> Type:
    if where != "map_value":
        ck.error(call.span, "count() must be assigned to a map, as in @name = count()")
    _arity(ck, call, 0, 0)
    return COUNT


def update_count(gen, call: ast.Call, m, key: str) -> None:
    # The map is per CPU, so a plain increment is safe: no other CPU touches this slot.
    slot = gen.temp(f"struct {m.c_name}_value *{{}} = {m.c_name}.lookup(&{key})")
    gen.line(f"if ({slot}) {{ {slot}->f0 += 1; }} else {{")
    gen.line(f"  struct {m.c_name}_value one = {{1}}; {m.c_name}.update(&{key}, &one);")
    gen.line("}")


def _not_a_value(gen, call: ast.Call) -> str:
    raise AssertionError(f"{call.name}() is an aggregation: its map assignment emits it")


# ---- str -----------------------------------------------------------------------------------

def check_str(ck, call: ast.Call, where: str) -> Type:
    if not _arity(ck, call, 1, 1):
        return DEFAULT_STRING
    arg = call.args[0]
    if isinstance(arg, ast.Positional):
        value = ck.positional_text(arg)
        arg.type = StringType(len(value) + 1)
        return arg.type
    typ = ck.expr(arg)
    if typ is None or typ.is_string:
        return typ or DEFAULT_STRING
    if not isinstance(typ, IntType):
        ck.error(arg.span, f"str() reads a string from an address; {typ} is not one")
    return DEFAULT_STRING


def emit_str(gen, call: ast.Call) -> str:
    arg = call.args[0]
    if isinstance(arg, ast.Positional):
        return gen.string_constant(gen.options.param_bytes(arg.index), call.type.capacity)
    if arg.type.is_string:
        return gen.expr(arg)
    addr = gen.expr(arg)
    buf = gen.temp(f"char {{}}[{call.type.capacity}]")
    gen.line(f"__builtin_memset({buf}, 0, sizeof({buf}));")
    gen.line(f"bpf_probe_read_str({buf}, sizeof({buf}), (void *)({addr}));")
    return buf


FUNCTIONS: dict[str, Function] = {f.name: f for f in [
    Function("printf", check_printf, emit_printf, "print formatted output"),
    Function("exit", check_exit, emit_exit, "stop tracing: run END, print the maps, exit"),
    Function("count", check_count, _not_a_value, "count how often the map entry is reached",
             update=update_count),
    Function("str", check_str, emit_str, "a string: a positional parameter, or read from an address"),
]}
