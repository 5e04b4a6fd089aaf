"""Symbols for addresses: the kernel's from /proc/kallsyms, user programs' from their ELF files,
written as bpftrace writes stack frames, ksym() and usym().

``Symbolizer`` is the entry point a run holds; the modules behind it:
  kernel.py      /proc/kallsyms, for ksym, kstack and kaddr
  user.py        /proc/PID/maps and the mapped files, for usym, ustack and uaddr
  elf.py         one ELF file's symbols (pyelftools)
  table.py       a sorted symbol table and its lookup
  cxxsort.py     std::sort's order, which decides between aliases as bpftrace does
  demangle.py    C++ names
  stacks.py      the text of one frame in each stack mode
  symbolizer.py  the per-run object with its memo
"""

from .symbolizer import Symbolizer

__all__ = ["Symbolizer"]
