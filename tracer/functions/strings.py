"""String functions: str, strlen, strncmp, strcontains, strstr, strcap, memcmp.

Strings are NUL-terminated within their capacity, so every loop here is bounded by a capacity
known at compile time, which the verifier can check.
"""

from __future__ import annotations

from typing import Optional

from .. import ast
from ..codegen.values import CValue
from ..types import BOOL, INT64, UINT64, StringType, literal_type
from .base import Function, Kind, Param, Signature

READ_STR = {True: "bpf_probe_read_user_str", False: "bpf_probe_read_kernel_str",
            None: "bpf_probe_read_str"}


# ---- str(data [, length]) ---------------------------------------------------------------------

def _positional_text(ck, arg: ast.Expr) -> Optional[tuple[bytes, ast.Positional]]:
    """str($N) and str($N + K): the parameter's text (from K bytes on), or None."""
    offset = 0
    if isinstance(arg, ast.Binary) and arg.op == "+" and isinstance(arg.left, ast.Positional):
        offset = ck.constant_int(arg.right)
        if offset is None or offset < 0:
            ck.error(arg.right.span, "str($N + K) takes a non-negative constant K")
            return b"", arg.left
        arg = arg.left
    if not isinstance(arg, ast.Positional):
        return None
    text = ck.positional_text(arg).encode("utf-8", "surrogateescape")
    if offset > len(text):
        ck.error(arg.span, f"str(${arg.index} + {offset}): ${arg.index} has only {len(text)} "
                           f"bytes")
        return b"", arg
    return text[offset:], arg


def str_result(ck, call: ast.Call, arg_types: list):
    arg = call.args[0]
    length = None
    if len(call.args) > 1:
        length = ck.constant_int(call.args[1])
        if length is None:
            typ = ck.expr(call.args[1])
            if typ is not None and not typ.is_int:
                ck.error(call.args[1].span, f"str() expects an integer length, not {typ}")
        elif length < 1:
            ck.error(call.args[1].span, f"str() cannot use a length below 1 ({length})")
            return None
        else:
            call.args[1].type = literal_type(length)
    capacity = ck.config.max_strlen if length is None else min(length, ck.config.max_strlen)
    given = _positional_text(ck, arg)
    if given is not None:
        text, node = given
        node.type = StringType(len(text) + 1)
        arg.type = node.type
        call.info["constant"] = text[:capacity - 1]
        return StringType(len(call.info["constant"]) + 1)
    typ = ck.expr(arg)
    if typ is None:
        return None
    if typ.is_string:
        return StringType(min(typ.capacity, capacity)) if length is not None else typ
    if not (typ.is_int or typ.is_pointer):
        ck.error(arg.span, f"str() reads a string from an address; {typ} is not one")
        return None
    return StringType(capacity)


def emit_str(gen, call: ast.Call) -> CValue:
    if "constant" in call.info:
        return gen.string_constant(call.info["constant"], call.type.capacity)
    arg = call.args[0]
    value = gen.expr(arg)
    if value.type.is_string:
        if value.type == call.type:
            return value
        result = CValue(gen.buffer(call.type, zeroed=False), call.type)
        gen.store(result, value)
        return result
    buf = gen.buffer(call.type)
    size = str(call.type.capacity)
    if len(call.args) > 1 and call.args[1].type is not None and \
            not isinstance(call.args[1], ast.IntLit):
        length = gen.expr(call.args[1])
        size = gen.temp(f"u32 {{}} = (u32){length.as_u64}")
        gen.line(f"if ({size} > {call.type.capacity}) {size} = {call.type.capacity};")
    user = value.type.user if value.type.is_pointer else None
    gen.line(f"{READ_STR[user]}({buf}, {size}, (void *)({value.as_u64}));")
    return CValue(buf, call.type)


# ---- lengths and searches ----------------------------------------------------------------------

def emit_strlen(gen, call: ast.Call) -> CValue:
    s = gen.expr(call.args[0])
    n = gen.temp("u64 {} = 0")
    i = gen.fresh("i")
    gen.open_block(f"for (int {i} = 0; {i} < {s.type.capacity}; {i}++) {{")
    gen.line(f"if ({s.text}[{i}] == 0) break;")
    gen.line(f"{n}++;")
    gen.close_block()
    return CValue(n, UINT64)


def check_strncmp(ck, call: ast.Call, arg_types: list) -> None:
    n = ck.constant_int(call.args[2])
    if n is not None and n < 0:
        ck.error(call.args[2].span, f"strncmp() cannot compare a negative length ({n})")


def emit_strncmp(gen, call: ast.Call) -> CValue:
    same = gen.strings_equal(gen.expr(call.args[0]), gen.expr(call.args[1]), call.info["n"])
    return gen.scalar(f"(s64)!{same}", INT64)


