"""String functions."""

from __future__ import annotations

from .. import ast
from ..codegen.values import CValue
from ..types import DEFAULT_STRING, IntType, StringType
from .base import Function, Kind, Param, Signature


def str_result(ck, call: ast.Call, arg_types: list):
    arg = call.args[0]
    if isinstance(arg, ast.Positional):
        value = ck.positional_text(arg)
        arg.type = StringType(len(value.encode("utf-8", "surrogateescape")) + 1)
        return arg.type
    typ = ck.expr(arg)
    if typ is None or typ.is_string:
        return typ or DEFAULT_STRING
    if not isinstance(typ, IntType):
        ck.error(arg.span, f"str() reads a string from an address; {typ} is not one")
    return DEFAULT_STRING


def emit_str(gen, call: ast.Call) -> CValue:
    arg = call.args[0]
    if isinstance(arg, ast.Positional):
        return gen.string_constant(gen.options.param_bytes(arg.index), call.type.capacity)
    if arg.type.is_string:
        return gen.expr(arg)
    addr = gen.expr(arg)
    buf = gen.temp(f"char {{}}[{call.type.capacity}]")
    gen.line(f"__builtin_memset({buf}, 0, sizeof({buf}));")
    gen.line(f"bpf_probe_read_str({buf}, sizeof({buf}), (void *)({addr.text}));")
    return CValue(buf, call.type)


FUNCTIONS = [
    Function("str", "a string: a positional parameter, or read from an address",
             Signature((Param("data", Kind.CUSTOM),)), str_result, emit_str,
             raw_args=frozenset({0})),
]
