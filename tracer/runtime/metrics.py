"""``--metrics ADDR:PORT``: the program's maps served to Prometheus (its text format, and
OpenMetrics to a scraper that asks for it), read from the kernel at each scrape.

Each map is one metric family named after it (``@reqs`` is ``tracer_reqs``), its keys labels
(named by ``--metrics-labels '@reqs=comm,pid'``, else ``key0``, ``key1`` ...). How a map's
values are exported follows what filled them (``METRIC_KINDS``): counts and sums only grow, so
they are counters; plain values, minima, maxima and averages are gauges; ``hist`` and ``lhist``
are histograms with cumulative ``le`` buckets (a bucket of integers [lo, hi) holds values up to
hi - 1); ``stats`` is a summary (count and sum). tracer's own health is exported beside them.

The server (prometheus_client's) answers on a thread of its own: a scrape reads the maps with
the same batched lookups the exit print uses, and never holds up the event loop.
"""

from __future__ import annotations

import difflib
import re
import time
from typing import Callable, Iterator, Mapping, Optional, Sequence

from ..diagnostics import TracerError
from ..output.base import MapSnapshot
from ..output.text import format_value
from ..values import Histogram, Stats

DEFAULT_HOST = "127.0.0.1"
PREFIX = "tracer_"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (loopback): where to serve."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise TracerError(f"--metrics {text}: the port must be a number from 1 to 65535",
                          hint="for example --metrics 127.0.0.1:9435")
    return (host.strip("[]") or DEFAULT_HOST), number


def parse_labels(text: Optional[str]) -> dict[str, list[str]]:
    """``'@reqs=comm,pid;@lat=cpu'``: the label names of each map's key parts."""
    names: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        name, eq, labels = part.partition("=")
        wanted = [label.strip() for label in labels.split(",") if label.strip()]
        bad = [label for label in wanted if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label)]
        if not eq or not name.startswith("@") or not wanted or bad:
            raise TracerError(f"--metrics-labels: cannot read '{part}'",
                              hint="write MAP=LABEL,LABEL, maps separated by ';': "
                                   "'@reqs=comm,pid;@lat=cpu'")
        names[name.strip()] = wanted
    return names


def metric_name(map_name: str) -> str:
    bare = re.sub(r"[^a-zA-Z0-9_]", "_", map_name.lstrip("@")) or "map"
    return PREFIX + bare


class MapsCollector:
    """A prometheus_client collector: every map, read when Prometheus asks."""

    def __init__(self, read: Callable[[str], MapSnapshot], names: Sequence[str],
                 labels: Mapping[str, list[str]], health: Callable[[], dict]):
        self.read, self.names, self.labels, self.health = read, list(names), labels, health
        self.last_duration = 0.0
        self.errors = 0  # maps a scrape could not read

    def collect(self) -> Iterator:
        started = time.monotonic()
        for name in self.names:
            try:
                snapshot = self.read(name)
            except Exception:  # noqa: BLE001 - a scrape must not print a traceback on the
                # trace's terminal (the HTTP server would); the map is left out and counted.
                self.errors += 1
                continue
            kind = METRIC_KINDS.get(snapshot.aggregation, _gauge)
            yield kind(metric_name(name), f"the map {name}", snapshot,
                       self._label_names(name, snapshot))
        yield from _health({**self.health(), "scrape_errors": self.errors,
                            "scrape_duration": self.last_duration})
        self.last_duration = time.monotonic() - started

    def _label_names(self, name: str, snapshot: MapSnapshot) -> list[str]:
        if not snapshot.keyed:
            return []
        width = max((len(k) if isinstance(k, tuple) else 1 for k, _ in snapshot.entries),
                    default=len(self.labels.get(name, [])))
        given = self.labels.get(name, [])
        return [given[i] if i < len(given) else f"key{i}" for i in range(width)]


def _label_values(key) -> list[str]:
    parts = key if isinstance(key, tuple) else () if key is None else (key,)
    return [format_value(part) for part in parts]


def _counter(name, doc, snapshot, label_names):
    from prometheus_client.core import CounterMetricFamily
    family = CounterMetricFamily(name, doc, labels=label_names)
    for key, value in snapshot.entries:
        if isinstance(value, int):
            family.add_metric(_label_values(key), value)
    return family


