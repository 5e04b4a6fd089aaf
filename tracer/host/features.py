"""What the running kernel supports, one function per feature, each answering with a
``Support``: whether it works, why (what was found), and what to do about a gap.

``tracer doctor`` prints every answer; a provider asks the ones its probe type needs (and turns
a gap into its ``Unsupported``), so that a run refuses a probe with the same words the doctor
uses. Everything here reads files or makes a tiny BPF object and drops it (``bpfprobe``):
nothing is mounted, attached or changed. Answers are computed once per process.
"""

from __future__ import annotations

import errno
import functools
import os
from dataclasses import dataclass
from typing import Optional

from . import bpfprobe, pmu
from . import btf as btf_types
from . import tracefs as tracefs_files


@dataclass(frozen=True)
class Support:
    ok: bool
    why: str = ""  # what was found: a detail where it works, the reason where it does not
    remedy: str = ""  # what to do about a gap


PROC_STATUS = "/proc/self/status"
FILESYSTEMS = "/proc/filesystems"
JIT_SYSCTL = "/proc/sys/net/core/bpf_jit_enable"
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
LOCKDOWN = "/sys/kernel/security/lockdown"
DEBUGFS = "/sys/kernel/debug"

# The kernel gives its initial namespaces fixed inode numbers (include/linux/proc_ns.h): any
# other number means this process runs in a namespace of its own, as in a container.
INIT_USER_NS, INIT_PID_NS = 0xEFFFFFFD, 0xEFFFFFFC

CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39
CAP_NAMES = {CAP_SYS_ADMIN: "CAP_SYS_ADMIN", CAP_PERFMON: "CAP_PERFMON", CAP_BPF: "CAP_BPF"}

BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_RINGBUF = 2, 27
BPF_PROG_TYPE_TRACEPOINT, BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_PROG_TYPE_TRACING = 5, 17, 26
BPF_TRACE_FENTRY = 24
BPF_FUNC_LOOP = 181
PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK = 1, 0

IN_A_CONTAINER = ("run the container with --privileged (or --cap-add BPF --cap-add PERFMON "
                  "--cap-add SYS_ADMIN, with seccomp and AppArmor unconfined)")

# Why bpf() failed, by errno, and what to do about it.
BPF_ERRORS = {
    errno.EPERM: ("the kernel refused bpf(): this process lacks CAP_BPF (or CAP_SYS_ADMIN), "
                  "or a seccomp profile forbids the call",
                  "run tracer as root; in a container, " + IN_A_CONTAINER),
    errno.ENOSYS: ("there is no bpf() syscall: the kernel was built without "
                   "CONFIG_BPF_SYSCALL, or a seccomp profile hides it",
                   "boot a kernel with CONFIG_BPF_SYSCALL=y; in a container, " + IN_A_CONTAINER),
}
PERF_ERRORS = {
    errno.EACCES: ("the kernel refused perf_event_open(): this process lacks CAP_PERFMON "
                   "(kernel.perf_event_paranoid applies)", "run tracer as root"),
    errno.EPERM: ("the kernel refused perf_event_open(): a seccomp profile or security "
                  "module forbids it", "in a container, " + IN_A_CONTAINER),
    errno.ENOSYS: ("there is no perf_event_open() syscall: the kernel was built without "
                   "CONFIG_PERF_EVENTS, or a seccomp profile hides it",
                   "boot a kernel with CONFIG_PERF_EVENTS=y; in a container, " + IN_A_CONTAINER),
    errno.ENOENT: ("the kernel has no software cpu-clock event (CONFIG_PERF_EVENTS)",
                   "boot a kernel with CONFIG_PERF_EVENTS=y"),
}
# /proc/sys/net/core/bpf_jit_enable -> (works, what it means)
JIT_STATES = {"0": (False, "the BPF JIT is off: programs run in the slower interpreter"),
              "1": (True, "the BPF JIT is on"),
              "2": (True, "the BPF JIT is on, with debugging output")}
# /sys/kernel/security/lockdown's selected mode -> (works, what it means)
LOCKDOWN_MODES = {
    "none": (True, "the kernel is not locked down"),
    "integrity": (True, "integrity lockdown: only bpf_probe_write_user() is refused"),
    "confidentiality": (False, "confidentiality lockdown: reading kernel memory, kprobes and "
                               "perf events are refused"),
}


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


