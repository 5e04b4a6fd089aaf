"""Where tracer keeps what it builds once and reuses: the merged kernel headers and the built
parser. One place, so every stage agrees on it."""

import os
import stat
from typing import Optional

DEFAULT_CACHE_DIR = "/var/cache/tracer"


def cache_dir() -> str:
    """TRACER_CACHE_DIR when set, else /var/cache/tracer."""
    return os.environ.get("TRACER_CACHE_DIR") or DEFAULT_CACHE_DIR


def untrusted_directory(path: str) -> Optional[str]:
    """Why a cache directory cannot be trusted with what root will load from it, or None: it
    must be a directory (not a link to one) of the user running tracer that nobody else may
    write to."""
    try:
        st = os.lstat(path)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    return untrusted(st, directory=True)


def untrusted(st: os.stat_result, directory: bool) -> Optional[str]:
    """Why a cache file or directory, as ``stat`` describes it, cannot be trusted, or None."""
    if directory and not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if not directory and not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_uid != os.geteuid():
        return f"belongs to uid {st.st_uid}, not to uid {os.geteuid()}"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "may be written by others"
    return None
