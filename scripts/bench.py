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
SCRIPT_LINES = 1000


def long_script(lines: int = SCRIPT_LINES) -> str:
    """A script of the given length that bpftrace 0.17 accepts too: probes with predicates,
    maps, conditions, a ternary and printf, as a long runbook script would have."""
    out: list[str] = []
    i = 0
    while len(out) < lines:
        out += [
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
        i += 1
    out = out[:lines]
    out[-1] = "}"  # the last probe ends on the last line (its body cut short, still whole)
    return "\n".join(out) + "\n"


def compile_in_process(text: str, runs: int) -> float:
    """Median seconds for tracer to parse, check and generate C for ``text``, in process (the
    issue's target: under 0.1 s for a 1,000-line script)."""
    from tracer.compiler import compile_program
    compile_program("BEGIN { exit(); }")  # the parser is built once per process
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        compile_program(text, "bench.bt", environ={})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
        script = os.path.join(tmp, "long.bt")
        with open(script, "w") as f:
            f.write(long_script())
        wall: dict[str, list[float]] = {"tracer": [], "bpftrace": []}
        rss: dict[str, list[float]] = {"tracer": [], "bpftrace": []}
        added: dict[str, list[float]] = {"tracer": [], "bpftrace": []}
        dry: dict[str, list[float]] = {"tracer": [], "bpftrace": []}
        for _ in range(args.runs):
            for name, argv in cmds.items():  # alternate, so drift hits both alike
                seconds, peak, _ = run(argv + ["-e", "BEGIN { exit(); }"])
                wall[name].append(seconds)
                rss[name].append(peak / 1024)
                _, _, out = run(argv + ["-c", f"{loop} {args.calls}", "-e", COUNT_PROGRAM])
                added[name].append(workload_ns(out) - base)
                # -d: parse, check and generate code for the long script, load nothing.
                dry[name].append(run(argv + ["-d", script])[0])
        in_process = compile_in_process(long_script(), args.runs)
    print(f"{'measure (median of ' + str(args.runs) + ')':<28} {'tracer':>12} {'bpftrace':>12} "
          f"{'unit':<6} {'ratio':>7}")
    print(row("start-up wall time", wall, "s"))
    print(row("start-up peak memory", rss, "MiB"))
    print(row("added cost per event", added, "ns"))
    print(row(f"-d of a {SCRIPT_LINES}-line script", dry, "s"))
    print(f"(tracer in process: parse, check and C for {SCRIPT_LINES} lines: "
          f"{in_process * 1000:.1f} ms; target under 100 ms)")
    print(f"(untraced getppid(): {base:.1f} ns per call)")


if __name__ == "__main__":
    main()