# -- privileges and namespaces -----------------------------------------------------------------

def capabilities() -> set[int]:
    """The effective capabilities of this process (CapEff in /proc/self/status)."""
    for line in (_read(PROC_STATUS) or "").splitlines():
        if line.startswith("CapEff:"):
            mask = int(line.split()[1], 16)
            return {bit for bit in range(64) if mask >> bit & 1}
    return set()


def namespace_inode(kind: str) -> Optional[int]:
    try:
        link = os.readlink(f"/proc/self/ns/{kind}")  # "pid:[4026531836]"
    except OSError:
        return None
    return int(link[link.index("[") + 1:-1])


@functools.lru_cache(maxsize=None)
def privileges() -> Support:
    caps = capabilities()
    held = [CAP_NAMES[c] for c in sorted(CAP_NAMES) if c in caps]
    wanted = (CAP_BPF in caps and CAP_PERFMON in caps) or CAP_SYS_ADMIN in caps
    if os.geteuid() != 0:
        return Support(False, f"running as uid {os.geteuid()}, not root",
                       "run tracer with sudo or as root")
    if namespace_inode("user") not in (None, INIT_USER_NS):
        return Support(False, "running as root of a user namespace (a rootless container): "
                              "the kernel allows BPF only to the host's root",
                       "run tracer on the host, or in a rootful container: " + IN_A_CONTAINER)
    if not wanted:
        return Support(False, f"root, but without CAP_BPF and CAP_PERFMON or CAP_SYS_ADMIN "
                              f"(a container that drops them); held: {', '.join(held) or 'none'}",
                       IN_A_CONTAINER)
    return Support(True, "root, with " + ", ".join(held))


@functools.lru_cache(maxsize=None)
def host_pid_namespace() -> Support:
    """Probes see the host's process ids; tracer's /proc must show the same ones."""
    inode = namespace_inode("pid")
    if inode in (None, INIT_PID_NS):
        return Support(True, "this is the host's PID namespace: /proc shows the pids probes see")
    return Support(False, "running in a PID namespace of its own (a container): probes see "
                          "the host's pids while /proc shows the container's, so -p, pid "
                          "predicates and user stacks of other processes do not match up",
                   "run the container with --pid=host")


# -- the BPF core --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def bpf_syscall() -> Support:
    answer = bpfprobe.create_map(BPF_MAP_TYPE_ARRAY, 4, 8, 1)
    if answer.ok:
        return Support(True, "a BPF map can be created")
    why, remedy = BPF_ERRORS.get(answer.errno, (f"bpf() failed: {os.strerror(answer.errno)}",
                                                "run tracer as root on the host"))
    return Support(False, why, remedy)


def _needs_bpf() -> Optional[Support]:
    """A gap to report instead of a probe's answer when bpf() itself does not work."""
    core = bpf_syscall()
    if core.ok:
        return None
    return Support(False, "cannot tell without a working bpf() syscall")


@functools.lru_cache(maxsize=None)
def jit() -> Support:
    state = (_read(JIT_SYSCTL) or "").strip()
    if state in JIT_STATES:
        works, why = JIT_STATES[state]
        return Support(works, why, "" if works else "sysctl -w net.core.bpf_jit_enable=1")
    return Support(False, f"{JIT_SYSCTL} cannot be read: the kernel may have no BPF JIT "
                          f"(programs then run in the slower interpreter)",
                   "boot a kernel with CONFIG_BPF_JIT=y")


@functools.lru_cache(maxsize=None)
def btf() -> Support:
    if os.access(VMLINUX_BTF, os.R_OK):
        return Support(True, f"{VMLINUX_BTF} describes the kernel's types")
    return Support(False, f"{VMLINUX_BTF} is missing: kernel types and fentry need BTF",
                   "boot a kernel with CONFIG_DEBUG_INFO_BTF=y")


@functools.lru_cache(maxsize=None)
def ring_buffer() -> Support:
    gap = _needs_bpf()
    if gap:
        return gap
    answer = bpfprobe.create_map(BPF_MAP_TYPE_RINGBUF, 0, 0, os.sysconf("SC_PAGE_SIZE"))
    if answer.ok:
        return Support(True, "BPF ring buffer maps can be created")
    return Support(False, f"the kernel cannot create a BPF ring buffer map "
                          f"({os.strerror(answer.errno)}): it needs Linux 5.8 or newer",
                   "boot Linux 5.8 or newer")


