"""The bench's results, for a person (a table on the terminal) and for a program (a JSON
document). Pure: rows in, text or a dict out."""

from __future__ import annotations

import json

from .results import TOOLS, Row

COLUMNS = (("measure", 54, "<"), (TOOLS[0], 12, ">"), (TOOLS[1], 12, ">"), ("unit", 8, "<"),
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


def cell(row: Row, column: str) -> str:
    """A column's median; "failed" when it has no figure because its runs failed, "-" where it
    has no such figure at all."""
    if not row.applies[column]:
        return "-"
    median = row.median(column)
    if median is None and column in row.failures:
        return "failed"
    return number(median)


def table(rows: list) -> str:
    """The table, then what the rows could not say in a cell: notes and why runs failed. Where
    a row's two figures are not tracer's and bpftrace's, a line above it names them (and names
    the tools again for the rows after it), so no figure sits under another's header."""
    def line(values) -> str:
        return " ".join(f"{value:{align}{width}}" for value, (_, width, align)
                        in zip(values, COLUMNS)).rstrip()

    out = [line(name for name, _, _ in COLUMNS)]
    shown = TOOLS  # the columns the nearest header line above names
    footnotes: dict = {}  # text -> its number; rows that share a note share its number
    for row in rows:
        if row.columns != shown:
            out.append(line(["", *row.columns]))
            shown = row.columns
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        target = row.target.describe() if row.target else "-"
        marks = "".join(f"[{footnotes.setdefault(text, len(footnotes) + 1)}]"
                        for text in _footnotes(row))
        first, second = row.columns
        out.append(line([row.name + (" " + marks if marks else ""), cell(row, first),
                         cell(row, second), row.unit, ratio, target, MET_TEXT[row.met]]))
    notes = [f"  [{number}] {text}" for text, number in footnotes.items()]
    return "\n".join(out + ([""] + notes if notes else [])) + "\n"


def _footnotes(row: Row) -> list:
    notes = [f"{column} failed: {reason}" for column, reason in row.failures.items()]
    return notes + list(row.notes)


def row_json(row: Row) -> dict:
    """One row. Its two medians are keyed by its column names, "columns" says which (and in
    which order the ratio takes them): "tracer" and "bpftrace" for a row comparing the tools."""
    return {
        "name": row.name,
        "unit": row.unit,
        "columns": list(row.columns),
        **{column: row.median(column) if row.applies[column] else None
           for column in row.columns},
        "ratio": row.ratio,
        "target": row.target.describe() if row.target else None,
        "target_spec": row.target.to_json() if row.target else None,
        "met": row.met,
        "runs": {column: len(row.samples[column]) for column in row.columns},
        "samples": {column: list(row.samples[column]) for column in row.columns},
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
