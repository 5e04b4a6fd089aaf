"""The --metrics exposition, without a kernel: maps as prometheus_client renders them in both
text formats (kinds, labels and their escaping, cumulative buckets), and the option's parsing."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from tracer.diagnostics import TracerError
from tracer.output.base import MapSnapshot
from tracer.runtime.metrics import (MapsCollector, check_names, cumulative_buckets, metric_name,
                                    parse_address, parse_labels)
from tracer.values import Bucket, Histogram, Stats

LOG2 = Histogram("log2", (Bucket(None, 0, 1), Bucket(0, 1, 0), Bucket(1, 2, 3),
                          Bucket(2, 4, 5), Bucket(4, 8, 2)))
LINEAR = Histogram("linear", (Bucket(None, 0, 4), Bucket(0, 10, 6), Bucket(10, 20, 0),
                              Bucket(20, None, 7)))


def _exposition(maps: dict, labels: dict = None, health: dict = None,
                openmetrics: bool = False) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MapsCollector(maps.__getitem__, sorted(maps), labels or {},
                                    lambda: health or {}))
    return (generate_openmetrics if openmetrics else generate_latest)(registry).decode()


def test_each_aggregation_has_its_metric_type():
    maps = {
        "@calls": MapSnapshot("@calls", True, [(("bash", 7), 3), (("sshd", 9), 11)], "count"),
        "@bytes": MapSnapshot("@bytes", False, [(None, 4096)], "sum"),
        "@top": MapSnapshot("@top", True, [("a", 12)], "max"),
        "@mean": MapSnapshot("@mean", False, [(None, 40)], "avg"),
        "@size": MapSnapshot("@size", False, [(None, LOG2)], "hist"),
        "@lat": MapSnapshot("@lat", False, [(None, Stats(4, 100))], "stats"),
    }
    text = _exposition(maps, {"@calls": ["comm", "pid"]})
    assert "# TYPE tracer_calls_total counter" in text
    assert 'tracer_calls_total{comm="bash",pid="7"} 3.0' in text
    assert 'tracer_calls_total{comm="sshd",pid="9"} 11.0' in text
    assert "tracer_bytes_total 4096.0" in text
    assert "# TYPE tracer_top gauge" in text and 'tracer_top{key0="a"} 12.0' in text
    assert "# TYPE tracer_mean gauge" in text and "tracer_mean 40.0" in text
    assert "# TYPE tracer_size histogram" in text
    assert 'tracer_size_bucket{le="+Inf"} 11.0' in text
    assert "# TYPE tracer_lat summary" in text
    assert "tracer_lat_count 4.0" in text and "tracer_lat_sum 100.0" in text


def test_buckets_are_cumulative_with_integer_upper_bounds():
    # [lo, hi) of integers holds values up to hi - 1: that is the bucket's `le`.
    assert cumulative_buckets(LOG2) == [("-1", 1), ("0", 1), ("1", 4), ("3", 9), ("7", 11),
                                        ("+Inf", 11)]
    assert cumulative_buckets(LINEAR) == [("-1", 4), ("9", 10), ("19", 10), ("+Inf", 17)]


def test_labels_unnamed_are_numbered_and_named_ones_may_be_partial():
    maps = {"@m": MapSnapshot("@m", True, [(("x", 1, 2), 5)], "count")}
    assert 'tracer_m_total{key0="x",key1="1",key2="2"} 5.0' in _exposition(maps)
    named = _exposition(maps, {"@m": ["comm"]})
    assert 'tracer_m_total{comm="x",key1="1",key2="2"} 5.0' in named


@pytest.mark.parametrize("openmetrics", [False, True])
def test_label_values_are_escaped_as_the_format_requires(openmetrics):
    awkward = 'say "hi"\\now\nnext'
    maps = {"@m": MapSnapshot("@m", True, [(awkward, 1)], "count")}
    text = _exposition(maps, openmetrics=openmetrics)
    assert 'tracer_m_total{key0="say \\"hi\\"\\\\now\\nnext"} 1.0' in text, text
    assert text.endswith("# EOF\n") == openmetrics


def test_values_without_a_number_are_left_out():
    maps = {"@names": MapSnapshot("@names", True, [(1, "bash"), (2, 7)], "")}
    text = _exposition(maps)
    assert 'tracer_names{key0="2"} 7.0' in text
    assert 'key0="1"' not in text


def test_health_is_exported():
    text = _exposition({}, health={"lost": 3, "probes": 2, "maps_full": 5})
    assert "tracer_events_lost_total 3.0" in text
    assert "tracer_probes_attached 2.0" in text
    assert "tracer_maps_full_total 5.0" in text
    assert "tracer_scrape_duration_seconds" in text


def test_metric_names_are_made_valid():
    assert metric_name("@") == "tracer_map"
    assert metric_name("@reqs") == "tracer_reqs"
    assert metric_name("@a.b") == "tracer_a_b"


@pytest.mark.parametrize("text, want", [("9435", ("127.0.0.1", 9435)),
                                        ("0.0.0.0:80", ("0.0.0.0", 80)),
                                        ("[::1]:9000", ("::1", 9000))])
def test_addresses(text, want):
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["", "host:", "host:port", "0", "70000"])
def test_bad_addresses_say_what_a_port_is(text):
    with pytest.raises(TracerError, match="the port must be a number from 1 to 65535"):
        parse_address(text)


def test_label_specs():
    assert parse_labels("@reqs=comm,pid; @lat=cpu") == {"@reqs": ["comm", "pid"],
                                                        "@lat": ["cpu"]}
    assert parse_labels(None) == {}
    for bad in ("reqs=comm", "@reqs", "@reqs=", "@reqs=9x"):
        with pytest.raises(TracerError, match="cannot read"):
            parse_labels(bad)


def test_a_map_that_cannot_be_read_is_left_out_and_counted():
    def read(name):
        if name == "@bad":
            raise OSError(9, "Bad file descriptor")
        return MapSnapshot(name, False, [(None, 1)], "count")

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MapsCollector(read, ["@bad", "@good"], {}, dict))
    text = generate_latest(registry).decode()
    assert "tracer_good_total 1.0" in text and "tracer_bad" not in text
    assert "tracer_scrape_errors_total 1.0" in text


@pytest.mark.parametrize("names", [["@events_lost"], ["@maps_full_total"], ["@a.b", "@a_b"],
                                   ["@", "@map"]])
def test_two_metrics_of_one_name_are_refused(names):
    with pytest.raises(TracerError, match="would be exported as tracer_"):
        check_names(names, {})


def test_distinct_names_pass():
    check_names(["@", "@calls", "@lat", "@events"], {"@calls": ["comm", "pid"]})


@pytest.mark.parametrize("labels", [["le"], ["quantile"], ["__name"], ["comm", "comm"]])
def test_labels_prometheus_owns_or_repeated_are_refused(labels):
    with pytest.raises(TracerError, match="must be distinct and not le, quantile"):
        check_names(["@m"], {"@m": labels})


def test_labels_for_a_map_the_program_lacks_are_refused():
    with pytest.raises(TracerError, match="the program has no map @req") as err:
        check_names(["@reqs", "@lat"], {"@req": ["comm"]})
    assert err.value.hint == "did you mean @reqs?"
