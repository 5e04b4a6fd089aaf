"""tracer's pytest plugin, installed with the package (the ``pytest11`` entry point): for test
suites that check a machine's tracing.

- The ``tracing`` fixture is the Python API (``tracing.run(...)``, ``tracing.trace(...)``,
  ``tracing.compile(...)``; see ``tracer.api``).
- ``@pytest.mark.tracer_needs("kprobe", "fentry")`` skips a test where this kernel cannot attach
  those probe types, saying why (the reasons ``tracer doctor`` gives); ``--tracer-require`` (or
  ``TRACER_REQUIRE_KERNEL=1`` in the environment) makes that a failure instead, for CI where a
  missing feature means a broken machine.
- An ``==`` between two sets of maps (``result.maps == {...}``) that fails shows both as
  bpftrace prints them, side by side.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import pytest

REQUIRE_OPTION = "--tracer-require"
REQUIRE_ENV = "TRACER_REQUIRE_KERNEL"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("tracer")
    group.addoption(REQUIRE_OPTION, action="store_true", default=False,
                    help="fail, rather than skip, a test marked tracer_needs whose probe types "
                         f"this kernel cannot attach (also {REQUIRE_ENV}=1)")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "tracer_needs(*probe_types): skip unless this kernel can attach these probe "
                   "types (kprobe, fentry, uprobe, hardware ...), with the reason")


@pytest.fixture
def tracing():
    """tracer's Python API: ``tracing.run``, ``tracing.trace``, ``tracing.compile``."""
    from . import api
    return api


def pytest_runtest_setup(item) -> None:
    wanted = [name for marker in item.iter_markers("tracer_needs") for name in marker.args]
    if not wanted:
        return
    gaps = [gap for gap in map(_probe_gap, wanted) if gap]
    if not gaps:
        return
    message = "; ".join(gaps)
    if item.config.getoption(REQUIRE_OPTION) or os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"this kernel lacks what the test needs: {message}", pytrace=False)
    pytest.skip(message)


def _probe_gap(name: str) -> Optional[str]:
    """Why this kernel (or tracer) cannot attach probes of this type, or None if it can."""
    from .doctor import PROBE_NEEDS, probe_type
    from .providers import REGISTRY

    provider = REGISTRY.get(name)
    if provider is None and name not in PROBE_NEEDS:
        return f"{name} is not a probe type"
    canonical = provider.name if provider is not None else name
    support = probe_type(canonical, provider)
    return None if support.ok else f"{canonical} probes: {support.why}"


def pytest_assertrepr_compare(op: str, left: Any, right: Any) -> Optional[list[str]]:
    if op != "==" or not (_are_maps(left) and _are_maps(right)):
        return None
    return ["the maps differ (as bpftrace prints them):", *_side_by_side(left, right)]


def _are_maps(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and \
        all(isinstance(k, str) and k.startswith("@") for k in value)


def _side_by_side(got: dict, wanted: dict) -> list[str]:
    from rich.console import Console
    from rich.table import Table

    table = Table("map", "this run", "expected", show_lines=True)
    for name in sorted(set(got) | set(wanted)):
        table.add_row(name, _shown(name, got), _shown(name, wanted),
                      style=None if got.get(name) == wanted.get(name) else "bold")
    console = Console(width=100, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(table)
    return console.export_text().rstrip("\n").splitlines()


def _shown(name: str, maps: dict) -> str:
    """A map as bpftrace's text shows its entries (what a missing map lacks, said)."""
    from .output.text import format_key, format_value

    def text(value: Any) -> str:
        try:
            return format_value(value)
        except TypeError:  # a histogram or stats object: its fields
            return repr(value)

    if name not in maps:
        return "(no such map)"
    value = maps[name]
    if isinstance(value, dict):
        return "\n".join(f"{name}{format_key(k)}: {text(v)}"
                         for k, v in value.items()) or "(empty)"
    return "(empty)" if value is None else f"{name}: {text(value)}"
