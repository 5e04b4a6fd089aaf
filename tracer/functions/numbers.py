"""Functions over integers computed in the probe: bswap."""

from __future__ import annotations

from .. import ast
from ..codegen.values import CValue, c_scalar_type
from ..types import IntType
from .base import Function, Kind, Param, Signature

BSWAP = {16: "__builtin_bswap16", 32: "__builtin_bswap32", 64: "__builtin_bswap64"}


def bswap_result(ck, call: ast.Call, arg_types: list):
    typ = arg_types[0]
    if typ is None:
        return None
    if not typ.is_int:
        ck.error(call.args[0].span, f"bswap() expects an integer ({typ} provided)")
        return None
    return IntType(typ.bits, False)  # bpftrace's result is unsigned, as wide as the argument


def emit_bswap(gen, call: ast.Call) -> CValue:
    value = gen.expr(call.args[0])
    typ = call.type
    swap = BSWAP.get(typ.bits)
    text = f"({c_scalar_type(typ)})({value.text})"
    return gen.scalar(f"{swap}({text})" if swap else text, typ)  # one byte: nothing to swap


FUNCTIONS = [
    Function("bswap", "reverse the bytes of an integer", Signature((Param("value", Kind.INT),)),
             bswap_result, emit_bswap),
]
