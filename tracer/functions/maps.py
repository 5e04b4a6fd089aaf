"""Functions over whole maps and their keys: print, clear, zero (in user space, through events),
and delete, has_key, len (in the probe, there and then).

A map named as a whole (`clear(@m)`) is not read: the checker looks it up with ``whole_map``, and
the handler gets its name, which the runtime knows the map by.
"""

from __future__ import annotations

from typing import Optional

from .. import ast
from ..codegen import markers
from ..types import BOOL, INT64, VOID, Type
from .base import ANYWHERE, Event, Function, Kind, Param, Signature, STATEMENT_ONLY


def _named_map(ck, call: ast.Call) -> Optional[ast.MapRef]:
    """The map a call's first argument names as a whole, checked; None (reported) if it is
    not a map."""
    arg = call.args[0]
    if not isinstance(arg, ast.MapRef) or arg.keys:
        ck.expr(arg)
        ck.error(arg.span, f"{call.name}() expects a map argument, as in {call.name}(@name)")
        return None
    info = ck.whole_map(arg)
    return arg if info is not None else None


def _map_name(call: ast.Call) -> str:
    return call.args[0].name


# ---- print(@map [, top [, div]]) and print(value) ----------------------------------------------

def _prints_map(call: ast.Call) -> bool:
    arg = call.args[0]
    return isinstance(arg, ast.MapRef) and not arg.keys


def check_print(ck, call: ast.Call, arg_types: list) -> None:
    if not _prints_map(call):
        if len(call.args) > 1:
            ck.error(call.args[1].span, "print() takes top and div only when it prints a map")
        typ = ck.value(call.args[0])
        if typ is not None and not typ.storable:
            ck.error(call.args[0].span, f"print() cannot print a value of type {typ}")
        return
    _named_map(ck, call)
    limits = []
    for arg in call.args[1:]:
        number = ck.constant_int(arg)
        if number is None or number < 0:
            ck.error(arg.span, "print()'s top and div must be non-negative integer literals")
            number = 0
        limits.append(number)
    top, div = (limits + [0, 1])[:2] if len(limits) < 2 else limits
    call.info["limits"] = (top, div or 1)


def _print_fields(call: ast.Call) -> list[Type]:
    return [] if _prints_map(call) else [call.args[0].type]


def _print_facts(call: ast.Call):
    return (_map_name(call), *call.info["limits"]) if _prints_map(call) else None


def emit_print(gen, call: ast.Call) -> None:
    gen.send_event(call, [] if _prints_map(call) else [gen.expr(call.args[0])])


def _handle_print(runtime, facts, values) -> None:
    if facts is None:
        runtime.output.value(values[0])
    else:
        name, top, div = facts
        runtime.print_map(name, top, div)


# ---- clear(@map), zero(@map) -------------------------------------------------------------------

def check_whole_map(ck, call: ast.Call, arg_types: list) -> None:
    _named_map(ck, call)


def emit_map_event(gen, call: ast.Call) -> None:
    gen.send_event(call, [])


def _map_event(action: str) -> Event:
    return Event(lambda call: [], lambda runtime, name, values: getattr(runtime, action)(name),
                 _map_name)


# ---- delete(@map, key), delete(@map[key]), has_key(@map, key) -----------------------------------

def _keyed_target(ck, call: ast.Call, what: str) -> Optional[ast.MapRef]:
    """The map entry a call names, as a map reference with its keys (`delete(@m, k)` and the
    older `delete(@m[k])` alike); None, reported, if there is none."""
    arg = call.args[0]
    if not isinstance(arg, ast.MapRef):
        ck.expr(arg)
        ck.error(arg.span, f"{call.name}() expects a map argument")
        return None
    if arg.keys and len(call.args) > 1:
        ck.error(call.args[1].span, f"{call.name}() takes the key either in the map's brackets "
                                    f"or as its second argument, not both")
        return None
    keys = arg.keys or call.args[1:]
    info = ck.whole_map(arg)
    if info is None:
        return None
    if info.keyed and not keys:
        ck.error(call.span, f"{call.name}() needs a key for {arg.name}, which has keys: "
                            f"{call.name}(@name, key)")
        return None
    if not info.keyed and keys:
        ck.error(call.span, f"{arg.name} is a map without keys: {what}")
        return None
    target = ast.MapRef(arg.span, arg.name, list(keys))
    if ck.map_entry(target) is None:
        return None
    call.info["target"] = target
    return target


