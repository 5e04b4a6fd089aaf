"""--metrics on the real kernel: a scrape while tracing gives the workload's exact counts, a
histogram's cumulative buckets, labels named by --metrics-labels, and tracer's health."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.kernel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_scrape_gives_the_exact_counts(workload):
    port = _free_port()
    prog = ("tracepoint:syscalls:sys_enter_getppid /comm == \"tk_loop\"/ "
            "{ @calls[comm, pid] = count(); @h = hist(7); @s = stats(3); }")
    tracer = subprocess.Popen([sys.executable, "-m", "tracer", "--metrics", str(port),
                               "--metrics-labels", "@calls=comm,pid", "-e", prog],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = tracer.stderr.readline()
        assert said == "Attached 1 probe\n", said + tracer.stderr.read()
        loop = subprocess.run([workload("tk_loop"), "123"], check=True)
        text = _scrape(port)
    finally:
        tracer.send_signal(2)
        tracer.communicate(timeout=60)
    pid = re.search(r'tracer_calls_total\{comm="tk_loop",pid="(\d+)"\} (\S+)', text)
    assert pid and float(pid.group(2)) == 123.0, text
    assert 'tracer_h_bucket{le="3"} 0.0' in text and 'tracer_h_bucket{le="7"} 123.0' in text
    assert 'tracer_h_bucket{le="+Inf"} 123.0' in text
    assert "tracer_s_count 123.0" in text and "tracer_s_sum 369.0" in text
    assert "tracer_probes_attached 1.0" in text and "tracer_events_lost_total 0.0" in text
    assert loop.returncode == 0


def test_an_address_it_cannot_bind_is_an_error_before_tracing(run_tracer):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_tracer("--metrics", str(busy.getsockname()[1]), "-e",
                          "tracepoint:syscalls:sys_enter_getppid { @ = count(); }")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot serve there: Address already in use" in proc.stderr, proc.stderr
