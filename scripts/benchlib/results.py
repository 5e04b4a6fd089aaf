"""A measured row: each tool's samples, their medians, the ratio tracer / bpftrace and whether the
issue's target for that row is met. Pure: nothing here runs a tool.

Most rows compare the two tools. A row may instead compare two ways of running tracer (with and
without a Prometheus scrape, say): it names its two columns itself, and its ratio is its first
column over its second."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Optional

TOOLS = ("tracer", "bpftrace")


@dataclass(frozen=True)
class Target:
    """The goal a row must reach. Most goals bound the ratio tracer / bpftrace; a few bound
    tracer's own figure (no lost events, a compile under 100 ms), where bpftrace is no yardstick."""
    bound: float
    at_most: bool = True
    subject: str = "ratio"  # "ratio" or "tracer" (the row's first column)

    def met(self, tracer: Optional[float], ratio: Optional[float]) -> Optional[bool]:
        """True or False; None when the figure the target bounds could not be had."""
        value = ratio if self.subject == "ratio" else tracer
        if value is None:
            return None
        return value <= self.bound if self.at_most else value >= self.bound

    def describe(self) -> str:
        sign = "<=" if self.at_most else ">="
        prefix = "" if self.subject == "ratio" else "tracer "
        return f"{prefix}{sign} {self.bound:g}"

    def to_json(self) -> dict:
        return {"subject": self.subject, "bound": self.bound,
                "comparison": "<=" if self.at_most else ">="}


@dataclass
class Row:
    """One line of the table. A column whose run failed keeps the reason in ``failures``; a
    column with no such figure at all (bpftrace has no in-process compile) has ``applies``
    False. ``columns`` names the two figures, the ratio's numerator first: the tools, unless the
    row compares something else. Samples, failures and ``applies`` are keyed by these names."""
    name: str
    unit: str
    target: Optional[Target] = None
    columns: tuple = TOOLS
    samples: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    applies: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.columns = tuple(self.columns)
        self.samples = self.samples or {column: [] for column in self.columns}
        self.applies = self.applies or {column: True for column in self.columns}

    def add(self, tool: str, value: float) -> None:
        self.samples[tool].append(float(value))

    def fail(self, tool: str, reason: str) -> None:
        # The first reason is the telling one; later runs usually fail the same way.
        self.failures.setdefault(tool, reason)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def median(self, tool: str) -> Optional[float]:
        values = self.samples[tool]
        return statistics.median(values) if values else None

    @property
    def ratio(self) -> Optional[float]:
        first, second = self.columns
        return ratio(self.median(first), self.median(second))

    @property
    def met(self) -> Optional[bool]:
        """None without a target; False when the first column (tracer) failed, since a failed
        run meets nothing."""
        if self.target is None:
            return None
        first = self.columns[0]
        if first in self.failures and not self.samples[first]:
            return False
        return self.target.met(self.median(first), self.ratio)


def ratio(tracer: Optional[float], bpftrace: Optional[float]) -> Optional[float]:
    """tracer / bpftrace; None when either is missing or bpftrace's figure is zero (0 lost
    events against 0 lost events has no meaningful ratio)."""
    if tracer is None or bpftrace is None or bpftrace == 0:
        return None
    return tracer / bpftrace


def record(run, tool: str, figures) -> None:
    """Credit one run of ``tool`` (a column of the rows) to rows: ``figures`` pairs each row with
    the function that reads that row's figure from the run. A failed run marks every row failed
    instead; a figure function that finds the run's output wrong returns a string, the reason it
    does not count."""
    failure = run.failure()
    for row, figure in figures:
        value = failure if failure else figure(run)
        if isinstance(value, str):
            row.fail(tool, value)
        else:
            row.add(tool, value)


def gave_up(tool: str, rows) -> bool:
    """True once ``tool`` (a column of ``rows``) failed in every one of them: its further runs
    would only fail the same way, at the cost of a timeout each."""
    return all(tool in row.failures and not row.samples[tool] for row in rows)