def _gauge(name, doc, snapshot, label_names):
    from prometheus_client.core import GaugeMetricFamily
    family = GaugeMetricFamily(name, doc, labels=label_names)
    for key, value in snapshot.entries:
        if isinstance(value, (int, bool)):  # a string or a stack has no number to export
            family.add_metric(_label_values(key), int(value))
    return family


def _histogram(name, doc, snapshot, label_names):
    # Buckets only: hist() and lhist() keep no sum of their values (bpftrace's neither), and
    # the count is the +Inf bucket's, as OpenMetrics allows.
    from prometheus_client.core import HistogramMetricFamily
    family = HistogramMetricFamily(name, doc, labels=label_names)
    for key, value in snapshot.entries:
        if isinstance(value, Histogram):
            family.add_metric(_label_values(key), cumulative_buckets(value), None)
    return family


def _summary(name, doc, snapshot, label_names):
    from prometheus_client.core import SummaryMetricFamily
    family = SummaryMetricFamily(name, doc, labels=label_names)
    for key, value in snapshot.entries:
        if isinstance(value, Stats):
            family.add_metric(_label_values(key), value.count, value.total)
    return family


def cumulative_buckets(hist: Histogram) -> list[tuple[str, int]]:
    """Prometheus's buckets of a histogram: for each upper bound, how many values are at most
    it, then +Inf with them all."""
    buckets, running = [], 0
    for bucket in hist.buckets:
        running += bucket.count
        if bucket.hi is not None:
            buckets.append((str(bucket.hi - 1), running))
    buckets.append(("+Inf", running))
    return buckets


# What filled a map -> how its values are exported.
METRIC_KINDS: dict[str, Callable] = {
    "count": _counter, "sum": _counter,
    "": _gauge, "min": _gauge, "max": _gauge, "avg": _gauge,
    "hist": _histogram, "lhist": _histogram,
    "stats": _summary,
}


# tracer's own health, exported beside the maps: (metric, type, help, the fact it reports).
HEALTH = (
    ("events_lost", "counter", "events the ring buffer dropped", "lost"),
    ("probes_attached", "gauge", "probes attached", "probes"),
    ("maps_full", "counter", "map updates the kernel refused because the map was full",
     "maps_full"),
    ("scrape_errors", "counter", "maps a scrape could not read from the kernel",
     "scrape_errors"),
    ("scrape_duration_seconds", "gauge", "how long the previous scrape took to read the maps",
     "scrape_duration"),
)


def _health(facts: dict) -> Iterator:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    families = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}
    for name, kind, doc, fact in HEALTH:
        family = families[kind](PREFIX + name, doc)
        family.add_metric([], facts.get(fact, 0))
        yield family


def check_names(map_names: Sequence[str], labels: Mapping[str, list[str]]) -> None:
    """Before serving: every map must have a metric of its own (two families of one name, or
    one of tracer's health metrics, would make Prometheus refuse the whole scrape), and the
    labels named for a map must be distinct and not Prometheus's own."""
    owners = {PREFIX + name: "tracer's own health metric" for name, *_ in HEALTH}
    for map_name in map_names:
        # A counter's family drops the _total its sample carries: @x_total is tracer_x too.
        family = re.sub(r"_total$", "", metric_name(map_name))
        if family in owners:
            raise TracerError(f"--metrics: {map_name} would be exported as {family}, as "
                              f"{owners[family]} is", hint="rename the map")
        owners[family] = f"the map {map_name}"
    for map_name, names in labels.items():
        if map_name not in map_names:
            close = difflib.get_close_matches(map_name, map_names, n=1)
            raise TracerError(f"--metrics-labels: the program has no map {map_name}",
                              hint=f"did you mean {close[0]}?" if close else
                              "its maps: " + (", ".join(map_names) or "none"))
        reserved = [n for n in names if n in ("le", "quantile") or n.startswith("__")]
        if reserved or len(set(names)) != len(names):
            raise TracerError(f"--metrics-labels: the labels of {map_name} must be distinct and "
                              "not le, quantile or __*: " + ",".join(names),
                              hint="Prometheus gives those names meanings of its own")


class MetricsServer:
    """The endpoint, serving from its own thread until ``close``."""

    def __init__(self, host: str, port: int, collector: MapsCollector):
        from prometheus_client import CollectorRegistry, start_http_server
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        try:
            self.server, self.thread = start_http_server(port, host, registry)
        except OSError as err:
            raise TracerError(f"--metrics {host}:{port}: cannot serve there: {err.strerror}",
                              hint="choose another port, or stop what listens on it") from None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
