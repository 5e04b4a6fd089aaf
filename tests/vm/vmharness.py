"""The second kernel: run ``tests/guest`` under Debian's own kernel, booted once under qemu.

The kernel these tests usually run on lacks features tracer supports (kprobes, kretprobes,
fentry; see ``../shared/kernel.md``). Debian's kernel has them, and virtme-ng (``vng``) boots it
under qemu with the host's root file system shared in, read-only, so the guest runs this very
checkout with this very venv. One boot serves every guest test:

    host pytest                                   guest (Debian 6.1 under qemu, no KVM)
    tests/vm/test_guest_kernel.py                 sh OUT/run.sh
      collects the ids of tests/guest               writes OUT/booted
      boots the guest once (session fixture) -->    python -m pytest tests/guest ID...
      test_guest[ID]: that test's outcome    <--    one JSON line per phase in OUT/results.jsonl

OUT is a host directory shared read-write into the guest (``vng --rwdir``). Results are
streamed a line at a time, not written at the end (as junit XML would be), so a guest killed
for taking too long still reports every test that finished and names the one that was running.

What the guest sees: the host's root read-only over 9p, with fresh writable overlays (in guest
memory) on /tmp, /etc, /usr, /var and /home, and tmpfs on /var/cache, so tracer's compiled-
program cache (/var/cache/tracer) starts empty and every program compiles for real in the
guest; nothing written there reaches the host. tracefs and debugfs are mounted; the kernel's
headers come from /lib/modules/<release>/build on the shared root (scripts/setup installs
them). The checkout itself is read-only there: pytest runs with ``-p no:cacheprovider`` and
Python writes no bytecode.

Running only the guest tests (one boot for all of them):

    scripts/test tests/vm -v

``-k`` and node ids select guest tests as usual (``scripts/test tests/vm -k fentry``): only the
selected ones run in the guest.

Measured on an idle development VM (2 cores, no KVM): the guest starts its command 15 s after
vng is started; pytest then takes about 8 s to start in the guest; the first tracer run there
takes 25-35 s (imports and BCC's clang, emulated, on a cold page cache) and each later one that
compiles 10-15 s; ``import tracer.cli`` alone is about 5 s, ``python -c pass`` about 1 s.
Everything is several times slower while other work loads the host. With 6 guest tests (4
tracer runs) the whole guest run took 104 s; the host prints these figures after its tests.

Adding a guest test: put a ``test_*.py`` in ``tests/guest/`` and write it like a test of
``tests/kernel`` (mark it ``kernel``; the fixtures of ``tests/conftest.py`` are there:
``run_tracer``, ``workload`` ...). It appears on the host as ``test_guest[<file>::<test>]`` in
``tests/vm``; the host's ordinary run never collects ``tests/guest`` itself. Everything in the
guest runs emulated, 20 to 40 times slower than on the host: a tracer run that compiles takes
10-30 s there, so let one tracer run check several things, and keep the guest for what the host
kernel cannot do. ``guest_facts`` (tests/guest/conftest.py) says which kernel was meant.

Time limits: the guest must start its command within ``TRACER_VM_BOOT_TIMEOUT`` seconds
(default 180), a guest test must report within ``STALL_TIMEOUT`` (330 s) of the last report,
and the whole run must end within ``TRACER_VM_TIMEOUT`` seconds (default: 300 plus 180 a guest
test); otherwise qemu is killed and the host tests fail with the console output and the guest's
pytest log. In the guest, one tracer run may take 300 s (``run_tracer``'s default there).

Why the options: ``--disable-kvm`` because KVM hangs at boot on these machines (nested
virtualisation); ``--force-9p`` because vng otherwise spends about 3 s trying to start Debian
12's virtiofsd (qemu's old C daemon, which does not take vng's options) before falling back to
9p anyway; ``--verbose`` so the console (the kernel's boot messages) is kept for a failed boot.
vng also needs a static busybox (package busybox-static) for the initramfs that loads Debian's
9p modules, and the venv's bin on PATH (it runs virtme-run); scripts/setup installs the
packages, and the test extras virtme-ng.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

REPO = Path(__file__).resolve().parents[2]
GUEST_TESTS = REPO / "tests" / "guest"

MEMORY = "2G"
BOOT_TIMEOUT = 180.0
# Longer than the guest's own limit on one tracer run (GUEST_TRACER_TIMEOUT in
# tests/guest/conftest.py), so a hung tracer fails its test in the guest, with its output,
# before the host gives up on the whole guest.
STALL_TIMEOUT = 330.0
RUN_BASE_TIMEOUT = 300.0
RUN_TIMEOUT_PER_TEST = 180.0
CONSOLE_TAIL_LINES = 60

# Paths that are fresh, empty file systems inside the guest: a host directory under them does
# not exist there, so the shared output directory must not be one of them.
_GUEST_FRESH_MOUNTS = ("/run", "/dev", "/proc", "/sys", "/var/tmp", "/var/cache", "/var/log")


def env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def kernel_required() -> bool:
    """As ``kernel_required()`` in tests/conftest.py: where skipping is not allowed."""
    return env_true("TRACER_REQUIRE_KERNEL") or env_true("CI")


def env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return value


# ---------------------------------------------------------------------------------------------
# Which kernel, and can this machine boot it


@dataclass(frozen=True)
class GuestKernel:
    release: str
    vmlinuz: str


def _version_key(release: str) -> tuple:
    # "6.1.0-57-amd64" -> (6, 1, 0, 57, "amd64"): numbers compare as numbers.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in re.split(r"[.\-+~]", release))


def _has_kprobes(config: Path) -> bool:
    try:
        text = config.read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"^CONFIG_KPROBES=y$", text, re.M) is not None


def has_headers(kdir: Path) -> bool:
    """Whether BCC finds a kernel's headers in its /lib/modules/<release>: as BCC looks, in
    source/ when both build/ and source/ exist (Debian's -common half), else in build/."""
    kconfig = "include/linux/kconfig.h"
    build, source = kdir / "build", kdir / "source"
    if build.is_dir() and source.is_dir():
        return (source / kconfig).is_file()
    return (build / kconfig).is_file()


def find_guest_kernel(host_release: str, boot: str = "/boot",
                      modules: str = "/lib/modules") -> tuple[Optional[GuestKernel], str]:
    """The kernel to boot, or None and why there is none.

    TRACER_VM_KERNEL (a vmlinuz) if set; otherwise the newest /boot/vmlinuz-<release> other
    than the running kernel that has kprobes (its /boot/config-<release> says so) and headers
    in <modules>/<release>/build, which is what BCC compiles against in the guest.
    """
    chosen = os.environ.get("TRACER_VM_KERNEL", "").strip()
    paths = [Path(chosen)] if chosen else sorted(Path(boot).glob("vmlinuz-*"))
    rejected = []
    found = []
    for path in paths:
        release = path.name[len("vmlinuz-"):] if path.name.startswith("vmlinuz-") else ""
        why = None
        if not path.is_file():
            why = "does not exist"
        elif not release:
            why = "is not named vmlinuz-<release>"
        elif release == host_release:
            why = "is the running kernel"
        elif not _has_kprobes(path.parent / f"config-{release}"):
            why = f"has no CONFIG_KPROBES=y in {path.parent}/config-{release}"
        elif not has_headers(Path(modules) / release):
            why = f"has no headers in {modules}/{release}/build"
        if why:
            rejected.append(f"{path} {why}")
        else:
            found.append(GuestKernel(release, str(path)))
    if found:
        return max(found, key=lambda k: _version_key(k.release)), ""
    detail = "; ".join(rejected) if rejected else f"no {boot}/vmlinuz-* at all"
    return None, f"no kernel to boot as the second kernel ({detail})"


def _is_static_elf(path: str) -> bool:
    from elftools.elf.elffile import ELFFile  # pyelftools: a dependency of tracer itself
    try:
        with open(path, "rb") as f:
            return not any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(f).iter_segments())
    except Exception:  # not an ELF file, unreadable: not a static busybox either way
        return False


