"""--metrics on the real kernel: a scrape while tracing gives the workload's exact counts, a
histogram's cumulative buckets, labels named by --metrics-labels, and tracer's health."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request

import pytest

pytestmark = pytest.mark.kernel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def _scrape(port: int, accept: str = "") -> tuple[str, str]:
    """(content type, text) of one scrape, asking for ``accept``'s format."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def _traced(live, workload, port: int, program: str, calls: int, *options: str) -> int:
    """Start tracer serving --metrics on ``port``, run tk_loop ``calls`` times once every probe
    is attached; the workload's pid."""
    tracer = live.tracer("--metrics", port, *options, "-e", program)
    tracer.wait_for_stderr("Attached 1 probe", 60)
    loop = subprocess.Popen([workload("tk_loop"), str(calls)])
    assert loop.wait(timeout=60) == 0
    return loop.pid


def test_a_scrape_gives_the_exact_counts_in_both_formats(live, workload):
    port = _free_port()
    prog = ("tracepoint:syscalls:sys_enter_getppid /comm == \"tk_loop\"/ "
            "{ @calls[comm, pid] = count(); @h = hist(7); @s = stats(3); @last = 5; }")
    pid = _traced(live, workload, port, prog, 123, "--metrics-labels", "@calls=comm,pid")
    kind, text = _scrape(port)
    assert kind.startswith("text/plain; version=0.0.4"), kind
    assert f'tracer_calls_total{{comm="tk_loop",pid="{pid}"}} 123.0\n' in text, text
    assert "# TYPE tracer_calls_total counter" in text and "# TYPE tracer_last gauge" in text
    assert 'tracer_h_bucket{le="3"} 0.0' in text and 'tracer_h_bucket{le="7"} 123.0' in text
    assert 'tracer_h_bucket{le="+Inf"} 123.0' in text
    assert "tracer_s_count 123.0" in text and "tracer_s_sum 369.0" in text
    assert "tracer_last 5.0" in text
    assert "tracer_probes_attached 1.0" in text and "tracer_events_lost_total 0.0" in text
    assert "tracer_maps_full_total 0.0" in text

    # A scraper that asks for OpenMetrics (Prometheus does) gets it, ended by its EOF marker.
    kind, text = _scrape(port, OPENMETRICS)
    assert kind.startswith("application/openmetrics-text; version=1.0.0"), kind
    assert text.endswith("# EOF\n"), text[-200:]
    assert f'tracer_calls_total{{comm="tk_loop",pid="{pid}"}} 123.0\n' in text, text
    assert "# TYPE tracer_calls counter" in text and "# TYPE tracer_h histogram" in text


def test_full_maps_are_counted(live, workload):
    """A map of 4 keys that 123 distinct keys try to fill: 119 updates refused."""
    port = _free_port()
    prog = ("config = { max_map_keys = 4 } tracepoint:syscalls:sys_enter_getppid "
            "/comm == \"tk_loop\"/ { @k[nsecs] = count(); }")
    _traced(live, workload, port, prog, 123)
    deadline = time.monotonic() + 30
    while True:  # the refusals reach tracer as events, read between polls
        _, text = _scrape(port)
        if "tracer_maps_full_total 119.0" in text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "tracer_maps_full_total 119.0\n" in text, text
    assert len(re.findall(r"^tracer_k_total\{", text, re.M)) == 4, text


def test_an_address_it_cannot_bind_is_an_error_before_tracing(run_tracer):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_tracer("--metrics", str(busy.getsockname()[1]), "-e",
                          "tracepoint:syscalls:sys_enter_getppid { @ = count(); }")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot serve there: Address already in use" in proc.stderr, proc.stderr


def test_a_map_named_like_a_health_metric_is_refused_before_loading(run_tracer):
    proc = run_tracer("--metrics", str(_free_port()), "-e",
                      "tracepoint:syscalls:sys_enter_getppid { @events_lost = count(); }")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("tracer: error: --metrics: @events_lost would be exported "
                                  "as tracer_events_lost, as tracer's own health metric is\n"), \
        proc.stderr
