"""Where the kernel's headers are on this machine, found and never changed: the running
kernel's build tree, or the distribution's headers packages under /usr/src (Debian and Ubuntu
split one into a shared half and a per-flavour half). ``tracer.runtime.kernel`` decides from
this what BCC compiles against (and builds a merged tree when it must); ``tracer.cdefs.includes``
reads the macros of a script's ``#include``s from the same headers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional

DEFAULT_USR_SRC = "/usr/src"
DEFAULT_MODULES_DIR = "/lib/modules"
# The file BCC tests for to decide that a directory holds kernel headers (loader.cc).
KCONFIG_H = os.path.join("include", "linux", "kconfig.h")

# uname's machine -> the kernel's name for the architecture (its arch/ directory).
KERNEL_ARCH = {
    "x86_64": "x86", "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86",
    "aarch64": "arm64", "arm64": "arm64", "s390x": "s390", "ppc64le": "powerpc",
    "ppc64": "powerpc", "mips64": "mips", "riscv64": "riscv", "loongarch64": "loongarch",
}


def kernel_arch(machine: Optional[str] = None) -> str:
    machine = machine or os.uname().machine
    if machine.startswith("arm") and machine not in KERNEL_ARCH:
        return "arm"
    return KERNEL_ARCH.get(machine, machine)


@dataclass(frozen=True)
class HeaderCandidate:
    """A distribution headers package found under /usr/src."""

    version: str  # e.g. "6.1.0-56"
    flavour_dir: str  # absolute: linux-headers-6.1.0-56-amd64
    common_dir: str  # absolute: linux-headers-6.1.0-56-common (Debian) or linux-headers-<ver> (Ubuntu)

    @property
    def name(self) -> str:
        return os.path.basename(self.flavour_dir)

    @property
    def self_contained(self) -> bool:
        # Ubuntu's flavour dir links the shared half into itself, so BCC can use it directly.
        return os.path.isfile(os.path.join(self.flavour_dir, KCONFIG_H))


def version_key(version: str) -> tuple:
    """Sort key that orders "6.1.0-56" after "6.1.0-9" and "6.10" after "6.9"."""
    key = []
    for part in re.findall(r"\d+|[A-Za-z]+", version):
        key.append((1, int(part), "") if part.isdigit() else (0, 0, part))
    return tuple(key)


def find_header_candidates(usr_src: str = DEFAULT_USR_SRC) -> list[HeaderCandidate]:
    """Pairs of (flavour, common) header directories, newest version first.

    Debian: linux-headers-<ver>-common + linux-headers-<ver>-<flavour>  (6.1.0-56 + amd64,
    also multi-part flavours like cloud-amd64). Ubuntu: linux-headers-<ver> + linux-headers-<ver>-
    <flavour> (5.15.0-91 + generic). A pair counts only if it holds include/linux/kconfig.h, so a
    half-removed package is not picked.
    """
    prefix = "linux-headers-"
    try:
        names = sorted(n for n in os.listdir(usr_src)
                       if n.startswith(prefix) and os.path.isdir(os.path.join(usr_src, n)))
    except OSError:
        return []
    present = set(names)
    found: list[HeaderCandidate] = []
    for name in names:
        if name.endswith("-common"):
            continue
        rest = name[len(prefix):]
        # Try every split point, longest version first: "6.1.0-56-cloud-amd64" is version
        # "6.1.0-56" with flavour "cloud-amd64" only if a matching common dir exists.
        dashes = [i for i, c in enumerate(rest) if c == "-"]
        for i in reversed(dashes):
            version = rest[:i]
            for common in (f"{prefix}{version}-common", f"{prefix}{version}"):
                if common in present and common != name:
                    cand = HeaderCandidate(version, os.path.join(usr_src, name),
                                           os.path.join(usr_src, common))
                    if cand.self_contained or os.path.isfile(os.path.join(cand.common_dir,
                                                                          KCONFIG_H)):
                        found.append(cand)
                    break
            else:
                continue
            break
    # Newest version first; among flavours of one version the plainest name first ("amd64"
    # before "cloud-amd64" or "rt-amd64", "generic" before "lowlatency").
    found.sort(key=lambda c: (len(c.name), c.name))
    found.sort(key=lambda c: version_key(c.version), reverse=True)
    return found


def choose_headers(candidates: list[HeaderCandidate], release: str) -> Optional[HeaderCandidate]:
    """Headers built for the running kernel if installed, else the newest."""
    for cand in candidates:
        if cand.name == f"linux-headers-{release}":
            return cand
    return candidates[0] if candidates else None


def bcc_default_headers(modules_dir: str, release: str) -> Optional[str]:
    """The directory BCC itself would use without BCC_KERNEL_SOURCE, if it holds headers.

    Mirrors BCC's loader: /lib/modules/<release>/source when both build and source exist,
    otherwise build; it accepts the directory if include/linux/kconfig.h is there.
    """
    kdir = os.path.join(modules_dir, release)
    build, source = os.path.join(kdir, "build"), os.path.join(kdir, "source")
    path = source if os.path.isdir(build) and os.path.isdir(source) else build
    return path if os.path.isfile(os.path.join(path, KCONFIG_H)) else None


@dataclass(frozen=True)
class KernelTree:
    """Kernel headers as a compiler needs them: ``source`` holds include/ and arch/*/include,
    ``build`` the generated headers (the same directory unless the distribution splits them)."""

    source: str
    build: str
    description: str


def kernel_tree(release: Optional[str] = None, *, environ: Mapping[str, str] = os.environ,
                modules_dir: str = DEFAULT_MODULES_DIR,
                usr_src: str = DEFAULT_USR_SRC) -> Optional[KernelTree]:
    """The kernel headers to read, in BCC's order of preference: BCC_KERNEL_SOURCE, the
    running kernel's /lib/modules/<release>/{source,build}, then the distribution's headers
    for the running kernel or, failing those, the newest. None when there are none."""
    release = release or os.uname().release
    chosen = environ.get("BCC_KERNEL_SOURCE")
    if chosen and os.path.isfile(os.path.join(chosen, KCONFIG_H)):
        return KernelTree(chosen, chosen, f"BCC_KERNEL_SOURCE={chosen}")
    kdir = os.path.join(modules_dir, release)
    build = os.path.join(kdir, "build")
    own = bcc_default_headers(modules_dir, release)
    if own:
        return KernelTree(own, build if os.path.isdir(build) else own,
                          f"headers for the running kernel in {kdir}")
    cand = choose_headers(find_header_candidates(usr_src), release)
    if cand is None:
        return None
    if cand.self_contained:
        return KernelTree(cand.flavour_dir, cand.flavour_dir, cand.name)
    return KernelTree(cand.common_dir, cand.flavour_dir,
                      f"{cand.name} with {os.path.basename(cand.common_dir)}")
