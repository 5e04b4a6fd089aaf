"""The lark grammar of the bpftrace language, shipped inside the installed package as
``tracer.grammar`` (see pyproject.toml: the folder sits beside the package in the source tree)."""

from importlib import resources


def grammar_text() -> str:
    return resources.files(__name__).joinpath("tracer.lark").read_text(encoding="utf-8")
