"""scripts/deploy: the DaemonSet that runs tracer with --metrics on every node, the probe script
its ConfigMap holds, the Prometheus job that scrapes it, and the PromQL the READMEs show. Each
is checked against the others and against tracer itself (its command line parser, its compiler,
its metrics collector), so that none of them can drift: a renamed map, a changed port or label,
an option placed after the script would each fail here rather than in a cluster."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Optional

import pytest
import yaml

from tracer import ast
from tracer.cli import cli
from tracer.compiler import compile_program
from tracer.output.base import MapSnapshot
from tracer.passes.resources import MapResource
from tracer.runtime.metrics import MapsCollector, parse_address, parse_labels
from tracer.types import AggregateType, TupleType
from tracer.values import Bucket, Histogram, Stats

MAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(MAIN, "scripts", "deploy")
DAEMONSET_FILE = os.path.join(DEPLOY, "tracer-daemonset.yaml")
SCRAPE_FILE = os.path.join(DEPLOY, "prometheus-scrape.yaml")
READMES = {"README.md": os.path.join(MAIN, "README.md"),
           "scripts/deploy/README.md": os.path.join(DEPLOY, "README.md")}
# The kernel headers BCC compiles against (README: "In a container").
HOST_HEADER_DIRS = ("/lib/modules", "/usr/src")


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


# -- the manifests ----------------------------------------------------------------------------

def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def manifests() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(_read(DAEMONSET_FILE)) if doc]


def one(kind: str) -> dict:
    found = [doc for doc in manifests() if doc.get("kind") == kind]
    assert len(found) == 1, f"{DAEMONSET_FILE} should hold one {kind}, holds {len(found)}"
    return found[0]


def pod_spec() -> dict:
    return one("DaemonSet")["spec"]["template"]["spec"]


def container() -> dict:
    containers = pod_spec()["containers"]
    assert len(containers) == 1, "the DaemonSet's pod should run tracer alone"
    return containers[0]


def tracer_params() -> dict:
    """The container's arguments as tracer reads them (the image's entrypoint is tracer): its
    own click parser says which are options and which are the script and its parameters."""
    args = container().get("args")
    assert args, "the container should pass tracer its arguments (args:, under the entrypoint)"
    return cli.make_context("tracer", list(args)).params


def metrics_port() -> int:
    ports = [p for p in container().get("ports", []) if p.get("name") == "metrics"]
    assert len(ports) == 1, "the container should declare one port named metrics"
    return ports[0]["containerPort"]


def volume(name: str) -> dict:
    found = [v for v in pod_spec().get("volumes", []) if v["name"] == name]
    assert len(found) == 1, f"no volume {name} in the DaemonSet"
    return found[0]


def script_mount() -> tuple[str, str]:
    """(the path the script has in the container, its key in the ConfigMap)."""
    configmap = one("ConfigMap")
    mounts = [m for m in container().get("volumeMounts", [])
              if volume(m["name"]).get("configMap", {}).get("name") == configmap["metadata"]["name"]]
    assert len(mounts) == 1, "the ConfigMap should be mounted in the container once"
    script = tracer_params()["args"][0]
    directory = mounts[0]["mountPath"].rstrip("/")
    assert os.path.dirname(script) == directory, \
        f"the script {script} is not a file of the ConfigMap's mount {directory}"
    return script, os.path.basename(script)


def probe_script() -> str:
    _, key = script_mount()
    data = one("ConfigMap").get("data", {})
    assert key in data, f"the container runs {key}, which the ConfigMap does not hold"
    return data[key]


def compiled_probe():
    return compile_program(probe_script(), script_mount()[1])


# -- what the endpoint exports, worked out by tracer's own collector ---------------------------

def _example_value(aggregation: str):
    """A value of the kind a map filled by ``aggregation`` holds when read."""
    if aggregation in ("hist", "lhist"):
        return Histogram("log2", (Bucket(None, 0, 0), Bucket(0, 1, 1), Bucket(1, None, 0)))
    if aggregation == "stats":
        return Stats(1, 1)
    return 1


def _snapshot(resource: MapResource) -> MapSnapshot:
    typ = resource.value_type
    aggregation = typ.name if isinstance(typ, AggregateType) else ""
    key = resource.key_type
    if key is None:
        example = None
    elif isinstance(key, TupleType) and not key.is_record:
        example = tuple("x" for _ in key.elements)
    else:
        example = "x"
    return MapSnapshot(resource.name, key is not None, [(example, _example_value(aggregation))],
                       aggregation)


def exposition(compiled, labels_spec: Optional[str]) -> dict[str, set[str]]:
    """Every sample name the endpoint serves for this program (maps and tracer's health), each
    with its label names, as tracer's collector makes them from one entry per map."""
    maps = compiled.resources.maps
    collector = MapsCollector(lambda name: _snapshot(maps[name]), sorted(maps),
                              parse_labels(labels_spec), lambda: {})
    samples: dict[str, set[str]] = {}
    for family in collector.collect():
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def map_samples(compiled, labels_spec: Optional[str]) -> dict[str, set[str]]:
    """The samples of the program's maps alone, by map name."""
    health = exposition(compile_program("BEGIN { exit(); }"), None)
    everything = exposition(compiled, labels_spec)
    return {name: labels for name, labels in everything.items() if name not in health}


# -- the PromQL in the READMEs ------------------------------------------------------------------

def promql(readme: str) -> list[str]:
    """The expressions of the ```promql blocks (of the "Fleet metrics" section, in the top-level
    README), one a line, comments removed."""
    text = _read(READMES[readme])
    if readme == "README.md":
        match = re.search(r"^## Fleet metrics\n(.*?)(?=^## )", text, re.M | re.S)
        assert match, "the README should have a 'Fleet metrics' section"
        text = match.group(1)
    expressions = []
    for block in re.findall(r"^```promql\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            expression = line.split("#", 1)[0].strip()
            if expression:
                expressions.append(expression)
    assert expressions, f"{readme} shows no PromQL"
    return expressions


def metric_names(expression: str) -> set[str]:
    return set(re.findall(r"\btracer_[A-Za-z0-9_]+", expression))


def grouping_labels(expression: str) -> set[str]:
    return {label.strip() for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expression)
            for label in group.split(",") if label.strip()}


SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([smhd])", duration).groups()
    return int(number) * SECONDS[unit]


# -- Prometheus's relabeling, for the rules the scrape job uses --------------------------------

def scrape_config() -> dict:
    return yaml.safe_load(_read(SCRAPE_FILE))


def tracer_job() -> dict:
    jobs = [job for job in scrape_config()["scrape_configs"] if job["job_name"] == "tracer"]
    assert len(jobs) == 1, "prometheus-scrape.yaml should have one job named tracer"
    return jobs[0]


def _sanitized(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def discovered(namespace: str, labels: dict, annotations: dict, port: dict, phase: str,
               node: str) -> dict[str, str]:
    """The target Prometheus's Kubernetes pod discovery makes of one container port."""
    meta = {"__address__": f"10.0.0.7:{port['containerPort']}",
            "__meta_kubernetes_namespace": namespace,
            "__meta_kubernetes_pod_name": "tracer-abcde",
            "__meta_kubernetes_pod_node_name": node,
            "__meta_kubernetes_pod_phase": phase,
            "__meta_kubernetes_pod_container_name": "tracer",
            "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
            "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
            "__meta_kubernetes_pod_container_port_protocol": port.get("protocol", "TCP"),
            "__meta_kubernetes_pod_controller_kind": "DaemonSet"}
    for key, value in labels.items():
        meta[f"__meta_kubernetes_pod_label_{_sanitized(key)}"] = value
        meta[f"__meta_kubernetes_pod_labelpresent_{_sanitized(key)}"] = "true"
    for key, value in annotations.items():
        meta[f"__meta_kubernetes_pod_annotation_{_sanitized(key)}"] = value
        meta[f"__meta_kubernetes_pod_annotationpresent_{_sanitized(key)}"] = "true"
    return meta


def relabel(target: dict[str, str], rules: list[dict]) -> Optional[dict[str, str]]:
    """Prometheus's relabel_configs applied to a target (None: dropped), for the actions this
    job uses; another action fails the test, to be added here when the job uses it."""
    labels = dict(target)
    for rule in rules:
        action = rule.get("action", "replace")
        value = rule.get("separator", ";").join(labels.get(name, "")
                                                 for name in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if action == "keep":
            if not match:
                return None
        elif action == "drop":
            if match:
                return None
        elif action == "replace":
            if match:
                template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
                result = match.expand(template)
                if result:
                    labels[rule["target_label"]] = result
                else:
                    labels.pop(rule["target_label"], None)
        else:
            raise NotImplementedError(f"relabel action {action}: teach relabel() about it")
    return labels


def tracer_pod_target(**changes) -> dict[str, str]:
    """The target of the DaemonSet's pod on node-a, with ``changes`` to its facts."""
    template = one("DaemonSet")["spec"]["template"]
    facts = dict(namespace=one("DaemonSet")["metadata"].get("namespace", "default"),
                 labels=template["metadata"].get("labels", {}),
                 annotations=template["metadata"].get("annotations", {}),
                 port=next(p for p in container()["ports"] if p.get("name") == "metrics"),
                 phase="Running", node="node-a")
    facts.update(changes)
    return discovered(**facts)


def promtool() -> str:
    """promtool, installed by scripts/test (Debian's prometheus); where the machine is meant
    to have it (CI), its absence is a failure, not a skip."""
    found = shutil.which("promtool")
    if found is None:
        reason = ("promtool is not installed; scripts/test installs it (Debian's prometheus, "
                  "through scripts/setup with TRACER_SETUP_TESTS=1)")
        if _env_true("CI") or _env_true("TRACER_REQUIRE_KERNEL"):
            pytest.fail(reason + " (CI=true or TRACER_REQUIRE_KERNEL=1: skipping is not "
                                 "allowed)", pytrace=False)
        pytest.skip(reason)
    return found


# -- the DaemonSet --------------------------------------------------------------------------------

def test_daemonset_runs_privileged_in_the_hosts_pid_namespace():
    # BPF and tracefs need root with every capability; the host's PID namespace makes the pids
    # probes see and the /proc tracer reads agree.
    assert pod_spec().get("hostPID") is True
    assert container().get("securityContext", {}).get("privileged") is True


@pytest.mark.parametrize("path", HOST_HEADER_DIRS)
def test_kernel_headers_are_mounted_read_only_from_the_host(path):
    mounts = [m for m in container().get("volumeMounts", []) if m["mountPath"] == path]
    assert len(mounts) == 1, f"{path} is not mounted"
    assert mounts[0].get("readOnly") is True
    assert volume(mounts[0]["name"]).get("hostPath", {}).get("path") == path


def test_the_daemonset_runs_on_every_node_control_plane_included():
    def tolerates(toleration: dict, taint: dict) -> bool:  # Kubernetes's rule
        if toleration.get("effect") and toleration["effect"] != taint["effect"]:
            return False
        if not toleration.get("key"):
            return toleration.get("operator") == "Exists"
        return toleration["key"] == taint["key"] and (
            toleration.get("operator") == "Exists"
            or toleration.get("value", "") == taint.get("value", ""))

    tolerations = pod_spec().get("tolerations", [])
    for key in ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"):
        taint = {"key": key, "effect": "NoSchedule"}
        assert any(tolerates(t, taint) for t in tolerations), f"not tolerated: {key}"


def test_tracer_serves_metrics_on_every_address_at_the_declared_port():
    params = tracer_params()
    # In a pod, tracer's default (127.0.0.1) cannot be reached by Prometheus.
    assert parse_address(params["metrics"]) == ("0.0.0.0", metrics_port())
    probe = container().get("readinessProbe", {}).get("httpGet", {})
    assert probe.get("path") == "/metrics"
    assert probe.get("port") in ("metrics", metrics_port())


def test_the_script_is_the_configmaps_and_the_options_come_before_it():
    # What follows the script would be the script's parameters, not tracer's options: a
    # --metrics placed after it would be silently ignored.
    params = tracer_params()
    script, key = script_mount()
    assert params["args"] == (script,)
    assert one("ConfigMap")["metadata"]["namespace"] == one("DaemonSet")["metadata"]["namespace"]
    assert key in one("ConfigMap")["data"]


def test_the_configmap_holds_the_probe_script_of_probes():
    # The ConfigMap is a copy of probes/<its key>, which the READMEs name.
    _, key = script_mount()
    assert probe_script() == _read(os.path.join(MAIN, "probes", key))


def test_the_pod_has_resource_requests_and_limits():
    # BCC's clang compiles the script when the pod starts, with a CPU and over 100 MiB;
    # unbounded, that competes with the node's own workloads.
    resources = container().get("resources", {})
    for which in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources.get(which, {})), which


# -- the probe script -----------------------------------------------------------------------------

@pytest.mark.kernel  # tracepoints compile from their tracefs formats, which only root reads
def test_the_probe_script_compiles_and_runs_until_stopped():
    compiled = compiled_probe()
    calls = {node.name for node in ast.walk(compiled.program) if isinstance(node, ast.Call)}
    # A DaemonSet's pod that exits is restarted, and its counters start again from zero.
    assert "exit" not in calls
    assert compiled.resources.maps, "the script should fill maps for Prometheus to read"


@pytest.mark.kernel
def test_metrics_labels_name_the_keys_of_the_scripts_maps():
    compiled = compiled_probe()
    spec = tracer_params()["metrics_labels"]
    named = parse_labels(spec)
    assert named, "the keys should be given label names (key0 says nothing on a dashboard)"
    keyed = {name for name, m in compiled.resources.maps.items() if m.key_type is not None}
    assert set(named) == keyed
    samples = map_samples(compiled, spec)
    for labels in named.values():
        assert any(set(labels) <= sample_labels for sample_labels in samples.values()), labels


# -- the Prometheus job ---------------------------------------------------------------------------

def test_the_job_keeps_the_tracer_pods_metrics_port_and_labels_the_node():
    job = tracer_job()
    namespaces = [sd.get("namespaces", {}).get("names") for sd in job["kubernetes_sd_configs"]]
    assert all(sd["role"] == "pod" for sd in job["kubernetes_sd_configs"])
    assert all(names is None or one("DaemonSet")["metadata"]["namespace"] in names
               for names in namespaces)
    kept = relabel(tracer_pod_target(), job["relabel_configs"])
    assert kept is not None, "the DaemonSet's pod is not scraped"
    assert kept["__address__"].endswith(f":{metrics_port()}")
    assert kept["node"] == "node-a"


@pytest.mark.parametrize("change", [
    dict(labels={"app.kubernetes.io/name": "something-else"}),
    dict(port={"name": "other", "containerPort": 8080}),
    dict(phase="Pending"),
])
def test_the_job_leaves_out_other_pods_and_ports(change):
    # The pod role makes a target of every port of every pod in the namespace.
    assert relabel(tracer_pod_target(**change), tracer_job()["relabel_configs"]) is None


def test_promtool_accepts_the_scrape_config(tmp_path):
    checked = subprocess.run([promtool(), "check", "config", SCRAPE_FILE],
                             capture_output=True, text=True, timeout=60)
    said = checked.stdout + checked.stderr
    if checked.returncode != 0 and "field kubernetes_sd_configs not found" in said:
        # Debian's Prometheus is built without Kubernetes discovery (its NEWS.Debian says so).
        # Everything else is checked: the same file with file discovery, which every build
        # has, in place of the pod discovery.
        config = scrape_config()
        targets = tmp_path / "targets.json"
        targets.write_text("[]\n")
        for job in config["scrape_configs"]:
            assert job.pop("kubernetes_sd_configs", None) is not None
            job["file_sd_configs"] = [{"files": [str(targets)]}]
        swapped = tmp_path / "prometheus.yml"
        swapped.write_text(yaml.safe_dump(config))
        checked = subprocess.run([promtool(), "check", "config", str(swapped)],
                                 capture_output=True, text=True, timeout=60)
        said = checked.stdout + checked.stderr
    assert checked.returncode == 0, said
    assert "WARNING" not in said, said


# -- the PromQL in the READMEs ------------------------------------------------------------------

@pytest.mark.kernel
@pytest.mark.parametrize("readme", sorted(READMES))
def test_the_readmes_promql_names_what_the_endpoint_serves(readme):
    compiled = compiled_probe()
    spec = tracer_params()["metrics_labels"]
    served = exposition(compiled, spec)
    maps = map_samples(compiled, spec)
    # Labels a query may group by: the samples' own, and those the scrape job adds.
    added = {rule["target_label"] for rule in tracer_job()["relabel_configs"]
             if "target_label" in rule} | {"job", "instance"}
    used = set()
    for expression in promql(readme):
        names = metric_names(expression)
        assert names, f"{expression}: no tracer metric in it"
        for name in names:
            assert name in served, f"{expression}: the endpoint serves no {name}"
            used.add(name)
        labels = set().union(*(served[name] for name in names)) | added
        assert grouping_labels(expression) <= labels, expression
    if readme == "README.md":
        # The fleet recipe shows every metric its script makes (one sample of each family).
        families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in maps}
        assert {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used} >= families


@pytest.mark.parametrize("readme", sorted(READMES))
def test_the_readmes_rate_windows_hold_several_scrapes(readme):
    # rate() needs two samples in its window, and Prometheus's advice is four scrape intervals
    # at least, for a missed scrape to leave enough.
    interval = seconds(scrape_config()["global"]["scrape_interval"])
    windows = [w for e in promql(readme) for w in re.findall(r"\[(\w+)\]", e)]
    assert windows
    for window in windows:
        assert seconds(window) >= 4 * interval, window


@pytest.mark.parametrize("readme", sorted(READMES))
def test_promtool_parses_the_readmes_promql(readme, tmp_path):
    rules = {"groups": [{"name": "readme", "rules": [
        {"record": f"readme:expression_{i}", "expr": expression}
        for i, expression in enumerate(promql(readme))]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool(), "check", "rules", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- the container's command, run ------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def _get(url: str) -> Optional[str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode() if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError):
        return None


@pytest.mark.kernel
def test_the_containers_command_serves_what_the_readme_queries(tmp_path):
    """tracer run with the container's arguments (the ConfigMap's script in a file, another
    port): the readiness probe's path answers, every metric the README's PromQL names is
    served, and SIGTERM (what the kubelet sends) ends it cleanly within the grace period."""
    from prometheus_client.parser import text_string_to_metric_families

    script, key = script_mount()
    (tmp_path / key).write_text(probe_script())
    address = tracer_params()["metrics"]
    assert address, "the container does not pass --metrics: there is nothing to scrape"
    # The same address on a port free here; the script where this test put it.
    port = _free_port()
    moved = f"{parse_address(address)[0]}:{port}"
    args = [str(tmp_path / key) if arg == script else moved if arg == address else arg
            for arg in container()["args"]]
    wanted = set().union(*(metric_names(e) for e in promql("README.md")))
    proc = subprocess.Popen([sys.executable, "-m", "tracer", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=MAIN)
    try:
        served: set[str] = set()
        deadline = time.monotonic() + 120  # a first compile with BCC takes seconds
        path = container()["readinessProbe"]["httpGet"]["path"]
        while time.monotonic() < deadline and proc.poll() is None and not wanted <= served:
            _read("/proc/self/status")  # a read that returns data, for the histogram
            text = _get(f"http://127.0.0.1:{port}{path}")
            if text is not None:
                served = {s.name for f in text_string_to_metric_families(text)
                          for s in f.samples}
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()[1]
        assert wanted <= served, f"not served: {sorted(wanted - served)}"
        grace = pod_spec().get("terminationGracePeriodSeconds", 30)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=grace)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.strip() == "", "the pod's log should not fill with the maps when it stops"
