"""The compiled-program cache: running a program again skips clang.

An entry is a ``ProgramImage`` kept under a key made of everything the compiled instructions
depend on: the generated C, the compile flags, BCC's version and library, the running kernel
(release, build, BTF) and the kernel headers BCC would compile against. Anything else that
changes between runs (the -c child's pid, the start time) is patched in at load time and is not
part of the key.

An entry is code that root will load, so it is only trusted from a directory that belongs to
the user running tracer and that nobody else may write to (the parser cache's rule), from a file
of that same owner, and only when its checksum and its recorded key match. Anything else is
ignored, removed and replaced by a fresh compile: never loaded. The directory keeps at most
``MAX_ENTRIES`` entries and ``MAX_BYTES`` bytes; the least recently used go first.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from typing import Callable, Optional

from .. import paths
from .image import ImageError, ProgramImage

FORMAT = b"tracer-cache-1"  # changes whenever an entry's layout or its loading changes
MAX_ENTRIES = 256
MAX_BYTES = 64 << 20
SUFFIX = ".img"
DISABLE_VARIABLE = "TRACER_NO_CACHE"
BTF_FILE = "/sys/kernel/btf/vmlinux"
LIBBCC_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
               "/usr/lib", "/usr/local/lib")


def disabled_by_environment(environ=os.environ) -> bool:
    value = environ.get(DISABLE_VARIABLE, "")
    return value not in ("", "0")


class ProgramCache:
    def __init__(self, directory: str, notice: Callable[[str], None] = lambda m: None):
        self.directory = directory
        self.notice = notice

    @classmethod
    def open(cls, notice: Callable[[str], None], verbose: bool = False) -> Optional["ProgramCache"]:
        """The cache in tracer's cache directory, created if need be; None (and, with
        ``verbose``, a notice why) where it cannot be trusted."""
        say = notice if verbose else (lambda message: None)
        root = paths.cache_dir()
        directory = os.path.join(root, "programs")
        for path in (root, directory):
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                pass
            except OSError as err:
                say(f"no compiled-program cache: cannot create {path}: {err.strerror}")
                return None
            problem = paths.untrusted_directory(path)
            if problem:
                say(f"no compiled-program cache: {path} {problem}")
                return None
        return cls(directory, notice)

    # -- keys ---------------------------------------------------------------------------------

    def key(self, c_text: str, cflags: list[str], headers: str) -> str:
        digest = hashlib.sha256(FORMAT)
        for part in (c_text, "\0".join(cflags), headers, *environment_identity()):
            digest.update(part.encode("utf-8", "surrogateescape"))
            digest.update(b"\0\0")
        return digest.hexdigest()

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:40] + SUFFIX)

    # -- entries ------------------------------------------------------------------------------

    def get(self, key: str) -> Optional[ProgramImage]:
        """The image kept under ``key``, or None; an entry that fails any check is removed."""
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_BYTES + 1)
        except OSError:
            return None
        problem = paths.untrusted(info, directory=False)
        image = None
        if problem is None:
            try:
                image = _unwrap(data, key)
            except ImageError as err:
                problem = f"is damaged ({err})"
        if problem is not None:
            self.notice(f"ignoring the cached program {path}: it {problem}; compiling again")
            self._remove(path)
            return None
        try:
            os.utime(path)  # most recently used: the last to be evicted
        except OSError:
            pass
        return image

    def put(self, key: str, image: ProgramImage) -> None:
        """Keep ``image`` under ``key`` (atomically: a reader sees the old entry or the new).
        A cache that cannot be written is not an error: the run goes on without it."""
        path = self._path(key)
        temporary = f"{path}.{os.getpid()}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(_wrap(image.to_bytes(), key))
            os.replace(temporary, path)
        except OSError:
            self._remove(temporary)
            return
        self._evict()

    def _evict(self) -> None:
        entries = []
        try:
            with os.scandir(self.directory) as it:
                for entry in it:
                    if entry.name.endswith(SUFFIX):
                        st = entry.stat(follow_symlinks=False)
                        entries.append((st.st_mtime_ns, st.st_size, entry.path))
        except OSError:
            return
        entries.sort(reverse=True)  # newest first
        total = 0
        for count, (_, size, path) in enumerate(entries):
            total += size
            if count >= MAX_ENTRIES or total > MAX_BYTES:
                self._remove(path)

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass


# ---- what an entry is: a checksum, the key it was stored under, the image --------------------

ENTRY_MAGIC = b"tracer-program\n"


def _wrap(payload: bytes, key: str) -> bytes:
    body = key.encode() + b"\n" + payload
    return ENTRY_MAGIC + hashlib.sha256(body).digest() + body


def _unwrap(data: bytes, key: str) -> ProgramImage:
    if not data.startswith(ENTRY_MAGIC):
        raise ImageError("not a cache entry")
    start = len(ENTRY_MAGIC)
    checksum, body = data[start:start + 32], data[start + 32:]
    if hashlib.sha256(body).digest() != checksum:
        raise ImageError("its checksum does not match")
    stored_key, _, payload = body.partition(b"\n")
    if stored_key != key.encode():
        raise ImageError("it was stored for another program")
    return ProgramImage.from_bytes(payload)


# ---- what a compiled program depends on besides its C -----------------------------------------

_identity: Optional[tuple[str, ...]] = None


def environment_identity() -> tuple[str, ...]:
    """The compiler's and the kernel's identity: BCC's version and library file, the kernel's
    release and build, and a digest of its BTF."""
    global _identity
    if _identity is None:
        uname = os.uname()
        _identity = (bcc_identity(), uname.release, uname.version, uname.machine,
                     _btf_digest())
    return _identity


def bcc_identity() -> str:
    """BCC's version, read without importing BCC (which costs tens of milliseconds), and its
    library's size and time: a rebuilt libbcc of the same version still misses."""
    parts = []
    spec = importlib.util.find_spec("bcc")
    if spec is not None and spec.origin:
        try:
            with open(os.path.join(os.path.dirname(spec.origin), "version.py")) as f:
                parts.append(f.read().strip())
        except OSError:
            pass
    for directory in LIBBCC_DIRS:
        path = os.path.join(directory, "libbcc.so.0")
        try:
            st = os.stat(path)
        except OSError:
            continue
        parts.append(f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}")
        break
    return "|".join(parts) or "no bcc"


def _btf_digest() -> str:
    try:
        with open(BTF_FILE, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return "no btf"
