"""What a run leaves behind: one file per failing case, and the summary on stdout.

Why failures are grouped by cause (the exception type and tracer's innermost frame): one bug
typically fails hundreds of programs; the summary should read as a list of bugs, each with the
smallest program that shows it, not as a list of programs.
"""

from __future__ import annotations

import collections
import os

from .runner import Outcome


def failure_path(out_dir: str, case, mode: str) -> str:
    suffix = "" if mode == "compile" else f"-{mode}"
    return os.path.join(out_dir, f"seed{case.seed}-{case.index:06d}{suffix}.txt")


def save(out_dir: str, outcome: Outcome, case) -> str:
    """The case's program, where it came from, and the error, in one file (plus the program
    alone, as a .bt file to hand to tracer). The text is written back to the exact bytes it was
    decoded from (surrogate escapes), so a case with invalid UTF-8 reproduces."""
    os.makedirs(out_dir, exist_ok=True)
    path = failure_path(out_dir, case, outcome.mode)
    header = [
        "# tracer fuzz failure",
        f"# seed {case.seed} index {case.index} source {case.source} mode {outcome.mode}",
        f"# params {list(case.params)} named {dict(case.named)} has_child {case.has_child}",
        f"# cause: {outcome.cause}",
        f"# again: scripts/fuzz --seed {case.seed} --index {case.index}",
        f"# program: {len(case.text)} characters, between the markers",
    ]
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("\n".join(header) + "\n# ---- program ----\n" + case.text +
                "\n# ---- end of program ----\n# ---- error ----\n" + outcome.detail + "\n")
        if outcome.extra:
            f.write("# ---- generated C ----\n" + outcome.extra + "\n")
    with open(path[:-4] + ".bt", "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(case.text)
    return path


def summary(outcomes: list[Outcome], clang: list[Outcome], saved: dict, seconds: float) -> str:
    failures = [o for o in outcomes + clang if o.status == "failure"]
    count = collections.Counter(o.status for o in outcomes)
    lines = [f"programs {len(outcomes)}, accepted {count['accepted']}, "
             f"refused {count['refused']}, failures {len(failures)}  ({seconds:.1f} s)"]
    by_source = collections.defaultdict(collections.Counter)
    for o in outcomes:
        by_source[o.source][o.status] += 1
    lines.append("  by source: " + ", ".join(f"{src} {c['accepted']}/{sum(c.values())} accepted"
                                             for src, c in sorted(by_source.items())))
    if clang:
        rejected = sum(o.status == "failure" for o in clang)
        lines.append(f"  clang: {len(clang)} accepted programs compiled by BCC, "
                     f"{rejected} rejected")
    groups: dict[str, list[Outcome]] = {}
    for o in failures:
        groups.setdefault(o.cause, []).append(o)
    if groups:
        lines.append(f"distinct failure causes: {len(groups)}")
    for cause, members in groups.items():
        # The shortest program of the group is the one worth reading first.
        first = min(members, key=lambda o: saved.get((o.mode, o.index), ("", 1 << 60))[1])
        where = saved.get((first.mode, first.index), ("",))[0]
        lines.append(f"  {len(members):5d} x {cause}  [{where}]")
    return "\n".join(lines)
