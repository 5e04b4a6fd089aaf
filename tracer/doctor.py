"""``tracer doctor``: what this kernel and this install support, and the remedy for each gap.

One line per feature: the kernel's facts come from ``tracer.host.features`` (the same answers
providers give when they refuse a probe), this install's (kernel headers, BCC, libbpf) from
here. Nothing is mounted, built or attached, and nothing is compiled: the whole report takes
well under a second. The exit status says whether tracepoints can be traced here, the
least a runbook needs.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import click

from . import __version__, paths
from .host import features
from .host.features import Support

EXIT_READY, EXIT_GAPS = 0, 1


@dataclass(frozen=True)
class Row:
    name: str
    support: Support
    needed: bool  # needed to trace tracepoints: a gap here makes the exit status non-zero


# -- this install ----------------------------------------------------------------------------

def kernel_headers() -> Support:
    """The headers BCC would compile against, found as a run finds them, without building
    the merged tree a run may build."""
    from .runtime import kernel  # no BCC in it: only the search for headers

    release = os.uname().release
    source = os.environ.get("BCC_KERNEL_SOURCE")
    if source and os.path.isdir(source):
        return Support(True, f"BCC_KERNEL_SOURCE={source}")
    # The same search a run makes (ensure_kernel_headers), step by step, minus the building.
    own = kernel._bcc_default_headers(kernel.DEFAULT_MODULES_DIR, release)
    if own:
        return Support(True, f"the running kernel's own, in {own}")
    if os.path.isfile(kernel.KHEADERS_ARCHIVE):
        return Support(True, f"the kernel's built-in archive, {kernel.KHEADERS_ARCHIVE}")
    found = kernel.choose_headers(kernel.find_header_candidates(), release)
    if found is None:
        return Support(False, f"no headers for kernel {release}, and no linux-headers-* in "
                              f"{kernel.DEFAULT_USR_SRC}: BCC cannot compile a program",
                       kernel.NO_HEADERS_HINT)
    other = "" if found.name == f"linux-headers-{release}" else \
        " (another kernel's: struct layouts come from BTF)"
    if found.self_contained:
        return Support(True, f"{found.flavour_dir}{other}")
    merged = os.path.join(paths.cache_dir(), "kernel-headers", found.name)
    if os.path.isdir(merged):
        return Support(True, f"{found.name}, merged in {merged}{other}")
    return Support(True, f"{found.name}; the first run merges it into {merged}{other}")


def bcc() -> Support:
    """BCC's Python module as the compiler's worker would import it, found without importing
    it (that costs tens of milliseconds and loads LLVM), and its library."""
    from .runtime.cache import LIBBCC_DIRS

    spec = importlib.util.find_spec("bcc")
    if spec is None or not spec.origin:
        return Support(False, f"BCC's Python module (bcc) is not visible to {sys.executable}",
                       "run scripts/setup: it installs python3-bpfcc and makes it visible to "
                       "tracer's virtual environment")
    version = _bcc_version(os.path.join(os.path.dirname(spec.origin), "version.py"))
    library = next((os.path.join(d, "libbcc.so.0") for d in LIBBCC_DIRS
                    if os.path.exists(os.path.join(d, "libbcc.so.0"))), None)
    if library is None:
        return Support(False, "BCC's Python module is there but its library libbcc.so.0 is "
                              "not", "install libbpfcc (python3-bpfcc depends on it)")
    return Support(True, f"BCC {version or '(version unknown)'}, {os.path.dirname(spec.origin)}")


def _bcc_version(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            text = f.read()  # __version__ = '0.26.0'
    except OSError:
        return None
    quoted = text.split("=", 1)[-1].strip().strip("'\"")
    return quoted or None


def libbpf() -> Support:
    """libbpf 1.x with every function tracer's runtime calls."""
    from .runtime.libbpf import SIGNATURES

    try:
        lib = ctypes.CDLL("libbpf.so.1")
    except OSError:
        return Support(False, "libbpf.so.1 cannot be loaded", "install libbpf1 (it comes with "
                                                              "python3-bpfcc)")
    version = f"{lib.libbpf_major_version()}.{lib.libbpf_minor_version()}"
    lacking = [name for name in SIGNATURES if not hasattr(lib, name)]
    if lacking:
        return Support(False, f"libbpf {version} lacks {', '.join(lacking)}",
                       "install libbpf 1.0 or newer")
    return Support(True, f"libbpf {version}")


def c_preprocessor() -> Support:
    """What reads the macro constants of a script's #include lines."""
    from .cdefs.includes import preprocessor
    command = preprocessor()
    if command is None:
        return Support(False, "no C preprocessor (cpp, gcc or clang): #include gives scripts "
                              "no macro constants", "install cpp (scripts/setup installs gcc)")
    return Support(True, f"{' '.join(command)} reads #include's macro constants")


# -- the table -------------------------------------------------------------------------------

