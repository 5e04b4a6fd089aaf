"""The benchmark behind scripts/bench: tracer and bpftrace measured side by side.

Each tool runs the same program against the same workload, alternating, several times; the
median of each is reported with the ratio tracer / bpftrace. Peak memory is the child's maximum
resident set size from wait4(2).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOAD = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
/* Calls getppid() N times and prints how long that took, in nanoseconds per call. */
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) getppid();
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"""
COUNT_PROGRAM = "tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }"


def tools() -> dict[str, list[str]]:
    tracer = [os.path.join(os.path.dirname(sys.executable), "tracer")]
    bpftrace = shutil.which("bpftrace")
    if bpftrace is None:
        sys.exit("bench: bpftrace is not installed (scripts/setup installs it)")
    return {"tracer": tracer, "bpftrace": [bpftrace]}


def run(argv: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in KiB, stdout) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(argv)} failed")
    return wall, usage.ru_maxrss, out


def workload_ns(output: str) -> float:
    """The workload's own report (ns per call): the last number in the output before the maps."""
    for line in output.splitlines():
        try:
            return float(line)
        except ValueError:
            continue
    raise SystemExit(f"bench: no timing in the output:\n{output}")


def row(name: str, values: dict[str, list[float]], unit: str) -> str:
    t, b = statistics.median(values["tracer"]), statistics.median(values["bpftrace"])
    return f"{name:<28} {t:>12.3f} {b:>12.3f} {unit:<6} {t / b:>7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    cmds = tools()
    with tempfile.TemporaryDirectory() as tmp:
        src, loop = os.path.join(tmp, "loop.c"), os.path.join(tmp, "loop")
        with open(src, "w") as f:
            f.write(WORKLOAD)
        subprocess.run(["gcc", "-O2", "-o", loop, src], check=True)
        base = statistics.median(workload_ns(run([loop, str(args.calls)])[2])
                                 for _ in range(args.runs))
        wall: dict[str, list[float]] = {"tracer": [], "bpftrace": []}
        rss: dict[str, list[float]] = {"tracer": [], "bpftrace": []}
        added: dict[str, list[float]] = {"tracer": [], "bpftrace": []}
        for _ in range(args.runs):
            for name, argv in cmds.items():  # alternate, so drift hits both alike
                seconds, peak, _ = run(argv + ["-e", "BEGIN { exit(); }"])
                wall[name].append(seconds)
                rss[name].append(peak / 1024)
                _, _, out = run(argv + ["-c", f"{loop} {args.calls}", "-e", COUNT_PROGRAM])
                added[name].append(workload_ns(out) - base)
    print(f"{'measure (median of ' + str(args.runs) + ')':<28} {'tracer':>12} {'bpftrace':>12} "
          f"{'unit':<6} {'ratio':>7}")
    print(row("start-up wall time", wall, "s"))
    print(row("start-up peak memory", rss, "MiB"))
    print(row("added cost per event", added, "ns"))
    print(f"(untraced getppid(): {base:.1f} ns per call)")


if __name__ == "__main__":
    main()
