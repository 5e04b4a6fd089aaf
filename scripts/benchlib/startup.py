"""Start-up: wall time and peak memory of programs that exit at once, and what parsing, checking
and generating code for a long script costs.

tracer is measured twice per round: a first run, with a brand-new empty cache directory, and a
cached run, with one directory primed by a run before the rounds (itself counted as a first
run). bpftrace keeps no cache, so each of its runs stands for both (the rows say so). The tools
alternate, and which goes first alternates too, so the drift of a noisy machine falls on both
alike.
"""

from __future__ import annotations

import time

from . import programs
from .results import Row, Target, gave_up, record
from .runner import run, tool_env

STARTUP_PROGRAMS = {
    "BEGIN { exit(); }": programs.BEGIN_EXIT,
    "20 tracepoints": programs.twenty_tracepoints(),
    "3 kernel structs": programs.THREE_STRUCTS,
}
# Peak memory is measured on the smallest program only: what a tool costs before the script does.
RSS_PROGRAM = "BEGIN { exit(); }"
NO_CACHE_NOTE = "bpftrace has no cache: its first and cached figures are the same runs"


def rounds(tools: dict, count: int):
    """``count`` rounds of the tools, the order reversed every other round."""
    order = list(tools.values())
    for i in range(count):
        yield order if i % 2 == 0 else order[::-1]


def measure_startup(tools: dict, caches, runs: int, first_runs: int, timeout: float) -> tuple:
    """The start-up rows, and a cache directory primed by the first program, kept for the
    measures after this one (they measure tracer's steady state, not its compiler); the caller
    removes it. ``first_runs`` counts tracer's first runs, the priming run among them: a first
    run can cost many times a cached one, so the quick mode does just one."""
    rows: list = []
    kept = None
    for label, text in STARTUP_PROGRAMS.items():
        wall = {"first": Row(f"start-up {label}, first run", "s", Target(2.0)),
                "cached": Row(f"start-up {label}, cached", "s", Target(1.0))}
        rss = {}
        if label == RSS_PROGRAM:
            rss = {"first": Row(f"peak RSS {label}, first run", "MiB", Target(1.5)),
                   "cached": Row(f"peak RSS {label}, cached", "MiB", Target(1.5))}
        primed = _measure_program(tools, caches, text, wall, rss, runs, first_runs, timeout)
        if kept is None:
            kept = primed
        else:
            caches.remove(primed)
        rows += list(wall.values()) + list(rss.values())
    return rows, kept


def _measure_program(tools, caches, text, wall, rss, runs, first_runs, timeout) -> str:
    """Measure one program; the directory its priming run filled."""
    argv_of = {tool.name: list(tool.argv) + ["-e", text] for tool in tools.values()}
    primed = caches.fresh()
    for tool in tools.values():
        if tool.has_cache:
            # The priming run is a first run too: its directory is brand-new and empty. After it
            # the directory holds what it built, and every cached run uses it.
            result = run(argv_of[tool.name], tool_env(tool, primed), timeout)
            rows = _passes(tool, wall, rss)[0][1]
            record(result, tool.name, [(row, FIGURES[row.unit]) for row in rows])
            if result.failure():
                wall["cached"].note(f"{tool.name}'s priming run failed: {result.failure()}")
    for i, order in enumerate(rounds(tools, runs)):
        for tool in order:
            for kind, rows in _passes(tool, wall, rss):
                if gave_up(tool.name, rows) or (kind == "first" and i + 1 >= first_runs):
                    continue
                cache = caches.fresh() if kind == "first" else primed
                result = run(argv_of[tool.name], tool_env(tool, cache), timeout)
                if kind == "first":
                    caches.remove(cache)
                record(result, tool.name, [(row, FIGURES[row.unit]) for row in rows])
    for row in list(wall.values()) + list(rss.values()):
        row.note(NO_CACHE_NOTE)
    return primed


def _passes(tool, wall: dict, rss: dict) -> list:
    """The runs one tool makes in a round, each with the rows it feeds: tracer a first and a
    cached run, each feeding its own rows; bpftrace one run that feeds both."""
    if tool.has_cache:
        return [(kind, [wall[kind]] + ([rss[kind]] if kind in rss else []))
                for kind in ("first", "cached")]
    return [("uncached", list(wall.values()) + list(rss.values()))]


# The figure a start-up row takes from a run, by the row's unit.
FIGURES = {"s": lambda result: result.wall, "MiB": lambda result: result.rss_mib}


def measure_compile(tools: dict, cache: str, runs: int, timeout: float, script_path: str) -> list:
    """-d of the long script under both tools (wall time: parse, check, generate, load nothing),
    and tracer's parse, check and C generation in this process, without the interpreter's
    start-up (the issue's target: under 100 ms for 1,000 lines)."""
    dry = Row(f"-d of a {programs.SCRIPT_LINES}-line script", "s")
    for order in rounds(tools, runs):
        for tool in order:
            if not gave_up(tool.name, [dry]):
                result = run(list(tool.argv) + ["-d", script_path], tool_env(tool, cache), timeout)
                record(result, tool.name, [(dry, FIGURES["s"])])
    in_process = Row(f"in-process compile, {programs.SCRIPT_LINES} lines", "ms",
                     Target(100.0, subject="tracer"))
    in_process.applies["bpftrace"] = False
    in_process.note("tracer only: parse, check and C generation inside the bench's process")
    try:
        for seconds in compile_in_process(programs.long_script(), runs):
            in_process.add("tracer", seconds * 1000)
    except Exception as e:  # tracer is being changed under us; a broken compiler is a row's failure
        in_process.fail("tracer", f"{type(e).__name__}: {e}"[:160])
    return [dry, in_process]


def compile_in_process(text: str, runs: int) -> list:
    """Seconds for each of ``runs`` compiles of ``text``, after one untimed compile that builds
    the parser (once per process in real use too)."""
    from tracer.compiler import compile_program
    compile_program(programs.BEGIN_EXIT, environ={})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        compile_program(text, "bench.bt", environ={})
        times.append(time.perf_counter() - start)
    return times


__all__ = ["measure_startup", "measure_compile", "compile_in_process", "rounds"]
