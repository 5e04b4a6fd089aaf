"""The constants a script's ``#include``s define, read with the system's C preprocessor.

A script that writes ``#include <linux/socket.h>`` wants ``AF_INET``. tracer does not read
headers itself: it asks cpp (``cpp -dM``, which lists every macro a translation unit ends up
with) and keeps the object-like macros whose value is an integer constant, evaluated there and
then (glibc's ``AF_INET`` is ``PF_INET``, which is ``2``: the result says ``"2"``).

Headers are looked for as bpftrace 0.17 and BCC look for them: in the kernel's headers first,
with the kernel's own flags (``-D__KERNEL__``, ``-include linux/kconfig.h``, the arch and
generated include directories, in Linux's $(LINUXINCLUDE) order), then in the system's
(/usr/include). The kernel's headers are the ones ``tracer.host.headers`` finds for BCC: the
running kernel's build tree, else the distribution's headers packages (bpftrace 0.17 itself
only looks in /lib/modules). All headers are read together, in the script's order, as C
would; when that fails they are added one at a time, and a header that cannot be read (not
installed, or not meant for that mode, like ``net/sock.h`` without kernel headers) is left out,
nothing taken from it, the others kept. A header no mode can read is reported in ``skipped``.
bpftrace 0.17 fails on such a header ("'net/sock.h' file not found").

Reading ``net/sock.h`` costs cpp about 0.1 s (700 files, 21000 macros) and their evaluation
0.3 s more, so results are cached under ``tracer.paths.cache_dir()``, keyed by the headers, the
flags and the preprocessor, and valid while every file cpp read (and every directory where a
skipped header could appear) is unchanged: a cached answer takes a few milliseconds. The cache
is only used in a directory of tracer's user that nobody else may write to, as the other
caches are.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from .. import paths
from ..host.headers import KernelTree, kernel_arch, kernel_tree
from .cexpr import macro_values
from .macros import VA_ARGS, FunctionMacro

FORMAT = "tracer-include-macros-1"  # changes whenever an entry's meaning does
CACHE_SUBDIR = "include-macros"
TIMEOUT = 60
# Preprocessors in order of preference: gcc's cpp is what scripts/setup installs.
PREPROCESSORS = (("cpp",), ("gcc", "-E"), ("clang", "-E"))
KERNEL_DEFINES = ("-D__KERNEL__", "-D__BPF_TRACING__", "-D__HAVE_BUILTIN_BSWAP16__",
                  "-D__HAVE_BUILTIN_BSWAP32__", "-D__HAVE_BUILTIN_BSWAP64__")
_DEFINE = re.compile(r"#define ([A-Za-z_][A-Za-z0-9_]*)(\([^)]*\))? ?(.*)")
AUTO = object()


@dataclass
class IncludedMacros:
    macros: dict[str, str] = field(default_factory=dict)  # name -> value, in decimal
    skipped: list[str] = field(default_factory=list)  # headers nothing was taken from
    problem: Optional[str] = None  # why nothing could be read at all


def include_macros(includes: Iterable, *, kernel=AUTO, include_dirs: Sequence[str] = (),
                   quote_dirs: Sequence[str] = (), use_cache: bool = True) -> dict[str, str]:
    """name -> integer value (decimal text) of the constants ``includes`` define. ``includes``
    are (name, angle, ...) as ``Preprocessed.includes`` has them. See ``read_includes``."""
    return read_includes(includes, kernel=kernel, include_dirs=include_dirs,
                         quote_dirs=quote_dirs, use_cache=use_cache).macros


def read_includes(includes: Iterable, *, kernel=AUTO, include_dirs: Sequence[str] = (),
                  quote_dirs: Sequence[str] = (), use_cache: bool = True) -> IncludedMacros:
    """The constants of ``includes`` and the headers left out. ``kernel``: the kernel headers
    to use (a ``KernelTree``, None for none; by default the machine's). ``include_dirs`` are
    searched first (-I), ``quote_dirs`` for ``#include "..."`` (the script's directory)."""
    headers = list(dict.fromkeys((inc[0], bool(inc[1])) for inc in includes))
    if not headers:
        return IncludedMacros()
    command = preprocessor()
    if command is None:
        return IncludedMacros(skipped=[name for name, _ in headers],
                              problem="no C preprocessor (cpp, gcc or clang) is installed")
    tree = kernel_tree() if kernel is AUTO else kernel
    modes = ([kernel_flags(tree)] if tree is not None else []) + [[]]
    common = [f"-I{d}" for d in include_dirs] + [f"-iquote{d}" for d in quote_dirs]
    modes = [common + flags for flags in modes]
    key = _key(command, modes, headers)
    cache = _cache_dir() if use_cache else None
    if cache is not None:
        found = _load(cache, key)
        if found is not None:
            return found
    result, watched = _read(command, modes, headers)
    if cache is not None:
        _store(cache, key, result, watched)
    return result


def kernel_flags(tree: KernelTree, arch: Optional[str] = None) -> list[str]:
    """The flags that make kernel headers readable: Linux's own $(LINUXINCLUDE) and
    $(USERINCLUDE) order, kconfig.h, and what bpftrace and BCC define."""
    arch = arch or kernel_arch()
    src, build = tree.source, tree.build
    return [f"-I{src}/arch/{arch}/include", f"-I{build}/arch/{arch}/include/generated",
            f"-I{src}/include", f"-I{build}/include", f"-I{src}/arch/{arch}/include/uapi",
            f"-I{build}/arch/{arch}/include/generated/uapi", f"-I{src}/include/uapi",
            f"-I{build}/include/generated/uapi", "-include",
            f"{src}/include/linux/kconfig.h", *KERNEL_DEFINES]


@functools.lru_cache(maxsize=1)
def preprocessor() -> Optional[tuple[str, ...]]:
    for command in PREPROCESSORS:
        path = shutil.which(command[0])
        if path:
            return (path, *command[1:])
    return None


# -- running cpp ------------------------------------------------------------------------------

def _read(command, modes, headers) -> tuple[IncludedMacros, dict]:
    """Each mode in turn reads what the ones before could not; the first mode's value of a
    macro wins."""
    raw: dict[str, tuple[Optional[str], str]] = {}  # every macro seen: name -> (params, body)
    wanted: dict[str, None] = {}  # names the headers define (not the compiler, not a flag)
    deps: set[str] = set()
    left = headers
    for flags in modes:
        if not left:
            break
        done, macros, files = _read_mode(command, flags, left)
        if macros is None:
            continue
        baseline = _baseline(command, tuple(flags))
        for name, value in macros.items():
            if baseline.get(name) != value:
                wanted.setdefault(name)
            raw.setdefault(name, value)
        deps |= files
        left = [h for h in left if h not in done]
    skipped = [name for name, _ in left]
    result = IncludedMacros(_constants(raw, wanted), skipped)
    watched = {path: _stamp(path) for path in deps}
    for name, _ in left:
        # Where the header would appear if it were installed later.
        for directory in _search_dirs(command, tuple(modes[0])):
            path = os.path.join(directory, os.path.dirname(name))
            watched[path] = _stamp(path)
    return result, watched


def _read_mode(command, flags, headers):
    """(headers read, their macros, files cpp read) in one mode: all together, or else one
    at a time, keeping those that can be read."""
    ok = _run(command, flags, headers)
    if ok is not None:
        return set(headers), *ok
    done: list = []
    last = None
    for header in headers:
        attempt = _run(command, flags, done + [header])
        if attempt is not None:
            done.append(header)
            last = attempt
    if last is None:
        return set(), None, set()
    return set(done), *last


def _run(command, flags, headers) -> Optional[tuple[dict, set]]:
    """cpp -dM over a file including ``headers``: its macros and the files it read, or None
    where it failed."""
    source = "".join(f"#include <{n}>\n" if angle else f'#include "{n}"\n'
                     for n, angle in headers)
    with tempfile.TemporaryDirectory(prefix="tracer-cpp-") as tmp:
        depfile = os.path.join(tmp, "deps")
        try:
            proc = subprocess.run([*command, "-dM", "-x", "c", *flags, "-MD", "-MF", depfile,
                                   "-MT", "x", "-"], input=source, capture_output=True,
                                  text=True, timeout=TIMEOUT, cwd="/")
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0:
            return None
        try:
            with open(depfile) as f:
                deps = f.read()
        except OSError:
            deps = ""
    files = {p for p in deps.replace("\\\n", " ").split()[1:] if p != "-"}
    return _parse_defines(proc.stdout), files


def _parse_defines(text: str) -> dict[str, tuple[Optional[str], str]]:
    macros = {}
    for line in text.splitlines():
        m = _DEFINE.match(line)
        if m:
            macros[m.group(1)] = (m.group(2), m.group(3).strip())
    return macros


@functools.lru_cache(maxsize=8)
def _baseline(command, flags) -> dict:
    """What cpp defines with no header at all (the compiler's own macros, the -D flags)."""
    found = _run(command, list(flags), [])
    return found[0] if found is not None else {}


@functools.lru_cache(maxsize=8)
def _search_dirs(command, flags) -> list[str]:
    dirs = [f[len(p):] for f in flags for p in ("-I", "-iquote") if f.startswith(p)]
    try:
        proc = subprocess.run([*command, "-v", "-x", "c", *flags, "-", "-o", os.devnull],
                              input="", capture_output=True, text=True, timeout=TIMEOUT,
                              cwd="/")
        listing = proc.stderr.split("search starts here:")[-1].split("End of search list.")[0]
        dirs += [line.strip() for line in listing.splitlines() if line.startswith(" ")]
    except (OSError, subprocess.SubprocessError):
        pass
    return list(dict.fromkeys(dirs))


# -- the constants ----------------------------------------------------------------------------

def _constants(raw: dict, wanted: Iterable[str]) -> dict[str, str]:
    """The wanted object-like macros that are integer constants -> their value."""
    macros = {name: _function(params, body) if params else body
              for name, (params, body) in raw.items()}
    return {name: str(value) for name, value in macro_values(macros, wanted).items()}


def _function(params: str, body: str) -> FunctionMacro:
    """`(a, b, ...)` as cpp -dM writes a function-like macro's parameters."""
    names = [p.strip() for p in params[1:-1].split(",") if p.strip()]
    variadic = bool(names) and names[-1].endswith("...")
    if variadic:
        names[-1] = names[-1][:-3].strip() or VA_ARGS
    return FunctionMacro(tuple(names), body, variadic)


# -- the cache --------------------------------------------------------------------------------

def _key(command, modes, headers) -> str:
    try:
        identity = os.stat(command[0]).st_mtime_ns
    except OSError:
        identity = 0
    text = json.dumps([FORMAT, list(command), identity, modes, headers])
    return hashlib.sha256(text.encode()).hexdigest()


def _stamp(path: str) -> list:
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [st.st_mtime_ns, st.st_size if stat.S_ISREG(st.st_mode) else 0]


def _cache_dir() -> Optional[str]:
    root = paths.cache_dir()
    directory = os.path.join(root, CACHE_SUBDIR)
    for path in (root, directory):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
        if paths.untrusted_directory(path):
            return None
    return directory


def _load(directory: str, key: str) -> Optional[IncludedMacros]:
    try:
        fd = os.open(os.path.join(directory, key[:40] + ".json"), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd) as f:
            if paths.untrusted(os.fstat(f.fileno()), directory=False):
                return None
            entry = json.load(f)
        if entry.get("key") != key:
            return None
        if any(_stamp(path) != stamp for path, stamp in entry["watched"].items()):
            return None
        return IncludedMacros(dict(entry["macros"]), list(entry["skipped"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store(directory: str, key: str, result: IncludedMacros, watched: dict) -> None:
    entry = {"key": key, "watched": watched, "macros": result.macros,
             "skipped": result.skipped}
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".entry-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, os.path.join(directory, key[:40] + ".json"))
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
