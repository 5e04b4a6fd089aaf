"""The registry of builtin variables (``pid``, ``comm``, ``nsecs`` ...).

Each entry is the whole truth about one builtin: its type (bpftrace 0.26's), and how the code
generator reads it. The checker and the code generator look names up here; neither has a branch
per name. ``args`` is not here: what it means belongs to the probe's provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .codegen import markers
from .types import COMM, UINT32, UINT64, Type


@dataclass(frozen=True)
class Builtin:
    name: str
    type: Type
    emit: Callable  # (FunctionBuilder) -> C expression, or the name of a filled char array
    doc: str
    # A reason the builtin cannot be used with these options, or None. (CompileOptions) -> str?
    unavailable: Callable = lambda options: None


def _c(expr: str) -> Callable:
    return lambda gen: expr


def _emit_comm(gen) -> str:
    buf = gen.buffer(COMM)
    gen.line(f"bpf_get_current_comm({buf}, {COMM.capacity});")
    return buf


def _emit_cpid(gen) -> str:
    # The child's pid is only known once it is spawned: the loader writes it in.
    return f"(u32){markers.constant(markers.CPID)}"


def _cpid_unavailable(options) -> Optional[str]:
    return None if options.has_child else "cpid is the pid of the command given with -c; there is none"


BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin("pid", UINT32, _c("(u32)(bpf_get_current_pid_tgid() >> 32)"),
            "process id (tgid)"),
    Builtin("tid", UINT32, _c("(u32)bpf_get_current_pid_tgid()"), "thread id"),
    Builtin("uid", UINT64, _c("(bpf_get_current_uid_gid() & 0xffffffffULL)"), "user id"),
    Builtin("gid", UINT64, _c("(bpf_get_current_uid_gid() >> 32)"), "group id"),
    Builtin("nsecs", UINT64, _c("bpf_ktime_get_ns()"), "nanoseconds since boot"),
    Builtin("cpu", UINT32, _c("(u32)bpf_get_smp_processor_id()"), "the CPU the probe runs on"),
    Builtin("rand", UINT32, _c("(u32)bpf_get_prandom_u32()"), "a pseudo-random 32-bit number"),
    Builtin("comm", COMM, _emit_comm, "the current task's name"),
    Builtin("cpid", UINT32, _emit_cpid, "the pid of the command started with -c",
            _cpid_unavailable),
]}
