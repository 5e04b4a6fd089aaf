"""Where tracer keeps what it builds once and reuses: the merged kernel headers and the built
parser. One place, so every stage agrees on it."""

import os

DEFAULT_CACHE_DIR = "/var/cache/tracer"


def cache_dir() -> str:
    """TRACER_CACHE_DIR when set, else /var/cache/tracer."""
    return os.environ.get("TRACER_CACHE_DIR") or DEFAULT_CACHE_DIR
