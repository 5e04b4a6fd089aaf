"""The text bpftrace writes for one stack frame, and for ksym()/usym(), in each stack mode.

Only the frame itself is made here; what goes around frames (the leading newline, the indent,
the tab of perf mode, each frame's newline) is the output format's business, since it differs
between print(), printf() and map keys.

  mode      kernel frame                    user frame
  bpftrace  name+offset                     name+offset
  perf      HEX name+offset                 HEX name+offset (MODULE)
  raw       HEX                             HEX

HEX is the address in lower-case hexadecimal without "0x"; MODULE the file's path as the
process's /proc/PID/maps shows it. A frame no symbol explains shows the address as C++ prints a
pointer ("0x" and lower-case hexadecimal; a null one as "0") in place of name+offset, and in perf
mode a user frame's module is then "[unknown]".
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

from .user import UserSymbol

MODES = ("bpftrace", "perf", "raw")

# An address the kernel side stores for a frame it could not unwind (bpftrace 0.26's DWARF
# unwinder); bpftrace prints this line in its place and stops.
UNWIND_FAILURE = (1 << 64) - 1
UNWIND_FAILURE_TEXT = "<unwind failure>"


def pointer_text(address: int) -> str:
    """An address as C++'s ``ostream << (void *)address`` writes it."""
    return f"{address:#x}" if address else "0"


def symbol_text(name: str, offset: int) -> str:
    return f"{name}+{offset}"


def kernel_symbol_name(address: int, found: Optional[tuple[str, int]]) -> str:
    """ksym(): the bare name, or the address."""
    return pointer_text(address) if found is None else found[0]


def user_symbol_name(address: int, found: Optional[UserSymbol]) -> str:
    """usym(): the bare name, or the address (also in perf mode: usym has no module)."""
    return pointer_text(address) if found is None else found.name


def _kernel_bpftrace(address: int, found: Optional[tuple[str, int]]) -> str:
    return pointer_text(address) if found is None else symbol_text(*found)


def _kernel_perf(address: int, found: Optional[tuple[str, int]]) -> str:
    return f"{address:x} {_kernel_bpftrace(address, found)}"


def _user_bpftrace(address: int, found: Optional[UserSymbol]) -> str:
    return pointer_text(address) if found is None else symbol_text(found.name, found.offset)


def _user_perf(address: int, found: Optional[UserSymbol]) -> str:
    if found is None:
        return f"{address:x} {pointer_text(address)} ([unknown])"
    return f"{address:x} {symbol_text(found.name, found.offset)} ({found.module})"


def _raw(address: int, found: object) -> str:
    return f"{address:x}"


KERNEL_FRAME: dict[str, Callable[[int, Optional[tuple[str, int]]], str]] = {
    "bpftrace": _kernel_bpftrace, "perf": _kernel_perf, "raw": _raw}
USER_FRAME: dict[str, Callable[[int, Optional[UserSymbol]], str]] = {
    "bpftrace": _user_bpftrace, "perf": _user_perf, "raw": _raw}


def check_mode(mode: str) -> None:
    if mode not in KERNEL_FRAME:
        raise ValueError(f"unknown stack mode {mode!r}; expected one of {', '.join(MODES)}")


def frame_addresses(ips: Iterable[int]) -> Iterator[Optional[int]]:
    """The addresses of a stack that are frames: up to the first zero (a stack map pads with
    zeros), with None in place of an unwind failure, which ends the stack."""
    for address in ips:
        if address == 0:
            return
        if address == UNWIND_FAILURE:
            yield None
            return
        yield address
