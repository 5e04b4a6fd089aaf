"""One ELF file's symbols, read with pyelftools: address -> (name, offset) for user frames, and
name -> address for uaddr.

The table is gathered the way BCC gathers it for bpftrace, so that a frame names the symbol
bpftrace would: the symbols of a separate debug file come first (found by build id, or the
compressed MiniDebugInfo in .gnu_debugdata), then the file's own .dynsym and .symtab in section
order; every symbol with a name and a non-zero value is kept, whatever its type (see table.py for
how they are ordered).
"""

from __future__ import annotations

import io
import lzma
import os
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Optional

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from .table import SymbolTable

DEBUG_ROOT = "/usr/lib/debug"

# Anything pyelftools raises on a damaged or truncated file: such a file simply has no symbols,
# it must not end the run.
_UNREADABLE = (OSError, ELFError, ValueError, LookupError, TypeError, AttributeError,
               ConstructError)

# uaddr() looks a name up among objects, functions and indirect functions only (bpftrace 0.26;
# 0.17 took objects only). pyelftools calls STT_GNU_IFUNC by its generic number's name, STT_LOOS.
UADDR_TYPES = frozenset({"STT_OBJECT", "STT_FUNC", "STT_LOOS"})
FUNCTION_TYPES = frozenset({"STT_FUNC", "STT_LOOS"})


@dataclass(frozen=True)
class Segment:
    """A PT_LOAD segment: ``size`` bytes at ``offset`` in the file, loaded at ``vaddr``."""

    offset: int
    vaddr: int
    size: int


@dataclass(frozen=True)
class ElfSymbol:
    name: str
    value: int
    size: int
    kind: str  # pyelftools' name for the type, e.g. "STT_FUNC"


class ElfSymbols:
    """The symbol table of one ELF file plus what is needed to map a process's addresses into
    it. Built by ``read_elf_symbols``."""

    def __init__(self, elf_type: str, segments: tuple[Segment, ...],
                 text: Optional[tuple[int, int]], symbols: list[ElfSymbol],
                 own: dict[str, list[ElfSymbol]]):
        self.elf_type = elf_type
        self.segments = segments
        self.text = text  # (address, file offset) of .text, BCC's fallback for the load bias
        self.table = SymbolTable([(symbol.name, symbol.value, symbol.size) for symbol in symbols])
        self._own = own

    @property
    def is_executable(self) -> bool:
        """True for a fixed-address (non-PIE) executable, whose addresses need no translation."""
        return self.elf_type == "ET_EXEC"

    def file_address(self, file_offset: int) -> Optional[int]:
        """The link-time address of the byte at ``file_offset``, through the PT_LOAD segment
        holding it, else the .text section's bias; None when neither applies."""
        for segment in self.segments:
            if segment.offset <= file_offset < segment.offset + segment.size:
                return file_offset - segment.offset + segment.vaddr
        if self.text is not None:
            return file_offset - self.text[1] + self.text[0]
        return None

    def file_offset(self, address: int) -> Optional[int]:
        """Where the code at link-time ``address`` sits in the file (what a uprobe is placed
        by), through the PT_LOAD segment that loads it; None outside every segment."""
        for segment in self.segments:
            if segment.vaddr <= address < segment.vaddr + segment.size:
                return address - segment.vaddr + segment.offset
        return None

    def functions(self) -> dict[str, ElfSymbol]:
        """The file's own functions (indirect ones included) by name, the first of each name
        in the order the file lists them: what a uprobe can name."""
        found: dict[str, ElfSymbol] = {}
        for name, symbols in self._own.items():
            for symbol in symbols:
                if symbol.kind in FUNCTION_TYPES:
                    found[name] = symbol
                    break
        return found

    def lookup(self, address: int) -> Optional[tuple[str, int]]:
        """The symbol holding the link-time ``address``, as (name, offset)."""
        return self.table.lookup(address)

    def find(self, name: str, kinds: frozenset[str] = UADDR_TYPES) -> Optional[ElfSymbol]:
        """The first symbol of this file (debug files aside) called ``name`` of one of these
        types, in the order the file lists them."""
        for symbol in self._own.get(name, ()):
            if symbol.kind in kinds:
                return symbol
        return None


def read_elf_symbols(path: str, debug_root: str = DEBUG_ROOT) -> Optional[ElfSymbols]:
    """The symbols of the ELF file at ``path``; None when it is not a readable ELF file."""
    try:
        with open(path, "rb") as stream:
            return _read(stream, debug_root)
    except _UNREADABLE:
        return None


def read_elf_symbols_from_bytes(image: bytes) -> Optional[ElfSymbols]:
    """The symbols of an ELF image held in memory (the vDSO)."""
    try:
        return _read(io.BytesIO(image), None)
    except _UNREADABLE:
        return None


def _read(stream: BinaryIO, debug_root: Optional[str]) -> ElfSymbols:
    elf = ELFFile(stream)
    segments = tuple(Segment(seg["p_offset"], seg["p_vaddr"], seg["p_filesz"])
                     for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD")
    text_section = elf.get_section_by_name(".text")
    text = None if text_section is None else (text_section["sh_addr"], text_section["sh_offset"])
    own = list(_symbols(elf))
    symbols = _debug_symbols(elf, debug_root) + own
    by_name: dict[str, list[ElfSymbol]] = {}
    for symbol in own:
        by_name.setdefault(symbol.name, []).append(symbol)
    return ElfSymbols(elf["e_type"], segments, text, symbols, by_name)


def _symbols(elf: ELFFile) -> Iterator[ElfSymbol]:
    """Named symbols with a value, from every symbol table in section order."""
    for section in elf.iter_sections():
        if not isinstance(section, SymbolTableSection):
            continue
        if section["sh_type"] not in ("SHT_SYMTAB", "SHT_DYNSYM"):
            continue
        for symbol in section.iter_symbols():
            value = symbol["st_value"]
            if value == 0 or not symbol.name:
                continue
            yield ElfSymbol(symbol.name, value, symbol["st_size"], symbol["st_info"]["type"])


def _debug_symbols(elf: ELFFile, debug_root: Optional[str]) -> list[ElfSymbol]:
    """The symbols of the file's separate debug information, if there is any.

    BCC also tries .gnu_debuglink, but relative to the path it opened the file by, which is
    /proc/self/fd/N for a process's files, so that search never finds anything for bpftrace;
    it is left out here for the same result."""
    build_id = _build_id(elf) if debug_root is not None else None
    if build_id and len(build_id) > 2 and debug_root is not None:
        path = os.path.join(debug_root, ".build-id", build_id[:2], build_id[2:] + ".debug")
        try:
            with open(path, "rb") as stream:
                return list(_symbols(ELFFile(stream)))
        except _UNREADABLE:
            pass
    compressed = elf.get_section_by_name(".gnu_debugdata")
    if compressed is not None:
        try:
            return list(_symbols(ELFFile(io.BytesIO(lzma.decompress(compressed.data())))))
        except (lzma.LZMAError, *_UNREADABLE):
            pass
    return []


def _build_id(elf: ELFFile) -> Optional[str]:
    section = elf.get_section_by_name(".note.gnu.build-id")
    if section is None or not hasattr(section, "iter_notes"):
        return None
    for note in section.iter_notes():
        if note["n_type"] == "NT_GNU_BUILD_ID":
            return str(note["n_desc"])
    return None
