"""Fixtures of the second-kernel harness; ``vmharness.py`` says how it works and how to add a
guest test. ``scripts/test tests/vm`` runs just these."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Union

import pytest

import vmharness
from vmharness import CollectionFailure, GuestUnavailable


@functools.lru_cache(maxsize=None)
def _guest_ids() -> tuple[tuple[str, ...], Optional[str]]:
    ids, error = vmharness.collect_guest_ids()
    return tuple(ids), error


def short_id(nodeid: str) -> str:
    prefix = str(vmharness.GUEST_TESTS.relative_to(vmharness.REPO)) + "/"
    return nodeid[len(prefix):] if nodeid.startswith(prefix) else nodeid


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "guest_test" not in metafunc.fixturenames:
        return
    ids, error = _guest_ids()
    if error:
        metafunc.parametrize("guest_test", [CollectionFailure(error)], ids=["collection"])
    else:
        metafunc.parametrize("guest_test", ids, ids=[short_id(i) for i in ids])


_RUN_KEY = pytest.StashKey["vmharness.GuestRun"]()


@pytest.fixture(scope="session")
def guest_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Union[vmharness.GuestRun, GuestUnavailable]]:
    """Boots the second kernel once and runs the selected guest tests in it."""
    run = _prepare(request, tmp_path_factory)
    if isinstance(run, GuestUnavailable):
        yield run
        return
    request.config.stash[_RUN_KEY] = run
    run.run()
    yield run
    if run.outdir.name.startswith("tracer-guest-") and run.problem is None:
        shutil.rmtree(run.outdir, ignore_errors=True)


def _prepare(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Union[vmharness.GuestRun, GuestUnavailable]:
    host_release = os.uname().release
    problem = vmharness.prerequisites_problem()
    if problem:
        return GuestUnavailable(problem)
    kernel, why = vmharness.find_guest_kernel(host_release)
    if kernel is None:
        return GuestUnavailable(why + "; run scripts/setup")
    all_ids, error = _guest_ids()
    if error:
        return GuestUnavailable(error)
    # Only what the host selected (-k, node ids) runs in the guest: every test there is slow.
    selected = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        nodeid = callspec.params.get("guest_test") if callspec else None
        if isinstance(nodeid, str):
            selected.append(nodeid)
    try:
        boot_timeout = vmharness.env_seconds("TRACER_VM_BOOT_TIMEOUT", vmharness.BOOT_TIMEOUT)
        run_timeout = vmharness.env_seconds("TRACER_VM_TIMEOUT", 0) or None
    except ValueError as e:
        return GuestUnavailable(str(e))
    outdir = tmp_path_factory.mktemp("guest")
    if not vmharness.guest_visible_dir(outdir):
        # e.g. a --basetemp under /var/tmp, which is a fresh tmpfs in the guest; this one is
        # removed after a run without problems.
        outdir = Path(tempfile.mkdtemp(prefix="tracer-guest-", dir="/tmp"))
    return vmharness.GuestRun(kernel=kernel, outdir=outdir, nodeids=selected or list(all_ids),
                              host_release=host_release, boot_timeout=boot_timeout,
                              run_timeout=run_timeout)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    run = config.stash.get(_RUN_KEY, None)
    if run is None:
        return
    terminalreporter.section("second kernel (tests/vm)")
    terminalreporter.write_line(run.summary())
    if run.problem or run.pytest_exit not in (0, None):
        terminalreporter.write_line(f"  guest console, pytest log and results: {run.outdir}")
