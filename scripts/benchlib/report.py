"""The bench's results, for a person (a table on the terminal) and for a program (a JSON
document). Pure: rows in, text or a dict out."""

from __future__ import annotations

import json

from .results import TOOLS, Row

COLUMNS = (("measure", 54, "<"), ("tracer", 12, ">"), ("bpftrace", 12, ">"), ("unit", 8, "<"),
           ("ratio", 7, ">"), ("target", 13, "<"), ("met?", 5, "<"))
MET_TEXT = {True: "yes", False: "no", None: "-"}
SCHEMA = "tracer-bench/1"


def number(value) -> str:
    """A figure with as many digits as its size deserves: 0.253, 42.7, 1,204,331; a count
    (lines, events) stays a whole number: 0, not 0.000."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 1000 or value == int(value):
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def cell(row: Row, tool: str) -> str:
    """A tool's median; "failed" when it has no figure because its runs failed, "-" where the
    tool has no such figure at all."""
    if not row.applies[tool]:
        return "-"
    median = row.median(tool)
    if median is None and tool in row.failures:
        return "failed"
    return number(median)


def table(rows: list) -> str:
    """The table, then what the rows could not say in a cell: notes and why runs failed."""
    def line(values) -> str:
        return " ".join(f"{value:{align}{width}}" for value, (_, width, align)
                        in zip(values, COLUMNS)).rstrip()

    out = [line(name for name, _, _ in COLUMNS)]
    footnotes: dict = {}  # text -> its number; rows that share a note share its number
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        target = row.target.describe() if row.target else "-"
        marks = "".join(f"[{footnotes.setdefault(text, len(footnotes) + 1)}]"
                        for text in _footnotes(row))
        out.append(line([row.name + (" " + marks if marks else ""), cell(row, "tracer"),
                         cell(row, "bpftrace"), row.unit, ratio, target, MET_TEXT[row.met]]))
    notes = [f"  [{number}] {text}" for text, number in footnotes.items()]
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


def _footnotes(row: Row) -> list:
    notes = [f"{tool} failed: {reason}" for tool, reason in row.failures.items()]
    return notes + list(row.notes)


def row_json(row: Row) -> dict:
    return {
        "name": row.name,
        "unit": row.unit,
        "tracer": row.median("tracer"),
        "bpftrace": row.median("bpftrace") if row.applies["bpftrace"] else None,
        "ratio": row.ratio,
        "target": row.target.describe() if row.target else None,
        "target_spec": row.target.to_json() if row.target else None,
        "met": row.met,
        "runs": {tool: len(row.samples[tool]) for tool in TOOLS},
        "samples": {tool: list(row.samples[tool]) for tool in TOOLS},
        "failed": dict(row.failures),
        "notes": list(row.notes),
    }


def document(rows: list, machine: dict, settings: dict, seconds: float) -> dict:
    """The whole result: every row, the machine and tools it ran on, the settings of the run."""
    return {"schema": SCHEMA, "machine": machine, "settings": settings,
            "duration_s": round(seconds, 1), "rows": [row_json(row) for row in rows]}


def write_json(path: str, doc: dict) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