def venv_bin() -> Path:
    # Not resolved: the venv's python is a symlink to /usr/bin/python3, and only through the
    # venv's path does it find the venv's packages (in the guest too).
    return Path(sys.executable).parent


def prerequisites_problem() -> Optional[str]:
    """Why this machine cannot boot the second kernel (a missing tool), or None."""
    if os.geteuid() != 0:
        return "needs root (qemu reads /boot/vmlinuz-*; the guest runs BPF as root)"
    missing = []
    if not _which("qemu-system-x86_64"):
        missing.append("qemu-system-x86_64 (package qemu-system-x86)")
    if not (venv_bin() / "vng").exists():
        missing.append(f"vng in {venv_bin()} (virtme-ng, in the test extras)")
    # vng builds an initramfs (Debian's kernel has 9p as modules) around a static busybox.
    busybox = [p for p in (_which(n) for n in ("busybox-static", "busybox.static", "busybox"))
               if p and _is_static_elf(p)]
    if not busybox:
        missing.append("a static busybox (package busybox-static)")
    if missing:
        return "missing " + ", ".join(missing) + "; run scripts/setup"
    return None


def _which(name: str) -> Optional[str]:
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/bin", "/bin"]:
        p = os.path.join(d, name)
        if d and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def guest_visible_dir(path: Path) -> bool:
    """Whether a host directory also exists, as itself, inside the guest."""
    p = str(path.resolve())
    return not any(p == m or p.startswith(m + "/") for m in _GUEST_FRESH_MOUNTS)