def _helper_missing(log: str) -> bool:
    # What the verifier says of a helper it does not know (libbpf's feature probes read the
    # same words): any other refusal means the helper exists but its arguments were wrong.
    return "invalid func " in log or "unknown func " in log


@functools.lru_cache(maxsize=None)
def bpf_loop() -> Support:
    gap = _needs_bpf()
    if gap:
        return gap
    answer = bpfprobe.load_program(BPF_PROG_TYPE_TRACEPOINT,
                                   bpfprobe.call(BPF_FUNC_LOOP) + bpfprobe.EXIT)
    if not answer.log:
        return Support(False, f"cannot tell: the kernel refused the probe program "
                              f"({os.strerror(answer.errno)}) without saying why",
                       "check the kernel's security settings (lockdown, LSMs)")
    if _helper_missing(answer.log):
        return Support(False, "the kernel has no bpf_loop() helper (Linux 5.17 or newer): "
                              "`for` loops over a range cannot run",
                       "boot Linux 5.17 or newer, or write the loop out with unroll")
    return Support(True, "the bpf_loop() helper exists: `for` loops over a range can run")


@functools.lru_cache(maxsize=None)
def test_run() -> Support:
    """BEGIN and END run as raw-tracepoint programs through BPF_PROG_TEST_RUN."""
    gap = _needs_bpf()
    if gap:
        return gap
    answer = bpfprobe.load_program(BPF_PROG_TYPE_RAW_TRACEPOINT,
                                   bpfprobe.MOV_R0_0 + bpfprobe.EXIT, then_test_run=True)
    if answer.ok:
        return Support(True, "raw-tracepoint programs can be run on demand (BPF_PROG_TEST_RUN)")
    return Support(False, f"the kernel cannot run a raw-tracepoint program on demand "
                          f"({os.strerror(answer.errno)}): BEGIN and END need Linux 5.10 or "
                          f"newer", "boot Linux 5.10 or newer")


# -- file systems --------------------------------------------------------------------------------

def _can_mount(fstype: str, where: str) -> Optional[str]:
    """Why ``fstype`` could not be mounted on ``where`` by this process, or None if it can."""
    if fstype not in (_read(FILESYSTEMS) or ""):
        return f"the kernel has no {fstype}"
    if not os.path.isdir(where):
        return f"{where} does not exist"
    if CAP_SYS_ADMIN not in capabilities() or namespace_inode("user") not in (None,
                                                                             INIT_USER_NS):
        return "this process may not mount file systems (no CAP_SYS_ADMIN, as in a container)"
    return None


@functools.lru_cache(maxsize=None)
def tracefs() -> Support:
    where, usual = tracefs_files.mounted(), tracefs_files.TRACING
    if where:
        return Support(True, f"mounted on {where}")
    blocked = _can_mount("tracefs", usual)
    if blocked is None:
        return Support(True, f"not mounted; a run mounts it on {usual} itself")
    return Support(False, f"not mounted, and {blocked}: tracepoints are described only there",
                   f"mount it on the host (mount -t tracefs nodev {usual}) and, in a "
                   f"container, bind it in (-v {usual}:{usual})")


@functools.lru_cache(maxsize=None)
def debugfs() -> Support:
    if tracefs_files.read_mounts().get(DEBUGFS) == "debugfs":
        return Support(True, f"mounted on {DEBUGFS}")
    blocked = _can_mount("debugfs", DEBUGFS)
    if blocked is None:
        return Support(True, f"not mounted; a run mounts it on {DEBUGFS} itself")
    return Support(False, f"not mounted, and {blocked}: tools that look for "
                          f"{DEBUGFS}/tracing will not find tracefs (tracer does not need it)",
                   f"mount it on the host (mount -t debugfs nodev {DEBUGFS})")


@functools.lru_cache(maxsize=None)
def lockdown() -> Support:
    text = _read(LOCKDOWN)
    if text is None:
        return Support(True, "cannot tell (securityfs is not mounted); a lockdown would show "
                             "as refusals above")
    mode = text[text.find("[") + 1:text.find("]")] if "[" in text else text.strip()
    works, why = LOCKDOWN_MODES.get(mode, (True, f"lockdown mode {mode}"))
    return Support(works, why, "" if works else "boot with lockdown=integrity (or none)")


