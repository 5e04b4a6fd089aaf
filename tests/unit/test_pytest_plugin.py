"""tracer's pytest plugin, as a user's suite meets it: run by pytest in a directory of its
own (so that none of this project's conftest applies), through the installed entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tracer.pytest_plugin import _probe_gap

# A probe type this kernel cannot attach (this project's VMs have no hardware counters and no
# kprobes), or None on a machine that has them all.
MISSING = next((name for name in ("hardware", "kprobe", "fentry") if _probe_gap(name)), None)

SUITE = textwrap.dedent(f"""
    import pytest

    @pytest.mark.tracer_needs("tracepoint", "interval")
    def test_compiles(tracing):
        assert [s.target.name for s in tracing.compile("BEGIN {{ exit(); }}").sites] == ["BEGIN"]

    @pytest.mark.tracer_needs({MISSING or "tracepoint"!r})
    def test_needs_what_is_missing():
        pass

    def test_maps():
        assert {{"@": {{(1, "a"): 2}}, "@n": 3}} == {{"@": {{(1, "a"): 5}}, "@n": 3}}
""")


def _pytest(tmp_path, *args) -> subprocess.CompletedProcess:
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k != "TRACER_REQUIRE_KERNEL"}
    return subprocess.run([sys.executable, "-m", "pytest", "-rsf", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "test_suite.py", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_fixture_the_marker_and_the_picture_of_differing_maps(tmp_path):
    out = _pytest(tmp_path).stdout
    if MISSING:
        assert "1 failed, 1 passed, 1 skipped" in out, out
        assert f": {MISSING} probes: " in out.split("SKIPPED [1] ")[1].splitlines()[0]
    else:
        assert "1 failed, 2 passed" in out, out
    assert "the maps differ (as bpftrace prints them):" in out
    assert "@[1, a]: 2" in out and "@[1, a]: 5" in out and "@n: 3" in out


def test_required_features_fail_instead_of_skipping(tmp_path):
    out = _pytest(tmp_path, "--tracer-require").stdout
    if MISSING:
        # Failed in its setup, where the marker is read: pytest counts that an error.
        assert "1 failed, 1 passed, 1 error" in out, out
        assert f"this kernel lacks what the test needs: {MISSING} probes: " in out
    else:
        assert "1 failed, 2 passed" in out, out
