"""The bpftrace programs the bench runs under both tools (and one tracer runs alone). Each is
written in the language both bpftrace 0.17 and tracer accept (no `probe` builtin, for instance,
which tracer lacks), so a difference in the figures is a difference of the tools, not of the
programs."""

from __future__ import annotations

import os

BEGIN_EXIT = "BEGIN { exit(); }"

# Reads members of three kernel structs (task_struct, sched_entity, mm_struct), typed from the
# kernel's BTF by both tools: what start-up costs when a script reads kernel types.
THREE_STRUCTS = ('BEGIN { printf("%d %d %d\\n", curtask->real_parent->tgid, '
                 'curtask->se.load.weight, curtask->mm->map_count); exit(); }')

# Twenty system calls whose sys_enter tracepoints every x86-64 and arm64 kernel of the last years
# has; the bench checks them against tracefs before it starts.
STARTUP_SYSCALLS = ("read", "write", "openat", "close", "getppid", "getpid", "mmap", "munmap",
                    "brk", "ioctl", "lseek", "pread64", "pwrite64", "readv", "writev", "pipe2",
                    "sched_yield", "mremap", "madvise", "dup")

TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

# The printf of the throughput rows: a tag that no other line of either tool starts with, so the
# bench can count exactly the lines the probe printed.
PRINTF_TAG = "ev "
PRINTF_PROGRAM = ('tracepoint:syscalls:sys_enter_getppid /pid == cpid/ '
                  '{ printf("' + PRINTF_TAG + '%d %d\\n", pid, tid); }')

# Cost per event: no cpid filter (as in the old bench), so every getppid() on the machine counts
# alike under both tools; hist(pid) varies little, so the histogram stays a few buckets wide.
PER_EVENT_PROGRAMS = {
    "@[comm] = count()": "tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }",
    "@ = hist(pid)": "tracepoint:syscalls:sys_enter_getppid { @ = hist(pid); }",
    "@[pid, comm] = count()": "tracepoint:syscalls:sys_enter_getppid { @[pid, comm] = count(); }",
    "printf per event": ('tracepoint:syscalls:sys_enter_getppid /comm == "bench-workload"/ '
                         '{ printf("' + PRINTF_TAG + '%d\\n", pid); }'),
}
# Which per-event programs the issue gives a target (counting and histograms, not printf).
PER_EVENT_TARGETED = ("@[comm] = count()", "@ = hist(pid)", "@[pid, comm] = count()")

# What a Prometheus scrape costs, tracer only (bpftrace serves no metrics): a counter and a
# histogram, so each scrape reads a map of either kind. SCRAPE_METRIC is in every answer that read
# them (tracer names @h's metric tracer_h), which tells a scrape that read the maps from any
# other answer.
SCRAPE_PROGRAM = "tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); @h = hist(pid); }"
SCRAPE_METRIC = "tracer_h_bucket"

# The large map: one key per close(fd) the workload makes, each counted once.
MAP_PROGRAM = "tracepoint:syscalls:sys_enter_close /pid == cpid/ { @[args->fd] = count(); }"

SCRIPT_LINES = 1000


def twenty_tracepoints(syscalls=STARTUP_SYSCALLS) -> str:
    """A program with a probe per system call, each counting into its own key, and a BEGIN that
    ends the run at once: what start-up costs when a script attaches many probes."""
    probes = [BEGIN_EXIT]
    probes += [f"tracepoint:syscalls:sys_enter_{name} {{ @c[{i}] = count(); }}"
               for i, name in enumerate(syscalls)]
    return "\n".join(probes) + "\n"


def missing_tracepoints(syscalls=STARTUP_SYSCALLS, roots=TRACEFS_ROOTS) -> list:
    """The system calls of ``syscalls`` this kernel has no sys_enter tracepoint for."""
    for root in roots:
        events = os.path.join(root, "events", "syscalls")
        if os.path.isdir(events):
            return [name for name in syscalls
                    if not os.path.isdir(os.path.join(events, f"sys_enter_{name}"))]
    return list(syscalls)


def long_script(lines: int = SCRIPT_LINES) -> str:
    """A script of exactly ``lines`` lines that bpftrace 0.17 accepts too: probes with predicates,
    maps, conditions, a ternary and printf, as a long runbook script would have. Whole probes
    while they fit; the lines left over are comments, so any length parses."""
    out: list = []
    i = 0
    while len(out) + len(_probe(0)) <= lines:
        out += _probe(i)
        i += 1
    out += [f"// line {n + 1}" for n in range(len(out), lines)]
    return "\n".join(out) + "\n"


def _probe(i: int) -> list:
    """The i-th probe of the long script, one list item a line."""
    return [
        f"interval:ms:{i + 1} /cpu == {i % 4}/ {{",
        f"  $x = (nsecs % 1000) + {i};",
        f"  @count_{i % 50}[comm, pid] = count();",
        "  if ($x > 500 && pid != 0) {",
        f"    @big[{i % 7}] = $x * 2 - 1;",
        "  } else if ($x < 10) {",
        '    printf("small %d %s\\n", $x, comm);',
        "  } else {",
        "    @other = @other + 1;",
        "  }",
        '  $s = $x > 100 ? "hi" : "lo";',
        "  @str[$s] = count();",
        "}",
    ]
