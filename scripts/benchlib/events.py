"""The measures that trace a workload: printf throughput and lost events, the cost a probe adds
to each traced call, and the time to print a large map at exit.

tracer runs with one cache directory for all of these, the one the start-up measure primed, so
the kernel headers are merged already. No figure here includes a tool's start-up or compile: each
is timed from the workload's own clock (its calls, its first call, its last call), so a program
compiled in its first run costs that run nothing.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Optional

from . import outputs, programs, workloads
from .results import Row, Target, gave_up, record
from .runner import run, tool_env
from .startup import rounds

DEFAULT_BUFFER = "default buffer"


@dataclass(frozen=True)
class Setting:
    """Where the traced runs happen: the tools, tracer's shared cache directory, the built
    workload, a scratch directory for its reports, and the timeout of one run."""
    tools: dict
    cache: str
    workload: str
    scratch: str
    timeout: float

    def report_path(self, tool: str) -> str:
        return os.path.join(self.scratch, f"report-{tool}")

    def traced(self, tool, text: str, command: list, extra=None, timeout=None):
        """Run ``tool`` on ``text`` with ``command`` as its -c child."""
        argv = list(tool.argv) + ["-c", " ".join(command), "-e", text]
        return run(argv, tool_env(tool, self.cache, extra), timeout or self.timeout)


def printf_configs(counts: list, large_pages: int) -> list:
    """(events, buffer label, BPFTRACE_* settings) of each printf measure: every count with the
    default buffer, and the largest count again with a larger ring buffer."""
    configs = [(n, DEFAULT_BUFFER, {}) for n in counts]
    configs.append((max(counts), f"{large_pages} pages",
                    {"BPFTRACE_PERF_RB_PAGES": str(large_pages)}))
    return configs


def measure_printf(setting: Setting, counts: list, large_pages: int, runs: int,
                   target_count: int) -> list:
    """Printed lines, lost events and lines per second of a printf per getppid() call.

    Lines per second = printed lines / (the tool's exit - the workload's first call): the window
    in which the tool must take every event, format it, print it and drain what is left, the
    same for both tools and free of their start-up. Printed + lost must equal the events made;
    a row says so when it does not."""
    rows: list = []
    for count, buffer, extra in printf_configs(counts, large_pages):
        targeted = count == target_count and buffer == DEFAULT_BUFFER
        label = f"printf {count:,} events, {buffer}"
        printed = Row(f"{label}: printed", "lines")
        lost = Row(f"{label}: lost", "events", Target(0, subject="tracer") if targeted else None)
        rate = Row(f"{label}: rate", "lines/s",
                   Target(1.0, at_most=False) if targeted else None)
        for order in rounds(setting.tools, runs):
            for tool in order:
                if gave_up(tool.name, [printed, lost, rate]):
                    continue
                report = setting.report_path(tool.name)
                command = workloads.getppid_command(setting.workload, count, report)
                result = setting.traced(tool, programs.PRINTF_PROGRAM, command, extra)
                figures = _printf_figures(result, workloads.read_report(report))
                record(result, tool.name, [(printed, lambda _: figures[0]),
                                           (lost, lambda _: figures[1]),
                                           (rate, lambda _: figures[2])])
                if result.failure() is None and figures[0] + figures[1] != count:
                    printed.note(f"{tool.name}: printed + lost = {figures[0] + figures[1]:,}, "
                                 f"not {count:,}")
                if result.failure() is None and figures[1]:
                    rate.note(f"{tool.name} lost events: its rate counts only what it printed")
        rows += [printed, lost, rate]
    return rows


def _printf_figures(result, report: dict) -> tuple:
    """(printed, lost, lines per second) of one run; a string instead of the rate when the
    workload left no start time to measure from."""
    printed = outputs.printed_lines(result.stdout, programs.PRINTF_TAG)
    lost = outputs.lost_events(result.stdout, result.stderr)
    if "start_ns" not in report:
        return printed, lost, "the workload wrote no report"
    seconds = (result.exit_ns - report["start_ns"]) / 1e9
    return printed, lost, printed / seconds if seconds > 0 else "no time elapsed"


def measure_per_event(setting: Setting, runs: int, calls: int) -> list:
    """Nanoseconds a probe adds to each getppid() call: the workload's own ns per call, traced,
    minus the untraced median. Untraced runs are spread over the rounds, so the baseline drifts
    with the traced runs."""
    rows = {label: Row(f"ns added per event, {label}", "ns",
                       Target(0.6) if label in programs.PER_EVENT_TARGETED else None)
            for label in programs.PER_EVENT_PROGRAMS}
    baseline: list = []
    lost = {(label, tool): 0 for label in rows for tool in setting.tools}
    for order in rounds(setting.tools, runs):
        untraced = untraced_ns(setting, calls)
        if untraced is not None:
            baseline.append(untraced)
        for label, text in programs.PER_EVENT_PROGRAMS.items():
            for tool in order:
                if gave_up(tool.name, [rows[label]]):
                    continue
                lost[label, tool.name] += _per_event_run(setting, tool, text, calls, rows[label])
    for (label, tool), count in lost.items():
        if count:
            rows[label].note(f"{tool} lost {count:,} events over its runs (figures not corrected)")
    subtract_baseline(list(rows.values()), baseline)
    return list(rows.values())


def untraced_ns(setting: Setting, calls: int) -> Optional[float]:
    """The workload's ns per call with no tool attached (None if it failed): one sample of the
    baseline that the per-event figures subtract."""
    report = setting.report_path("untraced")
    result = run(workloads.getppid_command(setting.workload, calls, report),
                 timeout=setting.timeout)
    untraced = workloads.read_report(report).get("ns_per_call")
    return untraced if result.failure() is None else None


def subtract_baseline(rows: list, baseline: list) -> None:
    """Turn ``rows``' raw ns per call into ns added per call: each sample less the median of
    ``baseline``. Without a baseline no figure can be had: every column fails."""
    if not baseline:
        for row in rows:
            for column in row.columns:
                row.fail(column, "the untraced workload did not run")
            row.samples = {column: [] for column in row.columns}
        return
    base = statistics.median(baseline)
    for row in rows:
        row.samples = {column: [value - base for value in values]
                       for column, values in row.samples.items()}
        row.note(f"untraced getppid(): {base:.1f} ns per call")


def _per_event_run(setting: Setting, tool, text: str, calls: int, row: Row) -> int:
    """One traced run credited to ``row``; the events the tool reported lost in it."""
    report = setting.report_path(tool.name)
    command = workloads.getppid_command(setting.workload, calls, report)
    result = setting.traced(tool, text, command)
    ns = workloads.read_report(report).get("ns_per_call")
    # Raw ns per call for now; the baseline is subtracted once all rounds are in.
    record(result, tool.name, [(row, lambda _: ns if ns is not None else "no workload report")])
    return outputs.lost_events(result.stdout, result.stderr)


def measure_big_map(setting: Setting, runs: int, keys: int, first_fd: int = 100_000) -> list:
    """Seconds from the workload's last close() to the tool's exit, for a map of ``keys``
    entries (one per fd closed), the map limit raised for both tools. A run counts only if it
    printed every entry."""
    row = Row(f"print a {keys:,}-key map at exit", "s", Target(1.0))
    # Both spellings: bpftrace 0.17 reads only BPFTRACE_MAP_KEYS_MAX, 0.26 only
    # BPFTRACE_MAX_MAP_KEYS (its old name survives in config blocks, not in the environment).
    extra = {"BPFTRACE_MAP_KEYS_MAX": str(2 * keys), "BPFTRACE_MAX_MAP_KEYS": str(2 * keys)}
    for order in rounds(setting.tools, runs):
        for tool in order:
            if gave_up(tool.name, [row]):
                continue
            report = setting.report_path(tool.name)
            command = workloads.close_command(setting.workload, first_fd, keys, report)
            result = setting.traced(tool, programs.MAP_PROGRAM, command, extra)
            end = workloads.read_report(report).get("end_ns")
            entries = outputs.map_entries(result.stdout, first_fd, keys)

            def figure(result, end=end, entries=entries):
                if end is None:
                    return "the workload wrote no report"
                if entries != keys:
                    return f"printed {entries:,} of {keys:,} entries"
                return (result.exit_ns - end) / 1e9

            record(result, tool.name, [(row, figure)])
    return [row]
