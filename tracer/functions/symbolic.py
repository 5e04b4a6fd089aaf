"""Values a probe records raw and user space turns into something to print: stacks (kstack,
ustack), symbols (ksym, usym), a time (strftime), an address (ntop), a buffer (buf), a user
name (username).

Each is a ``SymbolicType``: in the kernel a few 64-bit words (a stack id and a pid, an address,
a uid ...), which can be printed, stored in maps and used as map keys like any value. Its
``kind`` names a resolver here, which the runtime calls with the words once it has them; the
resolver may use the running session (``runtime.symbols``, ``runtime.stack_ips``).
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import signal
import time as _time
from typing import Optional

from .. import ast
from ..values import Buffer
from ..codegen.values import CValue
from ..types import UINT64, SymbolicType
from .base import Function, Kind, Param, Signature

STACK_MODES = ("bpftrace", "perf", "raw")
MAX_STACK_DEPTH = 127  # what one stack map entry holds (the kernel's perf_event_max_stack)
BPF_F_USER_STACK = 1 << 8
STACK_MAPS = {"kstack": "tracer_kstacks", "ustack": "tracer_ustacks"}


# ---- kstack, ustack ----------------------------------------------------------------------------

def stack_type(kind: str, mode: str, depth: int = MAX_STACK_DEPTH) -> SymbolicType:
    # A user stack also records whose it is: its addresses mean something only in that process.
    return SymbolicType(kind, 2 if kind == "ustack" else 1, (mode, depth))


def check_stack(ck, call: ast.Call, arg_types: list) -> Optional[SymbolicType]:
    """kstack(mode), kstack(depth), kstack(mode, depth): the mode a bare word."""
    mode, depth = ck.config.stack_mode, MAX_STACK_DEPTH
    args = list(call.args)
    if args and isinstance(args[0], ast.Ident):
        mode = args.pop(0).name
        if mode not in STACK_MODES:
            ck.error(call.args[0].span, f"{call.name}: invalid stack mode '{mode}'",
                     hint=f"use one of {', '.join(STACK_MODES)}")
            return None
    if args:
        depth = ck.constant_int(args[0])
        if depth is None or not 1 <= depth <= MAX_STACK_DEPTH:
            ck.error(args[0].span, f"{call.name}: the depth must be an integer literal from 1 "
                                   f"to {MAX_STACK_DEPTH}")
            return None
        args.pop(0)
    if args:
        ck.error(args[0].span, f"{call.name}() takes a mode and a depth: "
                               f"{call.name}(perf, 10)")
        return None
    if mode == "build_id" or (mode not in STACK_MODES):
        mode = "bpftrace"
    return stack_type(call.name, mode, depth)


def emit_stack(gen, kind: str, typ: SymbolicType):
    stack_map = STACK_MAPS[kind]
    gen.require(f"BPF_STACK_TRACE({stack_map}, {gen.config.max_map_keys});")
    record = gen.buffer(typ, zeroed=False)
    flags = BPF_F_USER_STACK if kind == "ustack" else 0
    gen.line(f"{record}->w[0] = (u64)(s64){stack_map}.get_stackid(ctx, {flags});")
    if kind == "ustack":
        gen.line(f"{record}->w[1] = bpf_get_current_pid_tgid() >> 32;")
    return CValue(record, typ)


def _emit_stack_call(gen, call: ast.Call):
    return emit_stack(gen, call.name, call.type)


def _resolve_stack(runtime, typ: SymbolicType, words):
    mode, depth = typ.params
    stack_id = words[0] if words[0] < 1 << 63 else words[0] - (1 << 64)
    ips = runtime.stack_ips(STACK_MAPS[typ.kind], stack_id)[:depth]
    if typ.kind == "ustack":
        return runtime.symbols.ustack(words[1], ips, mode)
    return runtime.symbols.kstack(ips, mode)


# ---- ksym, usym, kaddr -------------------------------------------------------------------------

def emit_address_symbol(gen, call: ast.Call):
    record = gen.buffer(call.type, zeroed=False)
    gen.line(f"{record}->w[0] = (u64)({gen.expr(call.args[0]).text});")
    if call.type.words > 1:
        gen.line(f"{record}->w[1] = bpf_get_current_pid_tgid() >> 32;")
    return CValue(record, call.type)


def check_address(ck, call: ast.Call, arg_types: list) -> None:
    typ = arg_types[0]
    if typ is not None and not (typ.is_int or typ.is_pointer):
        ck.error(call.args[0].span, f"{call.name}() expects an address, an integer or a pointer "
                                    f"({typ} provided)")


def kaddr_result(ck, call: ast.Call, arg_types: list):
    from ..symbols import kernel
    name = call.args[0].value.decode("utf-8", "surrogateescape")
    address = kernel.address_of(name)
    if address is None:
        ck.error(call.args[0].span, f"kaddr: no kernel symbol named '{name}'",
                 hint="kernel symbols are listed in /proc/kallsyms")
        return None
    call.info["address"] = address
    return UINT64


def emit_kaddr(gen, call: ast.Call):
    return CValue(f"{call.info['address']}ULL", UINT64)


# ---- strftime(fmt, nsecs) ----------------------------------------------------------------------

def strftime_result(ck, call: ast.Call, arg_types: list):
    typ = arg_types[1]
    if typ is not None and not typ.is_int:
        ck.error(call.args[1].span, f"strftime() expects nanoseconds since boot, an integer "
                                    f"({typ} provided)")
        return None
    return SymbolicType("timestamp", 1, (call.args[0].value.decode("utf-8", "surrogateescape"),))


def emit_one_word(gen, call: ast.Call, arg: int = 0):
    record = gen.buffer(call.type, zeroed=False)
    gen.line(f"{record}->w[0] = (u64)({gen.expr(call.args[arg]).text});")
    return CValue(record, call.type)


def format_time(fmt: str, epoch_ns: int) -> str:
    """strftime(3), with bpftrace's %f (microseconds, six digits) added."""
    seconds, ns = divmod(epoch_ns, 1_000_000_000)
    fmt = fmt.replace("%f", f"{ns // 1000:06d}")
    return _time.strftime(fmt, _time.localtime(seconds))


