"""Kernel preparation logic, against fake /usr/src, /lib/modules and /proc/mounts trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracer.diagnostics import TracerError
from tracer.host.headers import version_key
from tracer.runtime import kernel
from tracer.runtime.kernel import (
    choose_headers,
    ensure_kernel_headers,
    find_header_candidates,
    merged_headers_tree,
)

RELEASE = "6.18.44-test"  # a running kernel nothing under the fake /usr/src was built for


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def debian_pair(src: Path, version: str, flavour: str = "amd64") -> tuple[Path, Path]:
    """The shape of Debian's linux-headers-<ver>-common + linux-headers-<ver>-<flavour>."""
    common = src / f"linux-headers-{version}-common"
    flav = src / f"linux-headers-{version}-{flavour}"
    write(common / "include/linux/kconfig.h", f"/* kconfig {version} */")
    write(common / "include/linux/sched.h", "/* sched */")
    write(common / "arch/x86/include/asm/ptrace.h", "/* ptrace */")
    write(common / "Makefile", "common makefile")
    write(flav / "include/generated/autoconf.h", f"/* autoconf {version}-{flavour} */")
    write(flav / "arch/x86/include/generated/asm/unistd_64_x32.h", "/* generated */")
    write(flav / "Makefile", f"include {common}/Makefile")
    write(flav / ".config", "CONFIG_BPF=y")
    kbuild = src.parent / "lib/linux-kbuild/scripts"
    write(kbuild / "Makefile.build", "kbuild")
    os.symlink(os.path.relpath(kbuild, flav), flav / "scripts")
    return common, flav


def ubuntu_pair(src: Path, version: str, flavour: str = "generic",
                self_contained: bool = False) -> tuple[Path, Path]:
    """Ubuntu: linux-headers-<ver> + linux-headers-<ver>-<flavour>."""
    common = src / f"linux-headers-{version}"
    flav = src / f"linux-headers-{version}-{flavour}"
    write(common / "include/linux/kconfig.h", f"/* kconfig {version} */")
    write(flav / "include/generated/autoconf.h", "/* autoconf */")
    if self_contained:
        # Ubuntu's flavour dir links the shared directories into itself.
        os.symlink(f"../../linux-headers-{version}/include/linux", flav / "include/linux")
    return common, flav


