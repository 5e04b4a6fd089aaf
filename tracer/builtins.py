"""The registry of builtin variables (``pid``, ``comm``, ``nsecs`` ...).

Each entry is the whole truth about one builtin: its type (bpftrace 0.26's), and how the code
generator reads it. The checker and the code generator look names up here; neither has a branch
per name. ``args`` and the builtins that mean something only in some probes (``arg0``,
``retval``, ``func``, ``probe``) are not here: they belong to the probe's provider, which
``find`` asks first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

from .codegen import markers
from .functions.symbolic import emit_stack, stack_type
from .machine import online_cpus
from .types import BOOL, COMM, UINT32, UINT64, PointerType, SymbolicType, Type


@dataclass(frozen=True)
class Builtin:
    name: str
    # Its type, or a rule (Config) -> Type where the configuration decides (kstack's mode).
    type: Union[Type, Callable]
    emit: Callable  # (FunctionBuilder) -> C expression, or the name of a filled char array
    doc: str
    # A reason the builtin cannot be used with these options, or None. (CompileOptions) -> str?
    unavailable: Callable = lambda options: None
    # Whether it can be read inside a for loop's body, which runs as a callback without the
    # probe's context (registers, the trace record).
    in_loops: bool = True

    def type_for(self, config) -> Type:
        return self.type(config) if callable(self.type) else self.type


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


def _emit_elapsed(gen) -> str:
    # bpf_ktime_get_ns() and Python's monotonic clock are both CLOCK_MONOTONIC.
    return f"(bpf_ktime_get_ns() - {markers.constant(markers.START_NS)})"


def _task_struct():
    """The kernel's struct task_struct, from BTF (None without BTF)."""
    from .cdefs.btf_types import kernel_types
    kernel = kernel_types()
    return kernel.find("struct task_struct") if kernel is not None else None


def _curtask_type(config) -> Type:
    """A pointer to the current task_struct where the kernel's BTF describes it (so that
    ``curtask->pid`` reads), else the address as an integer, as bpftrace has it."""
    task = _task_struct()
    return PointerType(task, user=False) if task is not None else UINT64


def _task_member(name: str):
    """A member of the kernel's task_struct (None without BTF)."""
    task = _task_struct()
    return task.find(name) if task is not None else None


def _emit_ppid(gen) -> str:
    # bpftrace 0.26's ppid is its stdlib's curtask.real_parent.pid: two kernel reads at
    # this kernel's offsets.
    parent = gen.temp("u64 {} = 0")
    gen.line(f"bpf_probe_read_kernel(&{parent}, 8, (void *)((u64)bpf_get_current_task() + "
             f"{_task_member('real_parent').offset}));")
    pid = gen.temp("u32 {} = 0")
    gen.line(f"bpf_probe_read_kernel(&{pid}, 4, (void *)({parent} + "
             f"{_task_member('pid').offset}));")
    return pid


def _ppid_unavailable(options) -> Optional[str]:
    if _task_member("real_parent") is None:
        return "ppid reads the kernel's task_struct, which needs the kernel's BTF " \
               "(/sys/kernel/btf/vmlinux); this kernel has none"
    return None


def _emit_username(gen) -> str:
    record = gen.buffer(SymbolicType("username"), zeroed=False)
    gen.line(f"{record}->w[0] = bpf_get_current_uid_gid() & 0xffffffffULL;")
    return record


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
    Builtin("has_cpid", BOOL, lambda gen: "1" if gen.options.has_child else "0",
            "whether there is a command started with -c (cpid)"),
    Builtin("elapsed", UINT64, _emit_elapsed, "nanoseconds since tracer started the program"),
    Builtin("jiffies", UINT64, _c("bpf_jiffies64()"), "the kernel's jiffies"),
    Builtin("numaid", UINT32, _c("(u32)bpf_get_numa_node_id()"), "the NUMA node of the CPU"),
    Builtin("curtask", _curtask_type, _c("(u64)bpf_get_current_task()"),
            "the current task: a struct task_struct * (an integer without BTF)"),
    Builtin("ppid", UINT32, _emit_ppid, "the parent's process id (curtask->real_parent->pid)",
            _ppid_unavailable),
    Builtin("cgroup", UINT64, _c("bpf_get_current_cgroup_id()"),
            "the id of the current task's cgroup (v2)"),
    Builtin("ncpus", UINT64, lambda gen: f"{online_cpus()}ULL", "how many CPUs are online"),
    Builtin("username", SymbolicType("username"), _emit_username, "the current user's name"),
    Builtin("kstack", lambda config: stack_type("kstack", config.stack_mode),
            lambda gen: emit_stack(gen, "kstack", stack_type("kstack", gen.config.stack_mode)).text,
            "the kernel stack"),
    Builtin("ustack", lambda config: stack_type("ustack", config.stack_mode),
            lambda gen: emit_stack(gen, "ustack", stack_type("ustack", gen.config.stack_mode)).text,
            "the user stack"),
]}


def find(name: str, target) -> Optional[Builtin]:
    """The builtin ``name`` means in a probe at ``target``: the provider's own first (``arg0``
    is a register in a kprobe, an argument of the raw tracepoint in a rawtracepoint), then the
    ones every probe has."""
    return target.provider.builtin(name, target) or BUILTINS.get(name)