# ---------------------------------------------------------------------------------------------
# Which guest tests there are


def collect_guest_ids(timeout: float = 120) -> tuple[list[str], Optional[str]]:
    """The node ids of tests/guest, collected on the host; (ids, None) or ([], what failed)."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
            str(GUEST_TESTS.relative_to(REPO))]
    env = dict(os.environ, TRACER_GUEST_COLLECT="1", PYTHONDONTWRITEBYTECODE="1")
    try:
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], f"collecting tests/guest on the host took over {timeout:.0f} s"
    ids = parse_collected_ids(proc.stdout)
    if proc.returncode != 0 or not ids:
        return [], (f"collecting tests/guest on the host failed (pytest exit {proc.returncode}, "
                    f"{len(ids)} tests):\n$ {shlex.join(argv)}\n{proc.stdout}{proc.stderr}")
    return ids, None


def parse_collected_ids(stdout: str) -> list[str]:
    """The node ids that ``pytest --collect-only -q`` printed, one a line, in order."""
    return [line.strip() for line in stdout.splitlines()
            if "::" in line and not line.startswith((" ", "ERROR", "FAILED"))]


# ---------------------------------------------------------------------------------------------
# Outcomes of the guest tests


@dataclass(frozen=True)
class CollectionFailure:
    """Stands in for the guest tests when they cannot even be collected, so that the host
    test fails (an empty parameter list would only skip)."""

    text: str


@dataclass(frozen=True)
class GuestUnavailable:
    """This machine cannot boot the second kernel (a tool or the kernel is missing)."""

    reason: str


@dataclass
class GuestResult:
    nodeid: str
    outcome: str = "passed"  # passed, failed or skipped
    duration: float = 0.0
    details: list[str] = field(default_factory=list)  # failure/skip texts, captured output
    finished: bool = False  # its teardown was reported: no phase is still to come


def merge_records(records: Iterable[dict]) -> tuple[dict[str, GuestResult], Optional[str],
                                                    list[str]]:
    """Fold the guest's JSON lines into one result per test.

    Returns (results, the test that had started but not finished, collection errors). A test
    fails if any phase failed (setup, call or teardown), is skipped if a phase was skipped and
    none failed, and passed otherwise.
    """
    results: dict[str, GuestResult] = {}
    running: Optional[str] = None
    collect_errors: list[str] = []
    for rec in records:
        kind = rec.get("event")
        if kind == "start":
            running = rec["nodeid"]
        elif kind == "report":
            res = results.setdefault(rec["nodeid"], GuestResult(rec["nodeid"]))
            res.duration += float(rec.get("duration", 0.0))
            outcome = rec.get("outcome")
            if outcome == "failed":
                res.outcome = "failed"
                res.details.append(f"--- {rec.get('when')}: failed ---\n{rec.get('text', '')}")
                for title, content in rec.get("sections", []):
                    res.details.append(f"--- {title} ---\n{content}")
            elif outcome == "skipped" and res.outcome != "failed":
                res.outcome = "skipped"
                res.details.append(rec.get("text", "").removeprefix("Skipped: "))
            if rec.get("when") == "teardown":
                res.finished = True
                if running == rec["nodeid"]:
                    running = None
        elif kind == "collect_error":
            collect_errors.append(f"{rec.get('nodeid')}:\n{rec.get('text', '')}")
    return results, running, collect_errors


def read_records(path: Path) -> list[dict]:
    """The JSON lines written so far; a last line cut short (the guest killed mid-write) is
    dropped."""
    records = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return records


def verdict(nodeid: str, run: "GuestRun", required: bool) -> tuple[str, str]:
    """("pass" | "fail" | "skip", message) for one guest test on the host."""
    result = run.results.get(nodeid)
    if result is not None and result.outcome == "failed":
        # A failed phase is final even if the guest was stopped before the teardown.
        return "fail", "\n".join(result.details)
    if result is None or not result.finished:
        if run.problem is None:
            return "fail", ("the guest never finished this test (collected on the host but "
                            "not in the guest?); guest pytest log:\n" + run.pytest_log_tail())
        if run.running == nodeid:
            return "fail", (f"this test was running when the guest was stopped: {run.problem}"
                            f"\n--- guest console (last lines) ---\n{run.console_tail()}")
        return "fail", (f"the guest run ended before this test ran: {run.problem} "
                        f"(test_guest_run shows the console)")
    if result.outcome == "skipped":
        reason = "\n".join(result.details).strip() or "no reason given"
        if required:
            return "fail", (f"skipped in the guest: {reason} (TRACER_REQUIRE_KERNEL=1 or "
                            f"CI=true: skipping is not allowed)")
        return "skip", f"skipped in the guest: {reason}"
    return "pass", ""


# ---------------------------------------------------------------------------------------------
# One boot


@dataclass
class GuestRun:
    kernel: GuestKernel
    outdir: Path
    nodeids: Sequence[str]
    host_release: str
    boot_timeout: float = BOOT_TIMEOUT
    stall_timeout: float = STALL_TIMEOUT
    run_timeout: Optional[float] = None

    # Filled in by run().
    argv: list[str] = field(default_factory=list)
    booted: bool = False
    boot_seconds: Optional[float] = None
    guest_uptime_at_start: Optional[float] = None
    guest_release: Optional[str] = None
    total_seconds: Optional[float] = None
    pytest_exit: Optional[int] = None
    vng_exit: Optional[int] = None
    problem: Optional[str] = None
    results: dict[str, GuestResult] = field(default_factory=dict)
    running: Optional[str] = None
    collect_errors: list[str] = field(default_factory=list)

    @property
    def console_path(self) -> Path:
        return self.outdir / "console.log"

    @property
    def results_path(self) -> Path:
        return self.outdir / "results.jsonl"

    @property
    def pytest_log_path(self) -> Path:
        return self.outdir / "pytest.log"

    def _guest_script(self) -> str:
        out = shlex.quote(str(self.outdir))
        py = shlex.quote(str(venv_bin() / "python"))
        env = {
            # Skips become failures inside the guest too: it exists to run these tests.
            "TRACER_REQUIRE_KERNEL": "1",
            "TRACER_GUEST": "1",
            "TRACER_GUEST_RESULTS": str(self.results_path),
            "TRACER_GUEST_EXPECTED_RELEASE": self.kernel.release,
            "TRACER_HOST_RELEASE": self.host_release,
            # The checkout is read-only in the guest.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": f"{venv_bin()}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
        }
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # -vv: whole assertion diffs, since the guest's output is all a failure shows.
        pytest_args = ["-m", "pytest", "-p", "no:cacheprovider", "-vv", "-rA",
                       "--basetemp=/tmp/tracer-guest-pytest", *self.nodeids]
        # `booted` is written through a rename so the host never reads half of it.
        return "\n".join([
            "#!/bin/sh",
            "# Written by tests/vm/vmharness.py; runs inside the guest kernel.",
            f'printf "%s %s\\n" "$(uname -r)" "$(cut -d" " -f1 /proc/uptime)" > {out}/booted.tmp',
            f"mv {out}/booted.tmp {out}/booted",
            f"cd {shlex.quote(str(REPO))} || exit 97",
            f"export {exports}",
            f"{py} {shlex.join(pytest_args)} > {out}/pytest.log 2>&1",
            f"echo $? > {out}/exit",
            "",
        ])

    def command(self) -> list[str]:
        return [str(venv_bin() / "vng"), "--run", self.kernel.vmlinuz, "--disable-kvm",
                "--force-9p", "--verbose", "--memory", MEMORY, "--rwdir", str(self.outdir),
                "--", f"sh {shlex.quote(str(self.outdir / 'run.sh'))}"]

    def run(self) -> "GuestRun":
        self.outdir.mkdir(parents=True, exist_ok=True)
        (self.outdir / "run.sh").write_text(self._guest_script())
        total_limit = self.run_timeout or (RUN_BASE_TIMEOUT
                                           + RUN_TIMEOUT_PER_TEST * max(1, len(self.nodeids)))
        self.argv = self.command()
        env = dict(os.environ, PATH=f"{venv_bin()}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        start = time.monotonic()
        with open(self.console_path, "wb") as console:
            # A session of its own, so that killing it takes vng, virtme-run and qemu along.
            proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=console,
                                    stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                    start_new_session=True)
            try:
                self._watch(proc, start, total_limit)
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
                self.vng_exit = proc.wait()
        self.total_seconds = time.monotonic() - start
        self._read_outcome()
        return self

    def _watch(self, proc: subprocess.Popen, start: float, total_limit: float) -> None:
        booted_path = self.outdir / "booted"
        last_size = -1
        last_progress = start
        while True:
            finished = proc.poll() is not None
            now = time.monotonic()
            if not self.booted and booted_path.exists():
                self.booted = True
                self.boot_seconds = now - start
                last_progress = now
            if finished:
                return
            if not self.booted:
                if now - start > self.boot_timeout:
                    self.problem = (f"the guest did not boot (start its command) within "
                                    f"{self.boot_timeout:.0f} s; qemu was killed")
                    _kill_group(proc)
                    return
            else:
                size = self.results_path.stat().st_size if self.results_path.exists() else 0
                if size != last_size:
                    last_size, last_progress = size, now
                if now - last_progress > self.stall_timeout:
                    self.problem = (f"no guest test made progress for {self.stall_timeout:.0f} "
                                    f"s; qemu was killed")
                    _kill_group(proc)
                    return
                if now - start > total_limit:
                    self.problem = (f"the guest tests did not finish within {total_limit:.0f} s "
                                    f"(TRACER_VM_TIMEOUT); qemu was killed")
                    _kill_group(proc)
                    return
            time.sleep(0.2)

    def _read_outcome(self) -> None:
        booted_path = self.outdir / "booted"
        if booted_path.exists():
            parts = booted_path.read_text().split()
            if len(parts) == 2:
                self.guest_release = parts[0]
                try:
                    self.guest_uptime_at_start = float(parts[1])
                except ValueError:
                    pass
        self.results, self.running, self.collect_errors = merge_records(
            read_records(self.results_path))
        exit_path = self.outdir / "exit"
        if exit_path.exists():
            try:
                self.pytest_exit = int(exit_path.read_text().strip())
            except ValueError:
                pass
        if self.problem is None:
            if not self.booted:
                self.problem = f"the guest did not boot (vng exited with {self.vng_exit})"
            elif self.pytest_exit is None:
                self.problem = (f"the guest stopped before its tests finished (vng exited with "
                                f"{self.vng_exit}; a kernel panic or an out-of-memory kill?)")

    def console_tail(self, lines: int = CONSOLE_TAIL_LINES) -> str:
        return _tail(self.console_path, lines)

    def pytest_log_tail(self, lines: int = 80) -> str:
        return _tail(self.pytest_log_path, lines)

    def summary(self) -> str:
        """One paragraph of timings, for the end of the host's pytest output."""
        parts = [f"second kernel {self.kernel.release} ({self.kernel.vmlinuz})"]
        if self.boot_seconds is not None:
            parts.append(f"booted in {self.boot_seconds:.1f} s (guest uptime "
                         f"{self.guest_uptime_at_start} s when its command started)")
        if self.total_seconds is not None:
            parts.append(f"{len(self.results)} guest tests, whole run {self.total_seconds:.1f} s")
        lines = ["; ".join(parts)]
        for res in sorted(self.results.values(), key=lambda r: -r.duration):
            state = res.outcome if res.finished or res.outcome == "failed" else "stopped"
            lines.append(f"  {res.duration:6.1f} s  {state:7}  {res.nodeid}")
        if self.problem:
            lines.append(f"  problem: {self.problem}")
        return "\n".join(lines)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} was not written)"
    # The console carries terminal control sequences and carriage returns from the guest.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")
    return "\n".join(text.splitlines()[-lines:])