def _search(gen, haystack: CValue, needle: CValue) -> str:
    """A temporary: the index of the first occurrence of needle in haystack, or -1."""
    found = gen.temp("s64 {} = -1")
    i, j, ok = gen.fresh("i"), gen.fresh("j"), gen.fresh("ok")
    gen.open_block(f"for (int {i} = 0; {i} < {haystack.type.capacity}; {i}++) {{")
    gen.line(f"u8 {ok} = 1;")
    gen.open_block(f"for (int {j} = 0; {j} < {needle.type.capacity}; {j}++) {{")
    gen.line(f"if ({needle.text}[{j}] == 0) break;")
    gen.line(f"if ({i} + {j} >= {haystack.type.capacity} || "
             f"{haystack.text}[({i} + {j}) & {_mask(haystack.type.capacity)}] != "
             f"{needle.text}[{j}]) {{ {ok} = 0; break; }}")
    gen.close_block()
    gen.line(f"if ({ok}) {{ {found} = {i}; break; }}")
    gen.line(f"if ({haystack.text}[{i}] == 0) break;")
    gen.close_block()
    return found


def _mask(capacity: int) -> int:
    """A mask that keeps an index below the next power of two (the bounds check before it
    keeps it below the capacity; the mask is for the verifier)."""
    mask = 1
    while mask < capacity:
        mask <<= 1
    return mask - 1


def emit_strstr(gen, call: ast.Call) -> CValue:
    found = _search(gen, gen.expr(call.args[0]), gen.expr(call.args[1]))
    return CValue(found, INT64)


def emit_strcontains(gen, call: ast.Call) -> CValue:
    found = _search(gen, gen.expr(call.args[0]), gen.expr(call.args[1]))
    return gen.scalar(f"(u8)({found} >= 0)", BOOL)


def strcap_result(ck, call: ast.Call, arg_types: list):
    typ = arg_types[0]
    return None if typ is None else literal_type(typ.capacity)


def emit_strcap(gen, call: ast.Call) -> CValue:
    return CValue(str(call.args[0].type.capacity), call.type)


# ---- memcmp -------------------------------------------------------------------------------------

def check_memcmp(ck, call: ast.Call, arg_types: list) -> None:
    for arg, typ in zip(call.args[:2], arg_types[:2]):
        if typ is not None and typ.is_scalar:
            ck.error(arg.span, f"memcmp() compares values in memory (strings, tuples), "
                               f"not {typ}")
    n = ck.constant_int(call.args[2])
    if n is not None and arg_types[0] is not None and arg_types[1] is not None and \
            not arg_types[0].is_scalar and not arg_types[1].is_scalar and \
            n > min(arg_types[0].size, arg_types[1].size):
        ck.error(call.args[2].span, f"memcmp() count {n} is more than the size of its "
                                    f"arguments")
    call.info["n"] = n


def emit_memcmp(gen, call: ast.Call) -> CValue:
    a, b = gen.expr(call.args[0]), gen.expr(call.args[1])
    n = call.info["n"]
    result = gen.temp("s64 {} = 0")
    i = gen.fresh("i")
    left, right = gen.temp(f"u8 *{{}} = (u8 *)({a.text})"), gen.temp(f"u8 *{{}} = (u8 *)({b.text})")
    gen.open_block(f"for (int {i} = 0; {i} < {n}; {i}++) {{")
    gen.line(f"if ({left}[{i}] != {right}[{i}]) {{ {result} = (s64){left}[{i}] - "
             f"(s64){right}[{i}]; break; }}")
    gen.close_block()
    return CValue(result, INT64)


def _const_strncmp(ck, call: ast.Call, arg_types: list):
    call.info["n"] = max(ck.constant_int(call.args[2]) or 0, 0)
    return INT64


FUNCTIONS = [
    Function("str", "a string: a positional parameter, or read from an address",
             Signature((Param("data", Kind.CUSTOM), Param("length", Kind.CUSTOM, optional=True))),
             str_result, emit_str, raw_args=frozenset({0, 1})),
    Function("strlen", "the length of a string",
             Signature((Param("string", Kind.STRING),)), UINT64, emit_strlen),
    Function("strncmp", "compare up to n bytes of two strings: 0 when equal",
             Signature((Param("s1", Kind.STRING), Param("s2", Kind.STRING),
                        Param("n", Kind.INT_LITERAL))),
             _const_strncmp, emit_strncmp, check=check_strncmp),
    Function("strcontains", "whether a string contains another",
             Signature((Param("haystack", Kind.STRING), Param("needle", Kind.STRING))),
             BOOL, emit_strcontains),
    Function("strstr", "where a string first occurs in another, or -1",
             Signature((Param("haystack", Kind.STRING), Param("needle", Kind.STRING))),
             INT64, emit_strstr),
    Function("strcap", "the capacity of a string",
             Signature((Param("string", Kind.STRING),)), strcap_result, emit_strcap),
    Function("memcmp", "compare the first n bytes of two values in memory",
             Signature((Param("left"), Param("right"), Param("count", Kind.INT_LITERAL))),
             INT64, emit_memcmp, check=check_memcmp),
]
