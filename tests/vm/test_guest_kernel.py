"""The tests of tests/guest, run inside the second kernel (one boot for all of them) and
reported here one by one. ``vmharness.py`` says how, and how to add a guest test."""

from __future__ import annotations

import pytest

import vmharness
from vmharness import CollectionFailure, GuestUnavailable

pytestmark = pytest.mark.vm


def _booted(guest_run) -> vmharness.GuestRun:
    if isinstance(guest_run, GuestUnavailable):
        reason = f"cannot boot the second kernel here: {guest_run.reason}"
        if vmharness.kernel_required():
            pytest.fail(f"{reason} (TRACER_REQUIRE_KERNEL=1 or CI=true: skipping is not "
                        f"allowed)", pytrace=False)
        pytest.skip(reason)
    return guest_run


def test_guest_run(guest_run):
    """The guest booted the kernel it was meant to and ran its pytest to the end."""
    run = _booted(guest_run)
    if run.problem:
        pytest.fail(f"{run.problem}\n$ {' '.join(run.argv)}\n"
                    f"--- guest console (last lines; all of it in {run.console_path}) ---\n"
                    f"{run.console_tail()}\n--- guest pytest log (last lines) ---\n"
                    f"{run.pytest_log_tail()}", pytrace=False)
    assert run.guest_release == run.kernel.release, "the guest ran another kernel"
    if run.collect_errors:
        pytest.fail("collecting the guest tests failed in the guest:\n"
                    + "\n".join(run.collect_errors), pytrace=False)
    # 1 is "some tests failed", which their own host tests report; anything else (no tests,
    # usage error, internal error) is the run's own failure.
    if run.pytest_exit not in (0, 1):
        pytest.fail(f"pytest in the guest exited with {run.pytest_exit}:\n"
                    f"{run.pytest_log_tail()}", pytrace=False)


def test_guest(guest_test, guest_run):
    """One test of tests/guest, as it went inside the second kernel."""
    if isinstance(guest_test, CollectionFailure):
        pytest.fail(guest_test.text, pytrace=False)
    run = _booted(guest_run)
    kind, message = vmharness.verdict(guest_test, run, vmharness.kernel_required())
    if kind == "fail":
        pytest.fail(message, pytrace=False)
    if kind == "skip":
        pytest.skip(message)
