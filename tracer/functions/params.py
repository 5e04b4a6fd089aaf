"""getopt(): named command-line parameters (``tracer PROGRAM -- --name=value``).

A getopt() call is a constant: its value is known when the program is compiled, read from the
command line as the type of its default says (an integer, a bool, a string); without a default
it is a bool flag, false unless given.
"""

from __future__ import annotations

from typing import Optional, Union

from .. import ast
from ..codegen.values import CValue, int_literal
from ..literals import LiteralError, parse_signed_int
from ..types import BOOL, INT64, StringType, Type, literal_type, signed_literal_type
from .base import Function, Kind, Param, Signature

TRUE_WORDS = ("true", "1")
FALSE_WORDS = ("false", "0")


def getopt_result(ck, call: ast.Call, arg_types: list) -> Optional[Type]:
    name = call.args[0].value.decode("utf-8", "surrogateescape")
    default = call.args[1] if len(call.args) > 1 else None
    if default is not None and not isinstance(default, (ast.IntLit, ast.BoolLit, ast.StrLit)):
        ck.error(default.span, "getopt()'s default must be a literal: an integer, true or "
                               "false, or a string")
        return None
    if default is None and len(call.args) > 2:
        ck.error(call.span, "a getopt() flag without a default takes no description")
        return None
    given = ck.options.named.get(name)
    ck.getopts[name] = call.args[2].value.decode("utf-8", "replace") \
        if len(call.args) > 2 and isinstance(call.args[2], ast.StrLit) else ""
    value = _value(ck, call, name, default, given)
    if value is None:
        return None
    call.info["value"] = value
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return literal_type(value) if value >= 0 else signed_literal_type(value)
    return StringType(len(value) + 1)


def _value(ck, call: ast.Call, name: str, default: Optional[ast.Expr],
           given: Union[str, bool, None]):
    if default is None or isinstance(default, ast.BoolLit):
        if given is None:
            return default.value if default is not None else False
        if given is True:
            return True
        word = given.lower()
        if word in TRUE_WORDS + FALSE_WORDS:
            return word in TRUE_WORDS
        ck.error(call.span, f"program command line option --{name} invalid boolean (value: "
                            f"{given})", hint=f"give --{name}, --{name}=true or --{name}=false")
        return None
    if isinstance(default, ast.IntLit):
        if given is None:
            return default.value
        try:
            return parse_signed_int(given if isinstance(given, str) else "")
        except LiteralError:
            ck.error(call.span, f"program command line option --{name} invalid integer "
                                f"(value: {given if given is not True else ''})")
            return None
    if given is None:
        return default.value
    if given is True:
        return b""
    return given.encode("utf-8", "surrogateescape")


def emit_getopt(gen, call: ast.Call) -> CValue:
    value = call.info["value"]
    if isinstance(value, bool):
        return CValue("1" if value else "0", BOOL)
    if isinstance(value, int):
        return CValue(int_literal(value), call.type if call.type is not None else INT64)
    return gen.string_constant(value, call.type.capacity)


FUNCTIONS = [
    Function("getopt", "a named parameter from the command line (after --)",
             Signature((Param("name", Kind.STRING_LITERAL), Param("default", optional=True),
                        Param("description", Kind.STRING_LITERAL, optional=True))),
             getopt_result, emit_getopt, raw_args=frozenset({1})),
]
