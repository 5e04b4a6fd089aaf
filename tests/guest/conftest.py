"""Tests that run inside the second kernel (Debian's, booted under qemu by tests/vm).

``scripts/test tests/vm`` boots it once and runs every test here in it; tests/vm/vmharness.py
says how, and how to add a test. The host's own pytest run does not collect this directory
(its kernel may lack what these tests are for), and run by hand on the host these tests refuse.

Here too the fixtures of tests/conftest.py apply (``run_tracer``, ``workload``, the ``kernel``
marker's checks); this file adds the guest's facts, a longer default limit on a tracer run (the
guest is emulated: a BCC compile takes 10-30 s), and the reporter that streams each test's
outcome to the host.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Optional

import pytest

IN_GUEST = os.environ.get("TRACER_GUEST") == "1"
# Set by the harness when it lists these tests on the host: collected, never run there.
COLLECTING = os.environ.get("TRACER_GUEST_COLLECT") == "1"

# One tracer run in the guest, compile included: about 15-30 s on an idle machine, several
# times that when the host is busy. tests/vm gives up on the guest later than this
# (vmharness.STALL_TIMEOUT), so a hung run fails here, with its output.
GUEST_TRACER_TIMEOUT = 300


def pytest_ignore_collect(collection_path, config: pytest.Config) -> Optional[bool]:
    # Only files inside this directory get here (a conftest's hooks are scoped to it).
    return None if IN_GUEST or COLLECTING else True


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


# Session-scoped so that it comes before the other session fixtures (guest_facts would fail).
@pytest.fixture(scope="session", autouse=True)
def _only_in_the_guest() -> None:
    # Reached only when someone names a file here on the host (a directory is not collected).
    if IN_GUEST:
        return
    reason = "runs only inside the second kernel: scripts/test tests/vm"
    if _env_true("TRACER_REQUIRE_KERNEL") or _env_true("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class GuestFacts:
    expected_release: str  # the kernel the harness booted
    host_release: str  # the kernel of the machine that booted it


@pytest.fixture(scope="session")
def guest_facts() -> GuestFacts:
    try:
        return GuestFacts(os.environ["TRACER_GUEST_EXPECTED_RELEASE"],
                          os.environ["TRACER_HOST_RELEASE"])
    except KeyError as e:
        pytest.fail(f"{e.args[0]} is not set: is this pytest running under tests/vm?",
                    pytrace=False)


@pytest.fixture
def run_tracer(run_tracer):
    """tests/conftest.py's ``run_tracer``, with a limit fit for an emulated machine."""

    def run(*args, timeout: float = GUEST_TRACER_TIMEOUT, **kwargs):
        return run_tracer(*args, timeout=timeout, **kwargs)

    return run


# ---------------------------------------------------------------------------------------------
# Streaming outcomes to the host: one JSON object a line, appended as each phase ends, to the
# file the harness shares into the guest.


def _emit(record: dict) -> None:
    path = os.environ.get("TRACER_GUEST_RESULTS")
    if not path:
        return
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def pytest_runtest_logstart(nodeid: str, location) -> None:
    _emit({"event": "start", "nodeid": nodeid})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record = {"event": "report", "nodeid": report.nodeid, "when": report.when,
              "outcome": report.outcome, "duration": report.duration}
    if report.failed:
        record["text"] = report.longreprtext
        record["sections"] = [list(s) for s in report.sections]
    elif report.skipped:
        # A skip's longrepr is (file, line, reason).
        longrepr = report.longrepr
        record["text"] = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    _emit(record)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _emit({"event": "collect_error", "nodeid": report.nodeid, "text": report.longreprtext})
