"""Symbolizer: the one object a run holds to turn the kernel's raw addresses into bpftrace's
text (stacks, ksym, usym) and names into addresses (kaddr, uaddr).

Everything it works out is remembered for the rest of the run: a map with thousands of stack
keys, printed at exit, repeats the same return addresses over and over.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..values import Stack
from . import stacks
from .demangle import demangle
from .elf import ElfSymbol
from .kernel import KernelSymbols
from .user import UserSymbol, UserSymbols


class Symbolizer:
    """Symbols for one run. ``cpp_demangle`` follows bpftrace's config of that name."""

    def __init__(self, cpp_demangle: bool = True, kernel: Optional[KernelSymbols] = None,
                 user: Optional[UserSymbols] = None):
        self.cpp_demangle = cpp_demangle
        self.kernel = kernel if kernel is not None else KernelSymbols()
        self.user = user if user is not None else UserSymbols()
        self._kernel_found: dict[int, Optional[tuple[str, int]]] = {}
        self._user_found: dict[tuple[int, int], Optional[UserSymbol]] = {}
        self._kernel_frames: dict[tuple[int, str], str] = {}
        self._user_frames: dict[tuple[int, int, str], str] = {}

    def remember(self, pid: int) -> None:
        """Keep a living process's mappings for when it has gone (see UserSymbols.remember)."""
        self.user.remember(pid)

    # Resolution, remembered per address.

    def _kernel_symbol(self, address: int) -> Optional[tuple[str, int]]:
        if address not in self._kernel_found:
            self._kernel_found[address] = self.kernel.resolve(address)
        return self._kernel_found[address]

    def _user_symbol(self, pid: int, address: int) -> Optional[UserSymbol]:
        key = (pid, address)
        if key not in self._user_found:
            found = self.user.resolve(pid, address)
            if found is not None and self.cpp_demangle:
                found = UserSymbol(demangle(found.name), found.offset, found.module)
            self._user_found[key] = found
        return self._user_found[key]

    # Stacks.

    def kstack(self, ips: Sequence[int], mode: str = "bpftrace") -> Stack:
        """A kernel stack, innermost frame first."""
        def frame(address: int) -> str:
            return stacks.KERNEL_FRAME[mode](address, self._kernel_symbol(address))
        return self._stack(ips, mode, self._kernel_frames, (), frame)

    def ustack(self, pid: int, ips: Sequence[int], mode: str = "bpftrace") -> Stack:
        """A user stack of process ``pid``, innermost frame first."""
        def frame(address: int) -> str:
            found = None if mode == "raw" else self._user_symbol(pid, address)
            return stacks.USER_FRAME[mode](address, found)
        return self._stack(ips, mode, self._user_frames, (pid,), frame)

    @staticmethod
    def _stack(ips: Sequence[int], mode: str, texts: dict, prefix: tuple, frame) -> Stack:
        """The frames of a stack, each one's text made by ``frame(address)`` once and kept in
        ``texts`` under ``prefix + (address, mode)``."""
        stacks.check_mode(mode)
        frames = []
        for address in stacks.frame_addresses(ips):
            if address is None:
                frames.append(stacks.UNWIND_FAILURE_TEXT)
                continue
            key = (*prefix, address, mode)
            text = texts.get(key)
            if text is None:
                text = texts[key] = frame(address)
            frames.append(text)
        return Stack(frames=tuple(frames), mode=mode)

    # Single addresses.

    def ksym(self, address: int) -> str:
        """ksym(): the kernel function's bare name, or the address in hex."""
        return stacks.kernel_symbol_name(address, self._kernel_symbol(address))

    def usym(self, pid: int, address: int) -> str:
        """usym(): the user function's bare name in process ``pid``, or the address in hex."""
        return stacks.user_symbol_name(address, self._user_symbol(pid, address))

    def resolve_user(self, pid: int, address: int) -> Optional[UserSymbol]:
        """The user symbol (name demangled as configured, offset, module), or None."""
        return self._user_symbol(pid, address)

    # Names to addresses, at compile time.

    def kaddr(self, name: str) -> Optional[int]:
        """kaddr(): the kernel symbol's address, or None."""
        return self.kernel.address_of(name)

    def uaddr(self, binary: str, name: str) -> Optional[int]:
        """uaddr(): the symbol's link-time address in ``binary``, or None."""
        return self.user.address_of(binary, name)

    def uaddr_symbol(self, binary: str, name: str) -> Optional[ElfSymbol]:
        """The symbol uaddr() finds, with its size (uaddr's pointer type depends on it)."""
        return self.user.symbol_of(binary, name)