def _resolve_timestamp(runtime, typ: SymbolicType, words) -> str:
    return format_time(typ.params[0], words[0] + runtime.boot_offset_ns)


# ---- ntop([af,] address) -----------------------------------------------------------------------
#
# An address of either family, as bpftrace keeps one: the family, then up to 16 bytes (an IPv4
# address given as an integer, or the bytes of a uint8[4] or uint8[16] array, as struct sock
# holds them), so that both branches of `af == AF_INET ? ntop(v4) : ntop(v6)` are one type.

AF_INET, AF_INET6 = 2, 10
_ADDRESS_BYTES = {4: AF_INET, 16: AF_INET6}


def ntop_result(ck, call: ast.Call, arg_types: list):
    family = None
    if len(call.args) == 2:
        family = ck.constant_int(call.args[0])
        if family not in (AF_INET, AF_INET6):
            ck.error(call.args[0].span, "ntop(): the family must be AF_INET (2) or AF_INET6 "
                                        "(10), written as a constant")
            return None
    typ = arg_types[-1]
    if typ is None:
        return None
    if typ.is_int:
        given = AF_INET
    elif typ.is_array and typ.element.is_int and typ.element.size == 1 and \
            typ.count in _ADDRESS_BYTES:
        given = _ADDRESS_BYTES[typ.count]
    else:
        ck.error(call.args[-1].span, f"ntop() expects an IPv4 address as an integer, or an "
                                     f"address's bytes as uint8[4] or uint8[16] ({typ} "
                                     f"provided)")
        return None
    if family is not None and family != given:
        ck.error(call.args[-1].span, f"ntop(): this is not an address of family {family}",
                 hint="AF_INET addresses are integers or 4 bytes, AF_INET6 ones 16 bytes")
        return None
    call.info["family"] = given
    return SymbolicType("inet", 3)


def emit_ntop(gen, call: ast.Call):
    record = gen.buffer(call.type)
    address = gen.expr(call.args[-1])
    gen.line(f"{record}->w[0] = {call.info['family']};")
    if address.type.is_int:
        gen.line(f"{record}->w[1] = (u32)({address.text});")
    else:
        gen.copy(f"(&{record}->w[1])", address.text, address.type.count)
    return CValue(record, call.type)


def _resolve_inet(runtime, typ, words) -> str:
    # The address's bytes as they lie in memory, network order: 0x0100007f is 127.0.0.1, as a
    # u32 read from a struct sockaddr_in is.
    data = b"".join(w.to_bytes(8, "little") for w in words[1:3])
    if words[0] == AF_INET6:
        return str(ipaddress.IPv6Address(data))
    return str(ipaddress.IPv4Address(data[:4]))


# ---- buf(data, length) -------------------------------------------------------------------------

