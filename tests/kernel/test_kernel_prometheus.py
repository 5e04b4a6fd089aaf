"""--metrics scraped by a real Prometheus server (Debian's `prometheus`, installed by
scripts/test), run on loopback by the test: Prometheus's own HTTP API then gives the workload's
exact count and a histogram's buckets, as a fleet's dashboards would see them."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

pytestmark = pytest.mark.kernel

CALLS = 137
PROGRAM = ('tracepoint:syscalls:sys_enter_getppid /comm == "tk_loop"/ '
           '{ @calls[comm] = count(); @h = hist(7); @l = lhist(5, 0, 10, 5); }')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def prometheus(tmp_path):
    """Start a Prometheus server scraping 127.0.0.1:<port> every second; yields
    (port to serve tracer's metrics on, query function)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed; scripts/test installs it "
                    "(scripts/setup with TRACER_SETUP_TESTS=1)", pytrace=False)
    target, web = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                      "scrape_configs:\n  - job_name: tracer\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{target}']\n")
    log = open(tmp_path / "prometheus.log", "w")
    server = subprocess.Popen([binary, f"--config.file={config}",
                               f"--storage.tsdb.path={tmp_path / 'data'}",
                               f"--web.listen-address=127.0.0.1:{web}"],
                              stdout=log, stderr=subprocess.STDOUT)

    def query(expr: str) -> list:
        url = f"http://127.0.0.1:{web}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        answer = _get_json(url)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    try:
        yield target, query
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _wait_for(query, expr: str, want: str, timeout: float = 60) -> list:
    """The query's result once its first sample has the value ``want`` (Prometheus scrapes
    each second; the first scrapes may come before the workload ran)."""
    deadline = time.monotonic() + timeout
    result: list = []
    while time.monotonic() < deadline:
        try:
            result = query(expr)
        except OSError:  # the server is still starting
            result = []
        if result and result[0]["value"][1] == want:
            return result
        time.sleep(0.5)
    pytest.fail(f"Prometheus never gave {expr} = {want}; last answer: {result}", pytrace=False)


def test_prometheus_scrapes_the_exact_count_and_buckets(prometheus, live, workload):
    port, query = prometheus
    tracer = live.tracer("--metrics", port, "--metrics-labels", "@calls=comm", "-e", PROGRAM)
    tracer.wait_for_stderr("Attached 1 probe", 60)
    subprocess.run([workload("tk_loop"), str(CALLS)], check=True)

    calls = _wait_for(query, 'tracer_calls_total{comm="tk_loop"}', str(CALLS))
    assert len(calls) == 1 and calls[0]["metric"]["job"] == "tracer", calls
    # hist(7): every value in the [4, 8) bucket, so none at or under 3 and all at or under 7.
    assert _wait_for(query, 'tracer_h_bucket{le="3"}', "0")
    assert _wait_for(query, 'tracer_h_bucket{le="7"}', str(CALLS))
    assert _wait_for(query, 'tracer_h_bucket{le="+Inf"}', str(CALLS))
    # lhist(5, 0, 10, 5): the [5, 10) bucket, whose values are at most 9.
    assert _wait_for(query, 'tracer_l_bucket{le="4"}', "0")
    assert _wait_for(query, 'tracer_l_bucket{le="9"}', str(CALLS))
    # What a fleet's query makes of it: the median lies in the [5, 10) bucket (Prometheus
    # interpolates inside a bucket), read once the buckets above are in.
    median = float(query("histogram_quantile(0.5, tracer_l_bucket)")[0]["value"][1])
    assert 4 < median <= 9, median
    assert _wait_for(query, "tracer_probes_attached", "1")
    assert _wait_for(query, "tracer_events_lost_total", "0")
    assert _wait_for(query, 'up{job="tracer"}', "1")

    tracer.proc.send_signal(2)
    done = tracer.finish(60)
    assert done.returncode == 0, done.stderr
    assert f"@calls[tk_loop]: {CALLS}\n" in done.stdout
