"""Fuzz tracer's compiler: generate programs, compile each in process, report what crashed.

    scripts/fuzz [--count N] [--seed S] [--clang-sample K] [--out DIR] [--jobs J]
                 [--only SOURCE] [--index I ... [--reduce]]

A failure is an exception other than CompileError, a compile over the time limit (5 s), a
worker that died, or -- for K accepted programs sampled with --clang-sample -- BCC refusing
the generated C. Each failing case is saved in --out; the summary groups failures by cause.
Exit status 0 without failures, 1 with. A run is a function of --seed and --count alone.
See scripts/fuzzlib/ for the parts: cases (the mix), generator, grammar, mutator, stress,
runner, targets, report.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fuzzlib import cases, grammar, reduce, report, runner, targets  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=2000, help="programs to try (2000)")
    p.add_argument("--seed", type=int, default=1, help="the run's seed (1)")
    p.add_argument("--clang-sample", type=int, default=0, metavar="K",
                   help="also compile K accepted programs with BCC (0)")
    p.add_argument("--out", default="/tmp/tracer-fuzz-failures", help="where failing cases go")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (2); 0 runs in this process, without time limits")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds a compile may take (5)")
    p.add_argument("--only", choices=sorted(cases.SOURCES), action="append",
                   help="only programs from this source (repeatable)")
    p.add_argument("--index", type=int, action="append",
                   help="run only this case (repeatable) and show its program and outcome")
    p.add_argument("--reduce", action="store_true",
                   help="with --index: shrink a failing case to a small program that fails alike")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.clang_sample and os.geteuid() != 0:
        sys.exit("scripts/fuzz: --clang-sample needs root: BCC reads kernel headers and "
                 "creates maps")
    sources = {s: w for s, w in cases.SOURCES.items() if not args.only or s in args.only}
    # Tracepoints need tracefs, hence root; without it they would only be refused.
    make_case = functools.partial(cases.make_case, args.seed, sources=sources,
                                  tracepoints=os.geteuid() == 0)
    warm_up()
    if args.index:
        return show(make_case, args.index, args.reduce)
    started = time.monotonic()
    work = runner.Runner(make_case, {"compile": targets.compile_case, "clang": targets.clang_case},
                         targets.REFUSALS, jobs=args.jobs,
                         limits={"compile": args.timeout, "clang": 120.0},
                         progress=Progress(args.count).update)
    outcomes = work.run(("compile", i) for i in range(args.count))
    accepted = [o.index for o in outcomes if o.status == "accepted"]
    picked = random.Random(f"{args.seed}/clang").sample(accepted, min(args.clang_sample,
                                                                      len(accepted)))
    clang = work.run(("clang", i) for i in sorted(picked))
    saved = {}
    for o in outcomes + clang:
        if o.status == "failure":
            case = make_case(o.index)
            saved[(o.mode, o.index)] = (report.save(args.out, o, case), len(case.text))
    print(report.summary(outcomes, clang, saved, time.monotonic() - started))
    if saved:
        print(f"failing cases are in {args.out}/")
    return 1 if saved else 0


def warm_up() -> None:
    """Build what every worker would otherwise build for itself (lark's parser for tracer and
    for the grammar expander, the tracepoint list) once, before the workers fork."""
    grammar.load()
    for text in ("BEGIN { exit(); }", "tracepoint:syscalls:sys_enter_getppid { @ = count(); }"):
        try:
            targets.compile_case(cases.Case(0, 0, "warm-up", text))
        except Exception:  # noqa: BLE001 -- the run itself will report it
            pass


def show(make_case, indices, shrink: bool) -> int:
    status = 0
    for index in indices:
        case = make_case(index)
        outcome = runner.run_one(case, "compile", targets.compile_case, targets.REFUSALS)
        if shrink and outcome.status == "failure":
            fails = reduce.same_failure(case, targets.compile_case, targets.REFUSALS,
                                        outcome.cause)
            case = dataclasses.replace(case, text=reduce.reduce_text(case.text, fails))
            outcome = runner.run_one(case, "compile", targets.compile_case, targets.REFUSALS)
        print(f"# index {index} source {case.source} params {list(case.params)} "
              f"named {dict(case.named)} has_child {case.has_child}\n{case.text}\n"
              f"# -> {outcome.status} "
              f"{outcome.cause} {outcome.seconds:.2f} s\n{outcome.detail}")
        status |= outcome.status == "failure"
    return status


class Progress:
    """A line on stderr every few seconds, so a long run shows it is alive."""

    def __init__(self, total: int):
        self.total, self.done, self.failures = total, 0, 0
        self.last = time.monotonic()

    def update(self, outcome) -> None:
        self.done += 1
        self.failures += outcome.status == "failure"
        now = time.monotonic()
        if now - self.last >= 10:
            self.last = now
            print(f"fuzz: {self.done}/{self.total} done, {self.failures} failures",
                  file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the workers are gone with the runner; no traceback
        sys.exit(130)
