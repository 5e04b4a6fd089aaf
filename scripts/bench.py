"""The benchmark behind scripts/bench: tracer measured against bpftrace in the same run.

Each measure runs the same program on the same workload under both tools, alternating, several
times; a row gives each tool's median, the ratio tracer / bpftrace and the issue's target for it.
One measure is tracer's alone (what a Prometheus scrape costs): its row compares tracer with
and without the scrape, and the table names those columns above it.
Times on a noisy machine drift: compare the ratios of one run, never absolute numbers across runs.
A tool whose runs fail shows "failed" in its cell, with the reason under the table; the bench
itself goes on.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import events, programs, report, scrape, startup, workloads  # noqa: E402
from benchlib.runner import CacheDirs, find_tools, last_line  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """How much of each measure to do."""
    startup_runs: int
    first_runs: int        # tracer's first runs (each rebuilds its cache from nothing)
    compile_runs: int
    event_runs: int
    calls: int             # getppid() calls per cost-per-event run
    scrape_runs: int       # runs with a /metrics scrape a second, and as many without
    scrape_calls: int      # getppid() calls per scrape run: 4 to 6 s traced, several scrapes
    printf_runs: int
    printf_counts: tuple   # events per printf run; the first carries the targets
    large_pages: int       # the larger ring buffer, in pages, for the largest count
    map_runs: int
    map_keys: int
    timeout: float         # seconds one run may take
    flood_timeout: float   # seconds one printf run may take


# Full: about 6 minutes on a 2-core machine. Quick: about 2 minutes, every row still there; most
# of it is bpftrace draining its printf floods (2,000,000 lines take it 15 to 25 s, twice) and the
# scrape runs (30,000,000 getppid() calls take tracer about 5 s: 12 s a round with the untraced
# run). Quick does three scrape rounds, not two, so one slow run cannot set that row's median.
PLANS = {
    "full": Plan(startup_runs=7, first_runs=5, compile_runs=5, event_runs=5, calls=200_000,
                 scrape_runs=5, scrape_calls=30_000_000, printf_runs=3,
                 printf_counts=(500_000, 2_000_000), large_pages=4096, map_runs=5,
                 map_keys=100_000, timeout=120.0, flood_timeout=600.0),
    "quick": Plan(startup_runs=3, first_runs=1, compile_runs=2, event_runs=2, calls=100_000,
                  scrape_runs=3, scrape_calls=30_000_000, printf_runs=1,
                  printf_counts=(500_000, 2_000_000), large_pages=4096, map_runs=2,
                  map_keys=100_000, timeout=60.0, flood_timeout=120.0),
}
TARGET_PRINTF_COUNT = 500_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs, every row still measured (about 2 minutes)")
    parser.add_argument("--runs", type=int, help="runs per tool for every measure")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    return parser.parse_args(argv)


def choose_plan(args: argparse.Namespace) -> tuple:
    mode = "quick" if args.quick else "full"
    plan = PLANS[mode]
    if args.runs:
        plan = replace(plan, startup_runs=args.runs, first_runs=args.runs, compile_runs=args.runs,
                       event_runs=args.runs, scrape_runs=args.runs, printf_runs=args.runs,
                       map_runs=args.runs)
    return mode, plan


def version(argv: list) -> str:
    try:
        done = subprocess.run(argv + ["--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    return last_line(done.stdout) or last_line(done.stderr) or "unknown"


def machine(tools: dict) -> dict:
    return {"kernel": os.uname().release, "cpus": os.cpu_count(), "arch": platform.machine(),
            "python": platform.python_version(),
            "versions": {name: version(list(tool.argv)) for name, tool in tools.items()}}


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def measure(plan: Plan, tools: dict, caches: CacheDirs, scratch: str) -> list:
    """Every row, measure by measure, the cheap ones first."""
    binary = workloads.build_workload(scratch)
    script = os.path.join(scratch, "long.bt")
    with open(script, "w") as f:
        f.write(programs.long_script())
    rows: list = []
    say("start-up and peak memory")
    found, primed = startup.measure_startup(tools, caches, plan.startup_runs, plan.first_runs,
                                            plan.timeout)
    rows += found
    say(f"parse, check and codegen of a {programs.SCRIPT_LINES}-line script")
    rows += startup.measure_compile(tools, primed, plan.compile_runs, plan.timeout, script)
    setting = events.Setting(tools, primed, binary, scratch, plan.timeout)
    say("cost per event")
    rows += events.measure_per_event(setting, plan.event_runs, plan.calls)
    say("cost per event with a /metrics scrape every second (tracer only)")
    rows += scrape.measure_scrape_overhead(setting, plan.scrape_runs, plan.scrape_calls)
    say(f"a {plan.map_keys:,}-key map at exit")
    rows += events.measure_big_map(setting, plan.map_runs, plan.map_keys)
    say("printf throughput and lost events")
    flood = replace(setting, timeout=plan.flood_timeout)
    rows += events.measure_printf(flood, list(plan.printf_counts), plan.large_pages,
                                  plan.printf_runs, TARGET_PRINTF_COUNT)
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    missing = programs.missing_tracepoints()
    if missing:
        sys.exit(f"bench: this kernel lacks sys_enter tracepoints for: {', '.join(missing)}")
    mode, plan = choose_plan(args)
    tools = find_tools()
    caches = CacheDirs()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
            rows = measure(plan, tools, caches, scratch)
    finally:
        caches.cleanup()
    seconds = time.monotonic() - started
    print(report.table(rows), end="")
    print(f"({mode} run, {seconds:.0f} s; medians; ratio = left column / right column: "
          "tracer / bpftrace unless a line above the row names other columns)")
    if args.json:
        doc = report.document(rows, machine(tools), {"mode": mode, **asdict(plan)}, seconds)
        report.write_json(args.json, doc)


if __name__ == "__main__":
    main()
