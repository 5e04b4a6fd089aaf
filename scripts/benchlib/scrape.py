"""What a Prometheus scrape every second costs the traced system: the ns a probe adds to each
getppid() call while tracer serves `--metrics` and the bench fetches /metrics once a second,
against the same with no `--metrics` at all (the issue's target: within 5%).

tracer only: bpftrace serves no metrics, so this row's two columns are two ways of running
tracer, not the two tools. The runs alternate, and which goes first alternates too, so the drift
of a noisy machine falls on both alike; an untraced run in every round gives the baseline, as in
the cost-per-event rows. A scrape is made by a thread of the bench's process, as a Prometheus
server on the same machine would make it: from the moment the endpoint first answers until the
run ends, on a fixed one-second beat.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
import time
import urllib.request
from dataclasses import replace

from . import programs, workloads
from .events import Setting, subtract_baseline, untraced_ns
from .results import Row, Target, gave_up, record

SCRAPED, UNSCRAPED = "scraped", "unscraped"
PERIOD = 1.0         # seconds between scrapes: a Prometheus scrape_interval of 1s
MIN_SCRAPES = 3      # a scraped run that saw fewer during the workload's calls does not count
POLL = 0.02          # seconds between tries while tracer starts and the endpoint is not up yet
SCRAPE_TIMEOUT = 5.0
# No proxy, whatever the environment says: the endpoint is on this machine's loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Scraper:
    """GETs ``url`` on a thread of its own, from the moment it first answers until the ``with``
    block ends, every PERIOD seconds counted from that first answer. A scrape counts if the
    answer holds ``expect``; the start and end (CLOCK_MONOTONIC, ns) of each are kept."""

    def __init__(self, url: str, expect: str):
        self.url, self.expect = url, expect
        self.scrapes: list = []  # (start_ns, end_ns) of each good scrape
        self.failed = 0          # scrapes after the first good one that got no good answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scraper", daemon=True)

    def __enter__(self) -> "Scraper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def during(self, start_ns: int, end_ns: int) -> list:
        """The good scrapes that overlapped [start_ns, end_ns]."""
        return [(a, b) for a, b in self.scrapes if a <= end_ns and b >= start_ns]

    def _loop(self) -> None:
        while not self._scrape():  # until the endpoint is up
            if self._stop.wait(POLL):
                return
        first = self.scrapes[0][0] / 1e9
        while True:
            # A fixed beat, not a sleep after each scrape, so a slow scrape delays none after
            # it; a beat it overran is skipped, not made up for.
            beats = int((time.monotonic() - first) / PERIOD) + 1
            if self._stop.wait(max(0.0, first + beats * PERIOD - time.monotonic())):
                return
            if not self._scrape():
                self.failed += 1

    def _scrape(self) -> bool:
        start = time.monotonic_ns()
        try:
            with _OPENER.open(self.url, timeout=SCRAPE_TIMEOUT) as answer:
                body = answer.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException):  # refused, reset, HTTP errors, timeouts
            return False
        if self.expect not in body:
            return False
        self.scrapes.append((start, time.monotonic_ns()))
        return True


def free_port() -> int:
    """A loopback port nothing listens on now. Another process could take it before tracer
    binds it; tracer would then fail that run, which the row would say."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure_scrape_overhead(setting: Setting, runs: int, calls: int) -> list:
    """The row: ns added per getppid() call (the workload's own ns per call, traced, minus the
    untraced median) with a scrape every second, against without --metrics. The added ns are
    the per-event overhead the target bounds; the traced ns per call would hide a change in it
    behind the cost of the system call itself."""
    row = Row("ns added per event, a scrape every second", "ns", Target(1.05),
              columns=(SCRAPED, UNSCRAPED))
    tracer = setting.tools["tracer"]
    baseline: list = []
    seen: list = []      # good scrapes during each scraped run's calls
    lasted: list = []    # seconds each of those scrapes took
    for i in range(runs):
        untraced = untraced_ns(setting, calls)
        if untraced is not None:
            baseline.append(untraced)
        for column in (SCRAPED, UNSCRAPED) if i % 2 == 0 else (UNSCRAPED, SCRAPED):
            if gave_up(column, [row]):
                continue
            if column == SCRAPED:
                during = _scraped_run(setting, tracer, calls, row)
                if during is not None:
                    seen.append(len(during))
                    lasted += [(end - start) / 1e9 for start, end in during]
            else:
                _unscraped_run(setting, tracer, calls, row)
    subtract_baseline([row], baseline)
    row.note(f"tracer only, `{_program_label()}` on getppid(): {SCRAPED} = with --metrics and "
             f"/metrics fetched every {PERIOD:g} s, {UNSCRAPED} = without --metrics; both in ns "
             "added per call (traced minus untraced)")
    if seen:
        took = f", {statistics.median(lasted) * 1000:.1f} ms each (median)" if lasted else ""
        row.note(f"scrapes during each scraped run's {calls:,} calls: "
                 f"{', '.join(map(str, seen))}{took}")
    return [row]


def _program_label() -> str:
    """The scrape program's body, short enough for a note."""
    text = programs.SCRAPE_PROGRAM
    return text[text.index("{") + 1:text.rindex("}")].strip().rstrip(";")


def _scraped_run(setting: Setting, tracer, calls: int, row: Row):
    """One run with --metrics and the scraper, credited to the scraped column if at least
    MIN_SCRAPES good scrapes overlapped the workload's calls; those scrapes, or None when the
    workload left no report to time them against."""
    address = f"127.0.0.1:{free_port()}"
    served = replace(tracer, argv=tuple(tracer.argv) + ("--metrics", address))
    with Scraper(f"http://{address}/metrics", programs.SCRAPE_METRIC) as scraper:
        result, report = _traced(setting, served, calls, SCRAPED)
    # Counted once the scraper has stopped, so no scrape is still on its way to the list. The
    # report's last line is ns_per_call: with it, the times before it are there too.
    during = (scraper.during(report["start_ns"], report["end_ns"])
              if "ns_per_call" in report else None)

    def figure(_):
        if during is None:
            return "the workload wrote no report"
        if not scraper.scrapes:
            return "/metrics never answered with the maps"
        if len(during) < MIN_SCRAPES:
            return (f"{len(during)} scrapes during the workload's calls, fewer than "
                    f"{MIN_SCRAPES} (failed scrapes: {scraper.failed})")
        return report["ns_per_call"]

    record(result, SCRAPED, [(row, figure)])
    return during


def _unscraped_run(setting: Setting, tracer, calls: int, row: Row) -> None:
    result, report = _traced(setting, tracer, calls, UNSCRAPED)
    record(result, UNSCRAPED,
           [(row, lambda _: report.get("ns_per_call", "the workload wrote no report"))])


def _traced(setting: Setting, tool, calls: int, column: str) -> tuple:
    """One traced run of the scrape program; the run and the workload's report ({} if none).
    Figures are raw ns per call: the baseline is subtracted once all rounds are in."""
    path = setting.report_path(column)
    result = setting.traced(tool, programs.SCRAPE_PROGRAM,
                            workloads.getppid_command(setting.workload, calls, path))
    return result, workloads.read_report(path)