# name, answer, needed for tracepoints
FEATURES: list[tuple[str, Callable[[], Support], bool]] = [
    ("root", features.privileges, True),
    ("bpf() syscall", features.bpf_syscall, True),
    ("BPF JIT", features.jit, False),
    ("BTF", features.btf, False),
    ("tracefs", features.tracefs, True),
    ("debugfs", features.debugfs, False),
    ("perf events", features.perf_events, True),
    ("ring buffer", features.ring_buffer, True),
    ("bpf_loop helper", features.bpf_loop, False),
    ("kernel lockdown", features.lockdown, False),
    ("host PID namespace", features.host_pid_namespace, False),
    ("kernel headers", kernel_headers, True),
    ("BCC", bcc, True),
    ("libbpf", libbpf, True),
    ("C preprocessor", c_preprocessor, False),
]

FEATURE_NAMES = {answer: name for name, answer, _ in FEATURES}

# What each probe type needs of the kernel, in the order they are listed. A probe type's
# provider (where tracer has one) adds its own answer; one without a provider is a gap of
# this install even where the kernel could attach it.
PROBE_NEEDS: dict[str, tuple[Callable[[], Support], ...]] = {
    "BEGIN": (features.test_run,),
    "END": (features.test_run,),
    "tracepoint": (features.tracefs, features.perf_events),
    "rawtracepoint": (features.raw_tracepoints,),
    "kprobe": (features.kprobes,),
    "kretprobe": (features.kprobes,),
    "uprobe": (features.uprobes,),
    "uretprobe": (features.uprobes,),
    "usdt": (features.usdt,),
    "fentry": (features.fentry,),
    "fexit": (features.fentry,),
    "interval": (features.perf_events,),
    "profile": (features.perf_events,),
    "software": (features.perf_events,),
    "hardware": (features.perf_events, features.hardware_counters),
    "watchpoint": (features.perf_events, features.hw_breakpoints),
}
NEEDED_PROBES = {"tracepoint"}


def probe_type(name: str, provider) -> Support:
    """A probe type's support: the first kernel gap it meets, else its provider's refusal,
    else what was found."""
    needs = PROBE_NEEDS.get(name, ())
    for need in needs:
        answer = need()
        if not answer.ok:  # said once, on the feature's own line, where it is one
            shown = FEATURE_NAMES.get(need)
            return Support(False, f"needs {shown}, which is missing") if shown else answer
    if provider is None:
        return Support(False, f"tracer has no {name} provider yet (the kernel could attach "
                              f"these probes)", "")
    refusal = _provider_refusal(provider)
    if refusal is not None:
        return Support(False, refusal.why, refusal.instead)
    return Support(True, "; ".join(need().why for need in needs) or "tracer attaches these")


def _provider_refusal(provider):
    """What the provider says of this kernel for a target of its type, where it can say
    without a concrete one (some look at the target and cannot)."""
    from .providers.base import Target

    try:
        return provider.unsupported(Target(provider, provider.name))
    except Exception:  # it needs a concrete target: the kernel facts above stand alone
        return None


def rows() -> list[Row]:
    from .providers import REGISTRY

    found = [Row(name, answer(), needed) for name, answer, needed in FEATURES]
    providers = {p.name: p for p in REGISTRY.all()}
    names = list(PROBE_NEEDS) + sorted(set(providers) - set(PROBE_NEEDS))
    found += [Row(f"{name}:", probe_type(name, providers.get(name)), name in NEEDED_PROBES)
              for name in names]
    return found


# -- output ----------------------------------------------------------------------------------

def render_text(found: list[Row]) -> str:
    uname = os.uname()
    width = max(len(row.name) for row in found)
    lines = [f"tracer {__version__} on Linux {uname.release} ({uname.machine})"]
    for row in found:
        state = "ok" if row.support.ok else "missing"
        line = f"{row.name:<{width}}  {state:<7}  {row.support.why}"
        if not row.support.ok and row.support.remedy:
            line += f"; hint: {row.support.remedy}"
        lines.append(line.rstrip())
    gaps = [row.name.rstrip(":") for row in found if row.needed and not row.support.ok]
    lines.append("tracer can trace tracepoints here" if not gaps else
                 f"tracer cannot trace tracepoints here: fix {', '.join(gaps)} first")
    return "\n".join(lines) + "\n"


def render_json(found: list[Row]) -> str:
    uname = os.uname()
    report = {"tracer": __version__, "kernel": uname.release, "machine": uname.machine,
              "ready": ready(found),
              "features": [{"name": row.name, "ok": row.support.ok, "needed": row.needed,
                            "why": row.support.why, "remedy": row.support.remedy}
                           for row in found]}
    return json.dumps(report) + "\n"


def ready(found: list[Row]) -> bool:
    return all(row.support.ok for row in found if row.needed)


@click.command(context_settings=dict(help_option_names=["-h", "--help"]))
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
def doctor(as_json: bool) -> None:
    """Say what this kernel and this install support, and how to fix each gap. Changes
    nothing. Exits 0 when tracepoints can be traced here, 1 otherwise."""
    from .cli import print_to_stdout

    found = rows()
    print_to_stdout(render_json(found) if as_json else render_text(found))
    raise click.exceptions.Exit(EXIT_READY if ready(found) else EXIT_GAPS)
