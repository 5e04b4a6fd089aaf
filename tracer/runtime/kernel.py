"""Prepare the kernel side before a BPF program is compiled and attached.

Everything here runs at tracer start-up, as root, so that nobody has to do a manual step first.
The facts it copes with (measured on the project's machines, see shared/kernel.md):

* Loading BPF programs needs root (CAP_BPF + CAP_PERFMON at least; we simply require root).
* tracefs is not mounted at boot on some machines. Tracepoints, uprobes and BCC's trace_pipe all
  go through it, so we mount it on /sys/kernel/tracing (and debugfs on /sys/kernel/debug, where
  older tools and BCC's fallbacks look for ``tracing/``).
* BCC compiles C with its embedded clang against kernel headers. The running kernel may have no
  headers at all (no /lib/modules/$(uname -r)/build, no CONFIG_IKHEADERS). Distribution headers
  for another kernel version work for what tracer generates, but Debian and Ubuntu split them into
  a shared half and a per-flavour half that BCC cannot combine by itself. We merge the two into a
  cached tree of symlinks and point BCC_KERNEL_SOURCE at it. Struct layouts in those headers are
  the other kernel's, so anything that reads kernel structs must take offsets from BTF.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Optional

from tracer import paths
from tracer.diagnostics import TracerError
from tracer.host import tracefs as host_tracefs
# Finding headers is read-only and shared with tracer.cdefs (a script's #include); building
# the merged tree they may need is this module's. The names stay importable from here.
from tracer.host.headers import (DEFAULT_MODULES_DIR, DEFAULT_USR_SRC,  # noqa: F401
                                 HeaderCandidate, bcc_default_headers, choose_headers,
                                 find_header_candidates)
from tracer.host.tracefs import read_mounts

Notice = Callable[[str], None]

# With CONFIG_IKHEADERS the kernel carries its own headers; BCC unpacks them by itself.
KHEADERS_ARCHIVE = "/sys/kernel/kheaders.tar.xz"
_bcc_default_headers = bcc_default_headers

NO_HEADERS_HINT = (
    "install linux-headers-$(uname -r) or your distribution's generic headers "
    "(linux-headers-amd64 on Debian, linux-headers-generic on Ubuntu); scripts/setup does this; "
    "in a container, bind the host's in (-v /lib/modules:/lib/modules:ro "
    "-v /usr/src:/usr/src:ro)"
)


def require_root() -> None:
    if os.geteuid() != 0:
        raise TracerError("tracer needs root to load BPF programs", hint="run it with sudo or as root")


# ---------------------------------------------------------------------------------------------
# tracefs

_tracefs_cache: Optional[str] = None


def _sys_mount(source: str, target: str, fstype: str) -> None:
    """mount(2) through libc; falls back to the mount command (e.g. if libc cannot be loaded)."""
    first_error: Optional[str] = None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                               ctypes.c_ulong, ctypes.c_void_p]
        if libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None) == 0:
            return
        err = ctypes.get_errno()
        first_error = f"mount(2): {os.strerror(err)}"
        if err == errno.EBUSY:
            # Someone (a concurrent tracer run) mounted it between our check and our call.
            return
    except (OSError, AttributeError) as e:
        first_error = f"mount(2) via libc: {e}"
    try:
        proc = subprocess.run(["mount", "-t", fstype, source, target],
                              capture_output=True, text=True)
    except OSError as e:
        raise OSError(f"{first_error}; mount command: {e}") from None
    if proc.returncode != 0:
        raise OSError(f"{first_error}; mount command: {proc.stderr.strip() or proc.returncode}")


def tracefs_path(notice: Notice, *, mounts_file: str = "/proc/mounts",
                 sys_kernel: str = "/sys/kernel",
                 mount: Callable[[str, str, str], None] = _sys_mount) -> str:
    """The directory where tracefs is mounted, mounting it first if nothing is.

    The answer is cached for the life of the process (mounts do not go away under us).
    """
    global _tracefs_cache
    if _tracefs_cache is not None:
        return _tracefs_cache

    tracing = os.path.join(sys_kernel, "tracing")
    debug = os.path.join(sys_kernel, "debug")
    debug_tracing = os.path.join(debug, "tracing")

    mounts = read_mounts(mounts_file)
    for path in (tracing, debug_tracing):
        if mounts.get(path) == "tracefs":
            _tracefs_cache = path
            return path

    # debugfs first: with it mounted, older consumers that only know debug/tracing (the kernel
    # automounts tracefs there) work too. It is a convenience, so failing to mount it (kernel
    # lockdown forbids debugfs but allows tracefs) is not fatal.
    if mounts.get(debug) != "debugfs" and os.path.isdir(debug):
        try:
            mount("nodev", debug, "debugfs")
            notice(f"mounted debugfs on {debug}")
        except OSError as e:
            notice(f"could not mount debugfs on {debug} ({e}); continuing without it")

    if os.path.isdir(tracing):
        target = tracing
        try:
            mount("nodev", tracing, "tracefs")
        except OSError as e:
            by_hand = f"mount it by hand: mount -t tracefs nodev {tracing}"
            if os.geteuid() != 0:  # what "Operation not permitted" means here
                by_hand = f"only root can mount it: run tracer with sudo or as root, or {by_hand}"
            raise TracerError(
                f"tracefs is not mounted and mounting it on {tracing} failed: {e}",
                hint=by_hand,
            ) from None
        notice(f"mounted tracefs on {tracing}")
    else:
        # Kernels before 4.1 have no /sys/kernel/tracing; tracefs then lives in debugfs only.
        target = debug_tracing

    mounts = read_mounts(mounts_file)
    if mounts.get(target) != "tracefs" and not os.path.isdir(os.path.join(target, "events")):
        raise TracerError(
            f"tracefs is not available: nothing usable is mounted on {target}",
            hint=f"mount it by hand: mount -t tracefs nodev {tracing}  "
                 f"(or mount -t debugfs nodev {debug})",
        )
    _tracefs_cache = target
    return target


CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def private_tracefs() -> None:
    """For a dry run (-d): where tracefs is not mounted, mount it in a mount namespace of this
    process's own, so that tracepoints can be expanded and checked while the machine stays as
    it was. Without root, or where that fails, nothing is done and reading tracefs says why."""
    if host_tracefs.mounted() is not None or os.geteuid() != 0:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                               ctypes.c_ulong, ctypes.c_void_p]
        if libc.unshare(CLONE_NEWNS) != 0:
            return
        # Mounts made from now on must not propagate back to the machine's namespace.
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            return
        target = host_tracefs.TRACING
        if libc.mount(b"nodev", target.encode(), b"tracefs", 0, None) == 0:
            host_tracefs.use(target)
    except (OSError, AttributeError):
        return


# ---------------------------------------------------------------------------------------------
# kernel headers

@dataclass(frozen=True)
class HeaderInfo:
    path: str  # the directory BCC compiles against
    description: str  # where it came from, for messages and `tracer doctor`
    merged: bool  # True when it is a merged tree tracer built in its cache


def _link_tree(src: str, dst: str) -> None:
    """Fill ``dst`` with symlinks to every file under ``src`` (``cp -as --remove-destination``).

    Directories are recreated; anything else, including symlinks to directories (Debian's
    ``scripts -> ../../lib/linux-kbuild-*/scripts``), becomes a symlink to the source entry, so
    relative links resolve where they were written. An entry already in ``dst`` is replaced, so
    the second half merged wins.
    """
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_dir(follow_symlinks=False):
            if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
                os.unlink(target)
            if not os.path.lexists(target):
                os.mkdir(target, 0o755)
            _link_tree(entry.path, target)
        else:
            if os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
            os.symlink(entry.path, target)


def _cleanup_stale_builds(root: str, name: str, max_age: float = 3600.0) -> None:
    # A run killed mid-build leaves its temporary directory behind; drop old ones.
    now = time.time()
    try:
        with os.scandir(root) as it:
            for entry in it:
                if entry.name.startswith(f".{name}.") and entry.name.endswith(".tmp"):
                    try:
                        if now - entry.stat(follow_symlinks=False).st_mtime > max_age:
                            shutil.rmtree(entry.path, ignore_errors=True)
                    except OSError:
                        pass
    except OSError:
        pass


def merged_headers_tree(cand: HeaderCandidate, cache_dir: str) -> tuple[str, bool]:
    """The merged tree for ``cand`` under ``cache_dir``/kernel-headers; (path, built_now).

    Built in a temporary sibling and renamed into place, so a concurrent run sees either no
    tree or a complete one; if two runs race, the loser discards its copy and uses the winner's.
    """
    root = os.path.join(cache_dir, "kernel-headers")
    final = os.path.join(root, cand.name)
    if os.path.isdir(final):
        return final, False
    try:
        os.makedirs(root, mode=0o755, exist_ok=True)
        _cleanup_stale_builds(root, cand.name)
        tmp = tempfile.mkdtemp(prefix=f".{cand.name}.", suffix=".tmp", dir=root)
    except OSError as e:
        raise TracerError(f"cannot create the kernel headers cache in {root}: {e}",
                          hint="set TRACER_CACHE_DIR to a writable directory") from None
    try:
        os.chmod(tmp, 0o755)
        _link_tree(os.path.abspath(cand.common_dir), tmp)
        _link_tree(os.path.abspath(cand.flavour_dir), tmp)
        try:
            os.rename(tmp, final)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY) and os.path.isdir(final):
                shutil.rmtree(tmp, ignore_errors=True)
                return final, False
            raise
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise TracerError(f"cannot build the merged kernel headers tree {final}: {e}",
                          hint="set TRACER_CACHE_DIR to a writable directory") from None
    return final, True


def ensure_kernel_headers(notice: Notice, verbose: bool = False, *,
                          usr_src: str = DEFAULT_USR_SRC,
                          cache_dir: Optional[str] = None,
                          modules_dir: str = DEFAULT_MODULES_DIR,
                          release: Optional[str] = None,
                          kheaders: str = KHEADERS_ARCHIVE) -> HeaderInfo:
    """Make sure BCC will find kernel headers, setting BCC_KERNEL_SOURCE when it must."""
    release = release or os.uname().release

    env_source = os.environ.get("BCC_KERNEL_SOURCE")
    if env_source:
        if os.path.isdir(env_source):
            return HeaderInfo(env_source, f"BCC_KERNEL_SOURCE={env_source}", merged=False)
        notice(f"BCC_KERNEL_SOURCE={env_source} is not a directory; ignoring it")
        del os.environ["BCC_KERNEL_SOURCE"]

    own = _bcc_default_headers(modules_dir, release)
    if own:
        return HeaderInfo(own, f"headers for the running kernel in {own}", merged=False)
    if os.path.isfile(kheaders):
        return HeaderInfo(kheaders, "the kernel's own headers (CONFIG_IKHEADERS)", merged=False)

    cand = choose_headers(find_header_candidates(usr_src), release)
    if cand is None:
        raise TracerError(f"no kernel headers were found for the running kernel {release} "
                          f"(nothing in {modules_dir}/{release}/build, no usable "
                          f"linux-headers-* in {usr_src})", hint=NO_HEADERS_HINT)

    exact = cand.name == f"linux-headers-{release}"
    what = (f"kernel {release} has headers only in {usr_src}" if exact
            else f"no headers for kernel {release}")
    if cand.self_contained:
        # Nothing to build, so nothing to announce on every run unless asked.
        _point_bcc_at(cand.flavour_dir)
        if verbose:
            notice(f"{what}; using {cand.flavour_dir}")
        return HeaderInfo(cand.flavour_dir, cand.name, merged=False)

    if cache_dir is None:
        cache_dir = paths.cache_dir()
    path, built = merged_headers_tree(cand, cache_dir)
    _point_bcc_at(path)
    if built or verbose:
        verb = "merged into" if built else "merged tree"
        notice(f"{what}; using {cand.name} ({verb} {path})")
    return HeaderInfo(path, f"{cand.name} merged with {os.path.basename(cand.common_dir)}",
                      merged=True)


# The BCC_KERNEL_SOURCE tracer chose itself, told apart from one the user set.
_chosen_source: Optional[str] = None


def _point_bcc_at(path: str) -> None:
    global _chosen_source
    os.environ["BCC_KERNEL_SOURCE"] = _chosen_source = path


def headers_identity(release: Optional[str] = None) -> str:
    """Which kernel headers BCC would compile against, found without building anything (part
    of a compiled program's cache key)."""
    release = release or os.uname().release
    env_source = os.environ.get("BCC_KERNEL_SOURCE")
    if env_source and env_source != _chosen_source and os.path.isdir(env_source):
        return f"{os.path.realpath(env_source)}:{os.stat(env_source).st_mtime_ns}"
    own = _bcc_default_headers(DEFAULT_MODULES_DIR, release)
    if own:
        return f"{own}:{os.stat(own).st_mtime_ns}"
    if os.path.isfile(KHEADERS_ARCHIVE):
        return KHEADERS_ARCHIVE
    cand = choose_headers(find_header_candidates(), release)
    if cand is None:
        return "no headers"
    return f"{cand.name}:{os.stat(cand.flavour_dir).st_mtime_ns}"


def prepare(notice: Notice) -> None:
    """What the kernel side needs before a program is loaded and attached (the headers BCC
    compiles against are only looked for when a program is compiled)."""
    require_root()
    tracefs_path(notice)