@pytest.fixture
def notices() -> list[str]:
    return []


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    # The code under test sets BCC_KERNEL_SOURCE in os.environ. delenv of an unset variable
    # records nothing to undo, so set it first: teardown then restores whatever was there
    # (nothing), and no fake headers tree leaks into later tests' tracer processes.
    for name in ("BCC_KERNEL_SOURCE", "TRACER_CACHE_DIR"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    (tmp_path / "modules" / RELEASE).mkdir(parents=True)
    (tmp_path / "usr/src").mkdir(parents=True)
    return dict(usr_src=str(tmp_path / "usr/src"), cache_dir=str(tmp_path / "cache"),
                modules_dir=str(tmp_path / "modules"), release=RELEASE,
                kheaders=str(tmp_path / "no-kheaders.tar.xz"))


def test_version_key_orders_numerically():
    versions = ["6.1.0-56", "6.1.0-9", "6.10.0-1", "5.15.0-105", "6.1.0-10", "5.15.0-91"]
    assert sorted(versions, key=version_key) == [
        "5.15.0-91", "5.15.0-105", "6.1.0-9", "6.1.0-10", "6.1.0-56", "6.10.0-1"]


def test_debian_pairs_newest_first(tmp_path: Path):
    src = tmp_path / "usr/src"
    debian_pair(src, "6.1.0-9")
    debian_pair(src, "6.1.0-56")
    debian_pair(src, "6.1.0-56", "cloud-amd64")
    debian_pair(src, "6.1.0-10")
    cands = find_header_candidates(str(src))
    assert [(c.version, c.name) for c in cands] == [
        ("6.1.0-56", "linux-headers-6.1.0-56-amd64"),
        ("6.1.0-56", "linux-headers-6.1.0-56-cloud-amd64"),
        ("6.1.0-10", "linux-headers-6.1.0-10-amd64"),
        ("6.1.0-9", "linux-headers-6.1.0-9-amd64"),
    ]
    best = choose_headers(cands, RELEASE)
    assert best.flavour_dir == str(src / "linux-headers-6.1.0-56-amd64")
    assert best.common_dir == str(src / "linux-headers-6.1.0-56-common")
    assert not best.self_contained


def test_ubuntu_pairs_newest_first(tmp_path: Path):
    src = tmp_path / "usr/src"
    ubuntu_pair(src, "5.15.0-91")
    ubuntu_pair(src, "5.15.0-105")
    ubuntu_pair(src, "5.15.0-105", "lowlatency")
    best = choose_headers(find_header_candidates(str(src)), RELEASE)
    assert best.name == "linux-headers-5.15.0-105-generic"
    assert best.common_dir == str(src / "linux-headers-5.15.0-105")


def test_headers_for_running_kernel_beat_newer_ones(tmp_path: Path):
    src = tmp_path / "usr/src"
    debian_pair(src, "6.1.0-9")
    debian_pair(src, "6.1.0-56")
    best = choose_headers(find_header_candidates(str(src)), "6.1.0-9-amd64")
    assert best.name == "linux-headers-6.1.0-9-amd64"


def test_incomplete_packages_are_ignored(tmp_path: Path):
    src = tmp_path / "usr/src"
    debian_pair(src, "6.1.0-9")
    # newer, but one half only, or a pair whose headers were removed
    write(src / "linux-headers-6.1.0-60-amd64/include/generated/autoconf.h")
    write(src / "linux-headers-6.1.0-61-common/include/linux/kconfig.h")
    write(src / "linux-headers-6.1.0-62-common/Makefile")
    write(src / "linux-headers-6.1.0-62-amd64/include/generated/autoconf.h")
    write(src / "linux-kbuild-6.1/scripts/Makefile")
    assert [c.name for c in find_header_candidates(str(src))] == ["linux-headers-6.1.0-9-amd64"]
    assert find_header_candidates(str(tmp_path / "missing")) == []


def test_merged_tree_has_both_halves_and_is_reused(env: dict, notices: list[str]):
    common, flav = debian_pair(Path(env["usr_src"]), "6.1.0-56")
    debian_pair(Path(env["usr_src"]), "6.1.0-9")

    info = ensure_kernel_headers(notices.append, **env)

    tree = Path(env["cache_dir"]) / "kernel-headers/linux-headers-6.1.0-56-amd64"
    assert info.merged and info.path == str(tree)
    assert os.environ["BCC_KERNEL_SOURCE"] == str(tree)
    # files from the common half and from the flavour half, as symlinks into /usr/src
    kconfig = tree / "include/linux/kconfig.h"
    autoconf = tree / "include/generated/autoconf.h"
    assert kconfig.is_symlink() and os.readlink(kconfig) == str(common / "include/linux/kconfig.h")
    assert autoconf.is_symlink() and autoconf.read_text() == "/* autoconf 6.1.0-56-amd64 */"
    assert (tree / "arch/x86/include/asm/ptrace.h").is_symlink()
    assert (tree / "arch/x86/include/generated/asm/unistd_64_x32.h").is_symlink()
    assert not (tree / "include").is_symlink()  # directories are real, so both halves fit
    # where both halves have a file, the flavour's wins (cp --remove-destination)
    assert (tree / "Makefile").read_text().startswith("include ")
    # a relative symlink in the package still resolves
    assert (tree / "scripts/Makefile.build").read_text() == "kbuild"
    assert notices == [f"no headers for kernel {RELEASE}; using linux-headers-6.1.0-56-amd64 "
                       f"(merged into {tree})"]
    # nothing half-built left beside it
    assert os.listdir(tree.parent) == [tree.name]

    # A second run reuses the tree as it is, silently.
    (tree / "marker").write_text("kept")
    notices.clear()
    os.environ.pop("BCC_KERNEL_SOURCE")
    again = ensure_kernel_headers(notices.append, **env)
    assert again == info
    assert (tree / "marker").read_text() == "kept"
    assert notices == []
    assert os.environ["BCC_KERNEL_SOURCE"] == str(tree)

    # ...and says so when verbose.
    os.environ.pop("BCC_KERNEL_SOURCE")
    ensure_kernel_headers(notices.append, verbose=True, **env)
    assert len(notices) == 1 and str(tree) in notices[0]


def test_cache_dir_from_environment(env: dict, notices: list[str], monkeypatch, tmp_path: Path):
    debian_pair(Path(env["usr_src"]), "6.1.0-56")
    monkeypatch.setenv("TRACER_CACHE_DIR", str(tmp_path / "envcache"))
    env = dict(env, cache_dir=None)
    info = ensure_kernel_headers(notices.append, **env)
    assert info.path == str(tmp_path / "envcache/kernel-headers/linux-headers-6.1.0-56-amd64")
    assert os.path.isfile(os.path.join(info.path, "include/linux/kconfig.h"))


def test_losing_a_build_race_uses_the_winners_tree(env: dict, monkeypatch, tmp_path: Path):
    common, flav = debian_pair(Path(env["usr_src"]), "6.1.0-56")
    cand = find_header_candidates(env["usr_src"])[0]
    final = Path(env["cache_dir"]) / "kernel-headers" / cand.name
    real_rename = os.rename

    def rename_after_another_run(src, dst):
        # Another tracer run finishes its tree just before ours is renamed into place.
        write(Path(dst) / "winner")
        return real_rename(src, dst)

    monkeypatch.setattr(kernel.os, "rename", rename_after_another_run)
    path, built = merged_headers_tree(cand, env["cache_dir"])
    assert (path, built) == (str(final), False)
    assert sorted(os.listdir(final.parent)) == [cand.name]  # our temporary copy is gone
    assert os.listdir(final) == ["winner"]


def test_ubuntu_self_contained_headers_are_used_directly(env: dict, notices: list[str]):
    common, flav = ubuntu_pair(Path(env["usr_src"]), "5.15.0-105", self_contained=True)
    info = ensure_kernel_headers(notices.append, **env)
    assert info.path == str(flav) and not info.merged
    assert os.environ["BCC_KERNEL_SOURCE"] == str(flav)
    assert not os.path.exists(env["cache_dir"])


def test_ubuntu_split_headers_are_merged(env: dict, notices: list[str]):
    common, flav = ubuntu_pair(Path(env["usr_src"]), "5.15.0-105")
    info = ensure_kernel_headers(notices.append, **env)
    assert info.merged
    assert os.path.isfile(os.path.join(info.path, "include/linux/kconfig.h"))
    assert os.path.isfile(os.path.join(info.path, "include/generated/autoconf.h"))


def test_bcc_kernel_source_set_by_user_wins(env: dict, notices, monkeypatch, tmp_path: Path):
    debian_pair(Path(env["usr_src"]), "6.1.0-56")
    mine = tmp_path / "my-headers"
    mine.mkdir()
    monkeypatch.setenv("BCC_KERNEL_SOURCE", str(mine))
    info = ensure_kernel_headers(notices.append, **env)
    assert info.path == str(mine) and not info.merged
    assert os.environ["BCC_KERNEL_SOURCE"] == str(mine)
    assert notices == [] and not os.path.exists(env["cache_dir"])


def test_bcc_kernel_source_pointing_nowhere_is_replaced(env: dict, notices, monkeypatch):
    debian_pair(Path(env["usr_src"]), "6.1.0-56")
    monkeypatch.setenv("BCC_KERNEL_SOURCE", "/nonexistent/headers")
    info = ensure_kernel_headers(notices.append, **env)
    assert info.merged and os.environ["BCC_KERNEL_SOURCE"] == info.path
    assert "/nonexistent/headers" in notices[0]


def test_headers_of_running_kernel_need_nothing(env: dict, notices: list[str], tmp_path: Path):
    debian_pair(Path(env["usr_src"]), "6.1.0-56")
    build = tmp_path / "kbuild"
    write(build / "include/linux/kconfig.h")
    os.symlink(build, Path(env["modules_dir"]) / RELEASE / "build")
    info = ensure_kernel_headers(notices.append, **env)
    assert info.path.endswith(f"{RELEASE}/build") and not info.merged
    assert "BCC_KERNEL_SOURCE" not in os.environ
    assert notices == [] and not os.path.exists(env["cache_dir"])


def test_dangling_build_link_does_not_count(env: dict, notices: list[str]):
    debian_pair(Path(env["usr_src"]), "6.1.0-56")
    os.symlink("/nonexistent/build", Path(env["modules_dir"]) / RELEASE / "build")
    assert ensure_kernel_headers(notices.append, **env).merged


def test_no_headers_at_all(env: dict, notices: list[str]):
    with pytest.raises(TracerError) as exc:
        ensure_kernel_headers(notices.append, **env)
    assert "no kernel headers were found for the running kernel" in exc.value.message
    assert "linux-headers-amd64 on Debian" in exc.value.hint
    assert "scripts/setup" in exc.value.hint
    assert "BCC_KERNEL_SOURCE" not in os.environ


def test_require_root(monkeypatch):
    monkeypatch.setattr(kernel.os, "geteuid", lambda: 1000)
    with pytest.raises(TracerError, match="needs root"):
        kernel.require_root()
    monkeypatch.setattr(kernel.os, "geteuid", lambda: 0)
    kernel.require_root()


# ---------------------------------------------------------------------------------------------
# tracefs

@pytest.fixture
def fake_sys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(kernel, "_tracefs_cache", None)
    sys_kernel = tmp_path / "sys/kernel"
    (sys_kernel / "tracing").mkdir(parents=True)
    (sys_kernel / "debug").mkdir()
    mounts = write(tmp_path / "mounts", "proc /proc proc rw 0 0\n")
    calls: list[tuple[str, str, str]] = []

    def mount(source: str, target: str, fstype: str) -> None:
        calls.append((source, target, fstype))
        with open(mounts, "a") as f:
            f.write(f"{source} {target} {fstype} rw,relatime 0 0\n")

    return sys_kernel, mounts, mount, calls


def test_tracefs_already_mounted(fake_sys, notices: list[str]):
    sys_kernel, mounts, mount, calls = fake_sys
    with open(mounts, "a") as f:
        f.write(f"tracefs {sys_kernel}/debug/tracing tracefs rw 0 0\n")
    path = kernel.tracefs_path(notices.append, mounts_file=str(mounts),
                               sys_kernel=str(sys_kernel), mount=mount)
    assert path == f"{sys_kernel}/debug/tracing"
    assert calls == [] and notices == []


def test_tracefs_mounted_when_missing_and_cached(fake_sys, notices: list[str]):
    sys_kernel, mounts, mount, calls = fake_sys
    path = kernel.tracefs_path(notices.append, mounts_file=str(mounts),
                               sys_kernel=str(sys_kernel), mount=mount)
    assert path == f"{sys_kernel}/tracing"
    assert calls == [("nodev", f"{sys_kernel}/debug", "debugfs"),
                     ("nodev", f"{sys_kernel}/tracing", "tracefs")]
    assert notices == [f"mounted debugfs on {sys_kernel}/debug",
                       f"mounted tracefs on {sys_kernel}/tracing"]
    # cached: no second look
    assert kernel.tracefs_path(notices.append, mounts_file="/nonexistent") == path
    assert len(calls) == 2


def test_tracefs_mount_failure_says_what_to_run(fake_sys, notices: list[str]):
    sys_kernel, mounts, _, _ = fake_sys

    def refuse(source, target, fstype):
        raise OSError("mount(2): Operation not permitted")

    with pytest.raises(TracerError) as exc:
        kernel.tracefs_path(notices.append, mounts_file=str(mounts),
                            sys_kernel=str(sys_kernel), mount=refuse)
    assert "Operation not permitted" in exc.value.message
    assert f"mount -t tracefs nodev {sys_kernel}/tracing" in exc.value.hint
    assert kernel._tracefs_cache is None


def test_read_mounts_unescapes_paths(tmp_path: Path):
    mounts = write(tmp_path / "mounts",
                   "nodev /sys/kernel/tracing tracefs rw 0 0\n"
                   "/dev/sda1 /mnt/with\\040space ext4 rw 0 0\n")
    assert kernel.read_mounts(str(mounts)) == {"/sys/kernel/tracing": "tracefs",
                                               "/mnt/with space": "ext4"}