def check_delete(ck, call: ast.Call, arg_types: list) -> None:
    _keyed_target(ck, call, "delete(@name) with no key deletes its value")


def emit_delete(gen, call: ast.Call):
    target = call.info["target"]
    m = gen.resources.maps[target.name]
    key = gen.map_key(m, target)
    if m.is_array:
        # A scalar aggregation's one slot cannot be deleted; clear() empties it.
        gen.send_event(call, [])
        return gen.scalar("1", BOOL)
    deleted = gen.temp(f"long {{}} = {m.c_name}.delete({key})")
    if call.info.get("discarded"):
        gen.line(f"if ({deleted} < 0) {{")
        gen.out.depth += 1
        gen.runtime_warning(call.span, deleted, "map_delete_elem")
        gen.close_block()
    return gen.scalar(f"{deleted} == 0", BOOL)


def check_has_key(ck, call: ast.Call, arg_types: list) -> None:
    if len(call.args) < 2:
        ck.error(call.span, "has_key() takes a map and a key: has_key(@name, key)")
        return
    _keyed_target(ck, call, "has_key() needs a map with keys")


def emit_has_key(gen, call: ast.Call):
    target = call.info["target"]
    m = gen.resources.maps[target.name]
    key = gen.map_key(m, target)
    return gen.scalar(f"{m.c_name}.lookup({key}) != 0", BOOL)


# ---- len(@map) ---------------------------------------------------------------------------------

def emit_len(gen, call: ast.Call):
    """The number of keys: what bpf_for_each_map_elem returns after visiting each of them."""
    m = gen.resources.maps[_map_name(call)]
    callback = gen.callback("count")
    with gen.in_callback(callback, ["r2", "r3", "r4"]):
        gen.line("return 0;")
    link = gen.fresh("link")
    gen.line(f"struct tracer_link {link} = {{ ctx, 0 }};")
    return gen.scalar(f"bpf_for_each_map_elem({markers.map_address(m.index)}, "
                      f"{gen.callback_address(callback)}, &{link}, 0)", INT64)


_MAP = Param("map", Kind.CUSTOM)
_KEY = Param("key", Kind.CUSTOM, optional=True)

FUNCTIONS = [
    Function("print", "print a map (its top entries, values divided by div) or a value",
             Signature((Param("value", Kind.CUSTOM), Param("top", Kind.CUSTOM, optional=True),
                        Param("div", Kind.CUSTOM, optional=True)), places=STATEMENT_ONLY),
             VOID, emit_print, check=check_print, raw_args=frozenset({0, 1, 2}),
             event=Event(_print_fields, _handle_print, _print_facts)),
    Function("clear", "remove every entry of a map", Signature((_MAP,), places=STATEMENT_ONLY),
             VOID, emit_map_event, check=check_whole_map, raw_args=frozenset({0}),
             event=_map_event("clear_map")),
    Function("zero", "set every value of a map to zero", Signature((_MAP,),
                                                                   places=STATEMENT_ONLY),
             VOID, emit_map_event, check=check_whole_map, raw_args=frozenset({0}),
             event=_map_event("zero_map")),
    Function("delete", "remove one entry of a map; false if it was not there",
             Signature((_MAP, _KEY), places=ANYWHERE), BOOL, emit_delete, check=check_delete,
             raw_args=frozenset({0, 1}), event=_map_event("clear_map"), discardable=True),
    Function("has_key", "whether a map has an entry for the key",
             Signature((_MAP, _KEY), places=ANYWHERE), BOOL, emit_has_key, check=check_has_key,
             raw_args=frozenset({0, 1})),
    Function("len", "how many entries a map has", Signature((_MAP,), places=ANYWHERE), INT64,
             emit_len, check=check_whole_map, raw_args=frozenset({0})),
]