def buf_result(ck, call: ast.Call, arg_types: list):
    data = arg_types[0]
    if data is not None and not (data.is_pointer or data.is_int or data.is_string):
        ck.error(call.args[0].span, f"buf() expects a pointer or a string ({data} provided)")
        return None
    capacity = ck.config.max_strlen if data is None or not data.is_string else data.capacity
    if len(call.args) > 1:
        length = ck.constant_int(call.args[1])
        if length is not None:
            if length < 0:
                ck.error(call.args[1].span, "buf(): the length cannot be negative")
                return None
            capacity = min(length, ck.config.max_strlen)
    return SymbolicType("buffer", 1 + (capacity + 7) // 8, (capacity,))


def emit_buf(gen, call: ast.Call):
    typ = call.type
    capacity = typ.params[0]
    record = gen.buffer(typ)
    data = gen.expr(call.args[0])
    length = str(capacity)
    if len(call.args) > 1:
        asked = gen.scalar(f"(u64)({gen.expr(call.args[1]).text})", UINT64)
        length = gen.scalar(f"{asked.text} < {capacity} ? {asked.text} : {capacity}", UINT64).text
    if data.type.is_string:
        gen.copy(f"(char *)&{record}->w[1]", data.text, min(capacity, data.type.size))
    else:
        gen.line(f"bpf_probe_read((char *)&{record}->w[1], {length}, (void *)({data.text}));")
    gen.line(f"{record}->w[0] = {length};")
    return CValue(record, typ)


def _resolve_buffer(runtime, typ, words) -> Buffer:
    length = min(words[0], typ.params[0])
    data = b"".join(w.to_bytes(8, "little") for w in words[1:])
    return Buffer(data[:length])


# ---- strerror(errno), signal_name(signal) ----------------------------------------------------

def _number_symbol(kind: str):
    def result(ck, call: ast.Call, arg_types: list):
        typ = arg_types[0]
        if typ is not None and not typ.is_int:
            ck.error(call.args[0].span, f"{call.name}() expects an integer ({typ} provided)")
            return None
        return SymbolicType(kind, 1)
    return result


def _resolve_signal(runtime, typ, words) -> str:
    try:
        return signal.Signals(words[0]).name
    except ValueError:
        return str(words[0])


# ---- username ----------------------------------------------------------------------------------

def _resolve_username(runtime, typ, words) -> str:
    try:
        return pwd.getpwuid(words[0]).pw_name
    except KeyError:
        return str(words[0])


RESOLVERS = {
    "kstack": _resolve_stack, "ustack": _resolve_stack,
    "ksym": lambda runtime, typ, words: runtime.symbols.ksym(words[0]),
    "usym": lambda runtime, typ, words: runtime.symbols.usym(words[1], words[0]),
    "timestamp": _resolve_timestamp,
    "inet": _resolve_inet,
    "buffer": _resolve_buffer,
    "username": _resolve_username,
    "errno": lambda runtime, typ, words: os.strerror(words[0]),
    "signal": _resolve_signal,
}

_STACK_ARGS = (Param("mode", Kind.CUSTOM, optional=True), Param("depth", Kind.CUSTOM,
                                                                optional=True))

FUNCTIONS = [
    Function("kstack", "the kernel stack: kstack(mode, depth), mode bpftrace, perf or raw",
             Signature(_STACK_ARGS), check_stack, _emit_stack_call,
             raw_args=frozenset({0, 1})),
    Function("ustack", "the user stack: ustack(mode, depth), mode bpftrace, perf or raw",
             Signature(_STACK_ARGS), check_stack, _emit_stack_call,
             raw_args=frozenset({0, 1})),
    Function("ksym", "the kernel symbol an address is in", Signature((Param("address"),)),
             SymbolicType("ksym", 1), emit_address_symbol, check=check_address),
    Function("usym", "the user symbol an address is in, in the current process",
             Signature((Param("address"),)), SymbolicType("usym", 2), emit_address_symbol,
             check=check_address),
    Function("kaddr", "the address of a kernel symbol",
             Signature((Param("name", Kind.STRING_LITERAL),)), kaddr_result, emit_kaddr),
    Function("strftime", "a time (nanoseconds since boot, as nsecs) formatted by strftime(3)",
             Signature((Param("format", Kind.STRING_LITERAL), Param("nsecs"))),
             strftime_result, lambda gen, call: emit_one_word(gen, call, 1)),
    Function("ntop", "an IPv4 or IPv6 address as text: ntop([family,] address)",
             Signature((Param("address"), Param("address", optional=True))),
             ntop_result, emit_ntop),
    Function("strerror", "the text of an errno value", Signature((Param("errno"),)),
             _number_symbol("errno"), emit_one_word),
    Function("signal_name", "the name of a signal number", Signature((Param("signal"),)),
             _number_symbol("signal"), emit_one_word),
    Function("buf", "bytes read from an address, printed escaped (printf's %r)",
             Signature((Param("data"), Param("length", Kind.INT, optional=True))),
             buf_result, emit_buf),
]