# -- event sources -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def perf_events() -> Support:
    answer = bpfprobe.open_perf_event(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK)
    if answer.ok:
        return Support(True, "perf events can be opened")
    why, remedy = PERF_ERRORS.get(answer.errno, (f"perf_event_open() failed: "
                                                 f"{os.strerror(answer.errno)}",
                                                 "run tracer as root on the host"))
    return Support(False, why, remedy)


@functools.lru_cache(maxsize=None)
def kprobes() -> Support:
    number = pmu.pmu_type("kprobe")
    if number is not None:
        return Support(True, f"the kernel has the kprobe event source (PMU type {number})")
    return Support(False, "this kernel was built without kprobes (CONFIG_KPROBES is off)",
                   "trace with tracepoint: or rawtracepoint: probes instead, or boot a kernel "
                   "with CONFIG_KPROBES=y")


@functools.lru_cache(maxsize=None)
def uprobes() -> Support:
    number = pmu.pmu_type("uprobe")
    if number is not None:
        return Support(True, f"the kernel has the uprobe event source (PMU type {number})")
    return Support(False, "the kernel has no uprobe event source: it was built without "
                          "CONFIG_UPROBES", "boot a kernel with CONFIG_UPROBES=y")


@functools.lru_cache(maxsize=None)
def usdt() -> Support:
    base = uprobes()
    if not base.ok:
        return base
    if pmu.format_bits("uprobe", "ref_ctr_offset") is None:
        return Support(True, "uprobes work; the kernel cannot count USDT semaphores "
                             "(Linux 4.20 or newer), so probes guarded by one stay off")
    return Support(True, "uprobes work, and the kernel counts USDT semaphores")


@functools.lru_cache(maxsize=None)
def raw_tracepoints() -> Support:
    gap = _needs_bpf()
    if gap:
        return gap
    answer = bpfprobe.load_program(BPF_PROG_TYPE_RAW_TRACEPOINT,
                                   bpfprobe.MOV_R0_0 + bpfprobe.EXIT)
    if answer.ok:
        return Support(True, "raw-tracepoint programs load")
    return Support(False, f"the kernel refused a raw-tracepoint program "
                          f"({os.strerror(answer.errno)}): it needs Linux 4.17 or newer",
                   "trace with tracepoint: probes instead")


@functools.lru_cache(maxsize=None)
def fentry() -> Support:
    gap = _needs_bpf()
    if gap:
        return gap
    if not btf().ok:
        return Support(False, "fentry and fexit name kernel functions through BTF, which "
                              "this kernel lacks", btf().remedy)
    kernel = btf_types.vmlinux()
    target = kernel.find_function("vfs_read") if kernel is not None else None
    if target is None:
        return Support(False, "cannot tell: vfs_read was not found in the kernel's BTF "
                              "(libbpf is needed to look it up)", "install libbpf1")
    answer = bpfprobe.load_program(BPF_PROG_TYPE_TRACING, bpfprobe.MOV_R0_0 + bpfprobe.EXIT,
                                   attach_type=BPF_TRACE_FENTRY, attach_btf_id=target.btf_id)
    if answer.ok:
        return Support(True, "an fentry program on vfs_read loads (BPF trampolines)")
    said = answer.log.strip().splitlines()[-1] if answer.log.strip() else "before verifying it"
    return Support(False, f"the kernel refuses to load an fentry program "
                          f"({os.strerror(answer.errno)}, {said})",
                   "trace with tracepoint: or rawtracepoint: probes instead")


@functools.lru_cache(maxsize=None)
def hardware_counters() -> Support:
    if pmu.has_hardware_counters():
        return Support(True, "the processor's counters are visible (a cpu PMU)")
    return Support(False, "this machine shows no hardware performance counters (no cpu PMU "
                          f"in {pmu.DEVICES}; virtual machines often hide them)",
                   "count in software instead: profile:hz:99 samples every CPU, and software: "
                   "events (cpu-clock, page-faults, context-switches ...) need no counters")


@functools.lru_cache(maxsize=None)
def hw_breakpoints() -> Support:
    number = pmu.pmu_type("breakpoint")
    if number is not None:
        return Support(True, f"the kernel has the breakpoint event source (PMU type {number})")
    return Support(False, "the kernel has no hardware breakpoint event source "
                          "(CONFIG_HAVE_HW_BREAKPOINT)", "boot a kernel that has them")
