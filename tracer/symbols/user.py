"""User symbols: which function of which file a process's address falls in, and uaddr's
name -> address in a binary.

A process's executable mappings come from /proc/PID/maps. The file behind a mapping is opened as
the process sees it, through /proc/PID/root (so a process in a container resolves), else by its
plain path. Its symbols (elf.py) are read once per file, keyed by the file's identity, so that
all processes running one binary share one table. A process's mappings are kept and read again
only when an address falls outside all of them, since the process may have mapped a library
since. Addresses no file explains are looked up in the process's perf map (/tmp/perf-PID.map,
written by JIT compilers), as bpftrace does. A process that is gone, and was never seen alive,
resolves to nothing; the caller prints the bare address as bpftrace does.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from typing import Optional

from .elf import DEBUG_ROOT, ElfSymbol, ElfSymbols, read_elf_symbols, read_elf_symbols_from_bytes
from .table import SymbolTable

VDSO = "[vdso]"

# Mapping names that are not files, which BCC skips (the vDSO it handles apart).
_NOT_FILES = ("//anon", "/dev/zero", "/anon_hugepage", "[stack", "/SYSV", "[heap]", "[vsyscall]")


@dataclass(frozen=True)
class Mapping:
    """One executable mapping of /proc/PID/maps."""

    start: int
    end: int
    offset: int
    inode: int
    path: str


@dataclass(frozen=True)
class UserSymbol:
    """A resolved user address: the symbol, the distance into it, and the module as bpftrace's
    perf mode names it (the path as /proc/PID/maps shows it, "[vdso]", or the perf map)."""

    name: str
    offset: int
    module: str


def parse_maps(text: str) -> list[Mapping]:
    """The executable, file-backed mappings of a /proc/PID/maps text, in its order."""
    mappings = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or len(fields[1]) < 3 or fields[1][2] != "x":
            continue
        path = fields[5].strip()
        if not path or path.startswith(_NOT_FILES):
            continue
        low, _, high = fields[0].partition("-")
        try:
            mappings.append(Mapping(int(low, 16), int(high, 16), int(fields[2], 16),
                                    int(fields[4]), path))
        except ValueError:
            continue
    return mappings


class _Process:
    """What is known of one process: its executable mappings, sorted by address, and which
    program it was running then (``exe``, to notice an exec)."""

    def __init__(self, mappings: list[Mapping], exe: Optional[tuple[int, int]]):
        self.exe = exe
        self.mappings = sorted(mappings, key=lambda mapping: mapping.start)
        self.starts = [mapping.start for mapping in self.mappings]

    def mapping_at(self, address: int) -> Optional[Mapping]:
        index = bisect.bisect_right(self.starts, address) - 1
        if index >= 0 and address < self.mappings[index].end:
            return self.mappings[index]
        return None


class UserSymbols:
    """User symbol lookups for one run, with their caches. ``proc`` is procfs' mount point.

    bpftrace (through BCC, 0.26 and earlier) never names a frame in the vDSO: BCC looks for the
    name "[vdso]" but is handed "/proc/PID/root[vdso]", so it prints the bare address. That is
    the default here too; ``resolve_vdso`` names such frames from the vDSO's own symbols."""

    def __init__(self, proc: str = "/proc", debug_root: str = DEBUG_ROOT,
                 resolve_vdso: bool = False):
        self._proc = proc
        self._debug_root = debug_root
        self._resolve_vdso = resolve_vdso
        self._processes: dict[int, _Process] = {}
        self._tables: dict[tuple[int, int, int, int], Optional[ElfSymbols]] = {}
        self._perf_maps: dict[tuple[str, int, int], SymbolTable] = {}
        self._vdso: Optional[ElfSymbols] = None
        self._vdso_read = False

    # Processes.

    def _read_process(self, pid: int) -> Optional[_Process]:
        exe = self._exe(pid)
        try:
            with open(f"{self._proc}/{pid}/maps", encoding="utf-8",
                      errors="surrogateescape") as maps:
                text = maps.read()
        except OSError:
            return None
        process = _Process(parse_maps(text), exe)
        self._processes[pid] = process
        return process

    def remember(self, pid: int) -> None:
        """Read ``pid``'s mappings now, while it lives, so that its addresses still resolve
        after it has exited (a -c command that ends before the maps are printed)."""
        self._read_process(pid)

    def _exe(self, pid: int) -> Optional[tuple[int, int]]:
        """The identity of the program ``pid`` runs; None once it is gone."""
        try:
            status = os.stat(f"{self._proc}/{pid}/exe")
        except OSError:
            return None
        return status.st_dev, status.st_ino

    def mapping_at(self, pid: int, address: int) -> Optional[Mapping]:
        """The executable mapping of ``pid`` holding ``address``. The maps are read again when
        the known ones do not hold it, or the process has since exec'd another program (as BCC
        notices it, by /proc/PID/exe); a process that is gone keeps the maps last seen."""
        process = self._processes.get(pid)
        if process is not None:
            mapping = process.mapping_at(address)
            exe = self._exe(pid)
            if mapping is not None and (exe is None or exe == process.exe):
                return mapping
        process = self._read_process(pid)
        if process is None:
            known = self._processes.get(pid)
            return None if known is None else known.mapping_at(address)
        return process.mapping_at(address)

    # Files.

    def table_for(self, pid: int, mapping: Mapping) -> Optional[ElfSymbols]:
        """The symbols of the file behind ``mapping`` of process ``pid``."""
        return self.module_of(pid, mapping)[0]

    def module_of(self, pid: int, mapping: Mapping) -> tuple[Optional[ElfSymbols], str]:
        """The symbols of the file behind ``mapping``, and the module name bpftrace shows for
        it: the path in /proc/PID/maps, except for a memfd file, named by the process's file
        descriptor on it (/proc/PID/fd/N) as BCC names it."""
        if not mapping.path.startswith("/"):
            # Made by the kernel: the vDSO (see resolve_vdso), or one such as "[uprobes]".
            vdso = mapping.path == VDSO and self._resolve_vdso
            return (self._own_vdso() if vdso else None), mapping.path
        descriptor = self._memfd_descriptor(pid, mapping) if "/memfd:" in mapping.path else None
        if descriptor is not None:
            return self.table_at(descriptor), descriptor
        # A path shown with " (deleted)" no longer opens; BCC then finds no symbols either.
        table = (self.table_at(f"{self._proc}/{pid}/root{mapping.path}")
                 or self.table_at(mapping.path))
        return table, mapping.path

    def table_at(self, path: str) -> Optional[ElfSymbols]:
        """The symbols of the ELF file at ``path``, shared by every path naming the same file
        version (device, inode, modification time and size)."""
        try:
            status = os.stat(path)
        except OSError:
            return None
        key = (status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)
        if key not in self._tables:
            self._tables[key] = read_elf_symbols(path, self._debug_root)
        return self._tables[key]

    def _memfd_descriptor(self, pid: int, mapping: Mapping) -> Optional[str]:
        """A file descriptor of ``pid`` open on the memfd file mapped, as BCC finds it."""
        directory = f"{self._proc}/{pid}/fd"
        try:
            names = os.listdir(directory)
        except OSError:
            return None
        for name in names:
            path = f"{directory}/{name}"
            try:
                if os.stat(path).st_ino == mapping.inode:
                    return path
            except OSError:
                continue
        return None

    def _own_vdso(self) -> Optional[ElfSymbols]:
        """The vDSO's symbols. Every process maps the same vDSO image, so this reads tracer's own
        copy from memory, as BCC does."""
        if not self._vdso_read:
            self._vdso_read = True
            image = _read_own_vdso()
            self._vdso = None if image is None else read_elf_symbols_from_bytes(image)
        return self._vdso

    # Perf maps.

    def _perf_map_lookup(self, pid: int, address: int) -> Optional[UserSymbol]:
        """``address`` in the perf map of ``pid``: first the one in the process's own /tmp
        (named by its pid in its own namespace), else the one in ours."""
        candidates = [(f"/tmp/perf-{self._namespace_pid(pid)}.map",
                       f"{self._proc}/{pid}/root/tmp/perf-{self._namespace_pid(pid)}.map"),
                      (f"/tmp/perf-{pid}.map", f"/tmp/perf-{pid}.map")]
        for name, path in candidates:
            table = self._perf_map(path)
            if table is not None:
                found = table.lookup(address)
                return None if found is None else UserSymbol(found[0], found[1], name)
        return None

    def _perf_map(self, path: str) -> Optional[SymbolTable]:
        try:
            status = os.stat(path)
        except OSError:
            return None
        key = (path, status.st_mtime_ns, status.st_size)
        if key not in self._perf_maps:
            try:
                with open(path, encoding="utf-8", errors="surrogateescape") as lines:
                    self._perf_maps[key] = SymbolTable(parse_perf_map(lines.read()))
            except OSError:
                return None
        return self._perf_maps[key]

    def _namespace_pid(self, pid: int) -> int:
        """The pid of ``pid`` inside its own pid namespace (the last NStgid number)."""
        try:
            with open(f"{self._proc}/{pid}/status", encoding="utf-8") as status:
                for line in status:
                    if line.startswith("NStgid:"):
                        return int(line.split()[-1])
        except (OSError, ValueError, IndexError):
            pass
        return pid

    # Lookups.

    def resolve(self, pid: int, address: int) -> Optional[UserSymbol]:
        """The symbol of ``address`` in process ``pid``, or None."""
        mapping = self.mapping_at(pid, address)
        if mapping is not None:
            found = self._resolve_in(pid, mapping, address)
            if found is not None:
                return found
        return self._perf_map_lookup(pid, address)

    def _resolve_in(self, pid: int, mapping: Mapping, address: int) -> Optional[UserSymbol]:
        table, module = self.module_of(pid, mapping)
        if table is None:
            return None
        if table.is_executable:
            file_address: Optional[int] = address
        else:
            # A shared object or PIE: from the mapping's place in the file to the address the
            # linker gave that place.
            file_address = table.file_address(address - mapping.start + mapping.offset)
        if file_address is None:
            return None
        found = table.lookup(file_address)
        return None if found is None else UserSymbol(found[0], found[1], module)

    def symbol_of(self, binary: str, name: str) -> Optional[ElfSymbol]:
        """The symbol ``name`` in the file ``binary`` as uaddr() finds it, or None."""
        table = self.table_at(binary)
        return None if table is None else table.find(name)

    def address_of(self, binary: str, name: str) -> Optional[int]:
        """The link-time address of ``name`` in ``binary`` (what uaddr() compiles to)."""
        symbol = self.symbol_of(binary, name)
        return None if symbol is None else symbol.value


