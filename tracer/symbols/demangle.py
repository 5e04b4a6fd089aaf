"""C++ names made readable, as bpftrace shows user symbols when cpp_demangle is on (the default).

There is no demangler among tracer's Python dependencies, so this calls the one bpftrace's own
symbolizer (BCC) calls: ``__cxa_demangle`` from the C++ runtime, libstdc++, through ctypes, in
process. Without that library names stay mangled.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable, Optional

# BCC demangles only names that look mangled; anything else is shown as it is.
_MANGLED_PREFIXES = ("_Z", "___Z")


@functools.lru_cache(maxsize=None)
def _demangler() -> Optional[Callable[[bytes], Optional[str]]]:
    try:
        runtime = ctypes.CDLL(ctypes.util.find_library("stdc++") or "libstdc++.so.6")
        libc = ctypes.CDLL(None)
        cxa_demangle = runtime.__cxa_demangle
    except (OSError, AttributeError):
        return None
    cxa_demangle.restype = ctypes.c_void_p
    cxa_demangle.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.POINTER(ctypes.c_int)]
    free = libc.free
    free.argtypes = [ctypes.c_void_p]
    free.restype = None

    def demangle_bytes(mangled: bytes) -> Optional[str]:
        status = ctypes.c_int(0)
        result = cxa_demangle(mangled, None, None, ctypes.byref(status))
        if not result:
            return None
        try:
            if status.value != 0:
                return None
            raw = ctypes.string_at(result)
            return raw.decode("utf-8", errors="surrogateescape")
        finally:
            free(result)

    return demangle_bytes


def available() -> bool:
    """Whether C++ names can be demangled on this machine."""
    return _demangler() is not None


def demangle(name: str) -> str:
    """The readable form of a mangled C++ name; any other name, or one that fails to demangle,
    unchanged."""
    if not name.startswith(_MANGLED_PREFIXES):
        return name
    demangler = _demangler()
    if demangler is None:
        return name
    return demangler(name.encode("utf-8", errors="surrogateescape")) or name
