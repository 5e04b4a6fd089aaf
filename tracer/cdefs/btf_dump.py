"""The C definitions `-lv 'struct X'` lists, byte for byte as bpftrace 0.17 prints them.

libbpf's btf_dump writes the C (tab indented, `long: 64;` padding, `long unsigned int`). What
bpftrace 0.17 adds, and what this module reproduces (facts observed on bpftrace 0.17):

* It dumps every named struct, union and enum (BTF_KIND_ENUM only, not ENUM64) of each BTF
  object (vmlinux, then each module's own types) in id order through one dumper per object, so
  each type's dependencies come first and nothing is emitted twice; libbpf renames a second
  type of the same name to `name___2`.
* It cuts that text into definitions: one starts at a line ending in `{` (outside any
  definition) and ends at the first line that is exactly `};`. A typedef of an anonymous struct
  (`typedef struct {` ... `} file_ref_t;`) or a packed or aligned struct does not end there, so
  it runs on into the next definitions, which then never start a definition of their own:
  bpftrace prints nothing for `struct file` on Linux 6.18, and prints the dependencies that
  follow a swallowing definition along with it.
* The definitions are sorted (byte order, duplicates once) and matched against the pattern
  with `" *{*}*"` appended, where `*` matches any run of characters and nothing else is
  special; each match is printed followed by a newline, so a blank line follows every `};`.
  A name that matches nothing prints nothing (and bpftrace exits 0).
"""

from __future__ import annotations

import functools
from typing import Iterator, Optional, Union

from ..host.btf import ENUM, ENUM64, STRUCT, UNION, Btf
from .btf_types import BtfTypes, kernel_types

_LISTED_KINDS = {STRUCT, UNION, ENUM}  # what bpftrace 0.17 dumps for listings
_KINDS_BY_NAME = {"struct": (STRUCT,), "union": (UNION,), "enum": (ENUM, ENUM64)}
_DEFINITION_TAIL = " *{*}*"  # appended to the pattern: the definition's body follows the name

Source = Union[BtfTypes, Btf, None]


def c_definitions(pattern: str, source: Source = None) -> str:
    """Everything `bpftrace -lv PATTERN` prints for a struct, union or enum pattern
    ("struct task_*", "enum pid_type"); "" when nothing matches."""
    # bpftrace hands the definitions to its matcher joined by "$", so a "$" inside one (none
    # in C, but BTF names are not checked) splits it into pieces matched on their own.
    matches = sorted({piece for definition in _all_definitions(source)
                      for piece in definition.split("$")
                      if piece and _wildcard_match(pattern + _DEFINITION_TAIL, piece)})
    return "".join(match + "\n" for match in matches)


def c_definition(source: Source, name: str, exact: bool = True) -> Optional[str]:
    """What `bpftrace -lv 'struct cfs_rq'` prints for one type ("struct X", "union X",
    "enum X"), or None where it prints nothing. With ``exact=False``: libbpf's definition of
    the type alone, as bpftrace would print it if it did not run definitions together."""
    if exact:
        return c_definitions(name, source) or None
    kind_name, _, bare = name.partition(" ")
    kinds = _KINDS_BY_NAME.get(kind_name, ()) if bare else ()
    for btf in _btfs(source):  # vmlinux first: the modules are only read if it lacks the type
        for kind in kinds:
            type_id = btf.find(bare, kind)
            if type_id:
                return _alone(btf, type_id, name)
    return None


def _alone(btf: Btf, type_id: int, name: str) -> Optional[str]:
    # A fresh dumper writes the type's dependencies and then the type: keep the type's part,
    # which starts at the last line that opens a definition of it.
    text = btf.dump_c([type_id])
    header = f"{name} {{\n"
    start = text.rfind("\n" + header)
    start = start + 1 if start >= 0 else (0 if text.startswith(header) else -1)
    return text[start:].rstrip("\n") + "\n\n" if start >= 0 else None


def _btfs(source: Source) -> Iterator[Btf]:
    if source is None:
        source = kernel_types()
    if isinstance(source, BtfTypes):
        yield source.btf
        yield from source.modules()
    elif source is not None:
        yield source


def _all_definitions(source: Source) -> set[str]:
    definitions: set[str] = set()
    for btf in _btfs(source):
        definitions |= _definitions(btf)
    return definitions


@functools.lru_cache(maxsize=16)
def _definitions(btf: Btf) -> frozenset[str]:
    """One BTF object's definitions, cut from one dump of all its named types as bpftrace
    cuts them (see the module's notes)."""
    listed = [type_id for type_id, kind in btf.scan.named_ids if kind in _LISTED_KINDS]
    definitions, current, inside = set(), [], False
    for line in btf.dump_c(listed).split("\n"):
        if inside:
            current.append(line)
            if line == "};":
                definitions.add("\n".join(current) + "\n")
                current, inside = [], False
        elif line.endswith("{"):
            current, inside = [line], True
    return frozenset(definitions)


def _wildcard_match(pattern: str, text: str) -> bool:
    """bpftrace's wildcard match: the parts between `*`s are found in order, each at its
    first place after the last; the first part must begin the text unless the pattern begins
    with `*`, and the last must end it unless the pattern ends with `*`."""
    parts = [part for part in pattern.split("*") if part]
    if not parts:
        return True
    if not pattern.startswith("*") and not text.startswith(parts[0]):
        return False
    position = 0
    for part in parts:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return pattern.endswith("*") or position == len(text)