def parse_perf_map(text: str) -> list[tuple[str, int, int]]:
    """A perf map's lines "START SIZE NAME" (hexadecimal numbers) as (name, start, size)."""
    symbols = []
    for line in text.splitlines():
        fields = line.split(None, 2)
        if len(fields) < 3:
            continue
        try:
            start, size = int(fields[0], 16), int(fields[1], 16)
        except ValueError:
            continue
        if start:
            symbols.append((fields[2], start, size))
    return symbols


def _read_own_vdso(maps_path: str = "/proc/self/maps",
                   memory_path: str = "/proc/self/mem") -> Optional[bytes]:
    try:
        with open(maps_path, encoding="utf-8") as maps:
            found = [mapping for mapping in _all_mappings(maps.read()) if mapping[2] == VDSO]
        if not found:
            return None
        start, end, _ = found[0]
        with open(memory_path, "rb", buffering=0) as memory:
            memory.seek(start)
            return memory.read(end - start)
    except (OSError, ValueError, OverflowError):
        return None


def _all_mappings(text: str) -> list[tuple[int, int, str]]:
    mappings = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        low, _, high = fields[0].partition("-")
        mappings.append((int(low, 16), int(high, 16), fields[5].strip() if len(fields) > 5 else ""))
    return mappings


_default = UserSymbols()


def resolve(pid: int, address: int) -> Optional[UserSymbol]:
    """The symbol of ``address`` in process ``pid``, through a shared default cache."""
    return _default.resolve(pid, address)


def address_of(binary: str, name: str) -> Optional[int]:
    """The link-time address of ``name`` in ``binary`` (uaddr), or None."""
    return _default.address_of(binary, name)

