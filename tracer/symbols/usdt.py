"""The USDT probes an ELF file declares, read from its ``.note.stapsdt`` notes (pyelftools).

``<sys/sdt.h>`` (SystemTap's SDT format, which DTRACE_PROBE and STAP_PROBE emit) leaves one note
per probe site: name ``stapsdt``, type 3, and a descriptor holding three addresses (the probe's
pc, the link-time address of the ``.stapsdt.base`` section, and the probe's semaphore or 0), then
three NUL-terminated strings: provider, probe name and the argument specs (``-4@%edi 8@(%rsp)``).
The notes are not loaded, so a tool that moved the file's addresses after linking (prelink) left
them stale; the recorded base says by how much: every address moves by the distance between
``.stapsdt.base``'s real address and the recorded one.

Addresses become file offsets through the PT_LOAD segments, which is how the kernel places a
uprobe and finds a semaphore (``ref_ctr_offset``) in every process that maps the file.
Read-only: nothing here touches the machine.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO, Optional

from elftools.elf.elffile import ELFFile

from .elf import _UNREADABLE, Segment

NOTE_SECTION = ".note.stapsdt"
BASE_SECTION = ".stapsdt.base"
NOTE_NAME = "stapsdt"
# pyelftools names note types by the GNU table whatever the owner, so type 3 reads as
# NT_GNU_BUILD_ID; the owner's name is what says it is a probe.
NOTE_TYPES = (3, "NT_GNU_BUILD_ID")

# One argument spec: every run of non-blanks, except that a bracketed operand (aarch64's
# "[sp, 12]") may hold a blank.
ARG_SPEC_RE = re.compile(r"(?:[^\s\[]|\[[^\]]*\])+")


@dataclass(frozen=True)
class UsdtProbe:
    """One probe site of a file. A probe name can have several sites (a function inlined
    twice); each is a place of its own, with argument specs of its own."""

    provider: str
    name: str
    pc: int  # link-time address of the probe's instruction, base-adjusted
    semaphore: int  # link-time address of its semaphore (an unsigned short), 0 if none
    args: tuple[str, ...]  # the argument specs, in order: ("-4@%edi", "8@-16(%rbp)")
    pc_offset: Optional[int]  # where pc sits in the file; None outside every loaded segment
    semaphore_offset: Optional[int]  # where the semaphore sits in the file; None if none

    @property
    def full_name(self) -> str:
        return f"{self.provider}:{self.name}"


def read_usdt_probes(path: str) -> Optional[list[UsdtProbe]]:
    """The probe sites of the ELF file at ``path`` in note order ([] when it has none); None
    when it is not an ELF file that can be read."""
    try:
        with open(path, "rb") as stream:
            return _read(stream)
    except _UNREADABLE:
        return None


def read_usdt_probes_from_bytes(image: bytes) -> Optional[list[UsdtProbe]]:
    try:
        return _read(io.BytesIO(image))
    except _UNREADABLE:
        return None


def split_arg_specs(text: str) -> tuple[str, ...]:
    return tuple(ARG_SPEC_RE.findall(text))


def _read(stream: BinaryIO) -> list[UsdtProbe]:
    elf = ELFFile(stream)
    notes = elf.get_section_by_name(NOTE_SECTION)
    if notes is None or not hasattr(notes, "iter_notes"):
        return []
    base_section = elf.get_section_by_name(BASE_SECTION)
    real_base = None if base_section is None else base_section["sh_addr"]
    segments = tuple(Segment(seg["p_offset"], seg["p_vaddr"], seg["p_filesz"])
                     for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD")
    words = struct.Struct(("<" if elf.little_endian else ">") +
                          ("QQQ" if elf.elfclass == 64 else "III"))
    probes = []
    for note in notes.iter_notes():
        if note["n_name"] != NOTE_NAME or note["n_type"] not in NOTE_TYPES:
            continue
        desc = bytes(note["n_descdata"])
        if len(desc) < words.size:
            continue
        pc, recorded_base, semaphore = words.unpack_from(desc)
        strings = desc[words.size:].split(b"\0")
        if len(strings) < 3:
            continue
        provider, name, args = (s.decode("utf-8", "surrogateescape") for s in strings[:3])
        if real_base is not None and recorded_base:
            shift = real_base - recorded_base
            pc += shift
            semaphore = semaphore + shift if semaphore else 0
        probes.append(UsdtProbe(provider, name, pc, semaphore, split_arg_specs(args),
                                _file_offset(segments, pc),
                                _file_offset(segments, semaphore) if semaphore else None))
    return probes


def _file_offset(segments: tuple[Segment, ...], address: int) -> Optional[int]:
    # As ElfSymbols.file_offset, without reading the file's symbol tables to get here.
    for segment in segments:
        if segment.vaddr <= address < segment.vaddr + segment.size:
            return address - segment.vaddr + segment.offset
    return None
