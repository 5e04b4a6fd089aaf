"""Pass 1: attach points -> probe sites.

Each attach point is handed to its provider, which checks it and expands wildcards into
concrete targets. Every target becomes a ``ProbeSite`` with its own copy of the predicate and
body, because what ``args`` means (and so the type of every expression using it) differs from
one target to the next. One site is one C function.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Optional

from .. import ast
from ..diagnostics import CompileError, Reporter, Span
from ..providers import REGISTRY, ExpandContext, Target, unsupported_probe_type


@dataclass
class ProbeSite:
    index: int
    target: Target
    probe: ast.Probe
    predicate: Optional[ast.Expr]
    body: list[ast.Stmt]
    span: Optional[Span] = None  # the attach point the target came from

    def problem(self) -> Optional[CompileError]:
        """A located error if the running kernel cannot attach this probe, else None."""
        unsupported = self.target.provider.unsupported(self.target)
        if unsupported is None:
            return None
        return CompileError.at(self.span, f"cannot attach {self.target.name}: "
                                          f"{unsupported.why}", hint=unsupported.instead)

    @property
    def function_name(self) -> str:
        return f"probe_{self.index}"


PART_RE = re.compile(r'"((?:\\.|[^"\\])*)"|([^:]*)')


def split_attach_point(text: str) -> tuple[str, list[str]]:
    """"tracepoint:syscalls:sys_enter_read" -> ("tracepoint", ["syscalls", "sys_enter_read"]).
    A quoted part may hold colons (``uprobe:"/opt/a:b/app":main``); its quotes go."""
    head, _, rest = text.partition(":")
    if not _:
        return head, []
    parts, pos = [], 0
    while True:
        m = PART_RE.match(rest, pos)
        quoted, plain = m.group(1), m.group(2)
        parts.append(re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain)
        pos = m.end()
        if pos >= len(rest) or rest[pos] != ":":
            return head, parts
        pos += 1


def expand_probes(program: ast.Program, reporter: Reporter, ctx: ExpandContext) -> list[ProbeSite]:
    sites: list[ProbeSite] = []
    for probe in program.probes:
        targets: list[tuple[Target, Span]] = []
        for ap in probe.attach_points:
            head, parts = split_attach_point(ap.text)
            provider = REGISTRY.get(head)
            if provider is None:
                known = ", ".join(REGISTRY.names())
                missing = unsupported_probe_type(head)
                if missing is None:
                    reporter.error(ap.span, f"unknown probe type '{head}'",
                                   hint="known probe types: " + known)
                else:
                    also = "" if missing == head else f" (bpftrace's {missing})"
                    reporter.error(ap.span, f"tracer cannot attach {head}{also} probes yet",
                                   hint="probe types tracer has: " + known)
                continue
            targets.extend((t, ap.span) for t in provider.expand(parts, ap.span, reporter, ctx))
        for i, (target, span) in enumerate(targets):
            # The first site keeps the parsed nodes; later ones get their own copies.
            fresh = i > 0
            sites.append(ProbeSite(
                index=len(sites), target=target, probe=probe,
                predicate=copy.deepcopy(probe.predicate) if fresh else probe.predicate,
                body=copy.deepcopy(probe.body) if fresh else probe.body, span=span))
    return sites
