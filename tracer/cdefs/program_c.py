"""The C a program carries, read before it is parsed: its directives run and its macros
expanded (``preprocess``), the macro constants of its ``#include``s read from the installed
headers (``includes``), and its own struct, union and enum definitions laid out (``cparse``),
all gathered into the ``TypeCatalog`` the checker looks names up in.
"""

from __future__ import annotations

import os
from typing import Optional

from ..host import btf
from .catalog import TypeCatalog
from .preprocess import Preprocessed, preprocess


def predefined() -> dict[str, str]:
    """What a script may test with #ifdef: bpftrace defines BPFTRACE_HAVE_BTF where the kernel
    has BTF, and scripts pick BTF's types over their own definitions so."""
    return {"BPFTRACE_HAVE_BTF": "1"} if os.path.exists(btf.VMLINUX) else {}


def preprocess_program(text: str) -> Preprocessed:
    """The program as the parser reads it (raises a located CompileError without a source)."""
    return preprocess(text, predefined())


def catalog_for(pre: Preprocessed, source_name: str) -> TypeCatalog:
    """The types and constants of the program's C: its definitions and its includes' macro
    constants, then (looked up when named) the kernel's BTF. Headers that are not installed
    give nothing, as the types a tool includes them for come from BTF."""
    catalog = TypeCatalog()
    included: dict[str, str] = {}
    # The C parser and the header reader are imported only by programs that need them: most
    # programs have neither definitions nor includes, and start faster without them.
    if pre.includes:
        from .includes import read_includes
        quote_dirs = [os.path.dirname(os.path.abspath(source_name))] \
            if os.path.isfile(source_name) else []
        found = read_includes(pre.includes, quote_dirs=quote_dirs)
        included = found.macros
        catalog.headers_note = _headers_note(found)
    constants = {name: int(value) for name, value in included.items()}
    if pre.definitions:
        from .cparse import parse_definitions
        definitions = parse_definitions(pre.definitions, {**included, **pre.macros},
                                        resolve=_kernel_type(catalog))
        catalog.types = definitions.types
        constants.update(definitions.constants)
    catalog.constants = constants
    return catalog


def _headers_note(found) -> Optional[str]:
    if found.problem:
        return f"the program's #include lines gave no constants: {found.problem}"
    if found.skipped:
        return ("these headers are not installed, so they gave no constants: " +
                ", ".join(found.skipped))
    return None


def _kernel_type(catalog: TypeCatalog):
    def resolve(name: str) -> Optional[object]:
        kernel = catalog.kernel
        return kernel.find(name) if kernel is not None else None
    return resolve


__all__ = ["catalog_for", "predefined", "preprocess_program"]
