"""scripts/bench's own parts: the ratio and target arithmetic, the table and the JSON document, the
programs it runs (the long script, the 20-tracepoint program), how it reads a run's output, and
its runner and measures driven by stand-in tools, so a failing or lossy tool shows as such; the
scraper of the /metrics measure against a stand-in endpoint."""

from __future__ import annotations

import http.server
import json
import os
import stat
import sys
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from benchlib import events, outputs, programs, report, scrape, startup, workloads  # noqa: E402
from benchlib.results import Row, Target, gave_up, ratio, record  # noqa: E402
from benchlib.runner import CacheDirs, Run, Tool, last_line, run  # noqa: E402


def a_run(**changes) -> Run:
    fields = dict(argv=["x"], wall=1.5, rss_mib=10.0, stdout="", stderr="", exit_code=0,
                  timed_out=False, exit_ns=0)
    fields.update(changes)
    return Run(**fields)


# --- ratios and targets ------------------------------------------------------------------------

def test_ratio_is_tracer_over_bpftrace_and_undefined_without_a_denominator():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(0.0, 0.0) is None
    assert ratio(None, 2.0) is None and ratio(1.0, None) is None


@pytest.mark.parametrize("target, tracer, value, met", [
    (Target(1.0), 5.0, 1.0, True),
    (Target(1.0), 5.0, 1.01, False),
    (Target(1.0, at_most=False), 5.0, 0.99, False),
    (Target(1.0, at_most=False), 5.0, 2.5, True),
    (Target(0, subject="tracer"), 0.0, None, True),
    (Target(0, subject="tracer"), 3.0, 0.1, False),
    (Target(100.0, subject="tracer"), 99.0, None, True),
])
def test_a_target_bounds_the_ratio_or_tracers_own_figure(target, tracer, value, met):
    assert target.met(tracer, value) is met


def test_a_target_without_its_figure_is_neither_met_nor_missed():
    assert Target(1.0).met(3.0, None) is None
    assert Target(0, subject="tracer").met(None, 1.0) is None


def test_targets_describe_themselves():
    assert Target(1.0).describe() == "<= 1"
    assert Target(1.0, at_most=False).describe() == ">= 1"
    assert Target(100.0, subject="tracer").describe() == "tracer <= 100"
    assert Target(0.6).to_json() == {"subject": "ratio", "bound": 0.6, "comparison": "<="}


def test_a_row_reports_medians_ratio_and_whether_it_met_its_target():
    row = Row("start-up", "s", Target(1.0))
    for value in (0.5, 0.3, 0.9):
        row.add("tracer", value)
    for value in (0.2, 0.6, 0.4):
        row.add("bpftrace", value)
    assert row.median("tracer") == 0.5 and row.median("bpftrace") == 0.4
    assert row.ratio == pytest.approx(1.25)
    assert row.met is False
    row.samples["tracer"] = [0.1, 0.2, 0.3]
    assert row.met is True


def test_a_row_whose_tracer_runs_all_failed_misses_its_target():
    row = Row("start-up", "s", Target(2.0))
    row.add("bpftrace", 1.0)
    row.fail("tracer", "exit code 1: boom")
    row.fail("tracer", "a later, less telling reason")
    assert row.met is False and row.ratio is None
    assert row.failures == {"tracer": "exit code 1: boom"}
    assert Row("no target", "s").met is None


def test_record_credits_figures_or_the_reason_a_run_does_not_count():
    good, bad = Row("a", "s"), Row("b", "lines")
    record(a_run(), "tracer", [(good, lambda r: r.wall), (bad, lambda r: "printed 3 of 4")])
    assert good.samples["tracer"] == [1.5]
    assert bad.samples["tracer"] == [] and bad.failures["tracer"] == "printed 3 of 4"
    failed = Row("c", "s")
    record(a_run(exit_code=2, stderr="ERROR: no such probe\n"), "bpftrace",
           [(failed, lambda r: r.wall)])
    assert failed.failures["bpftrace"] == "exit code 2: ERROR: no such probe"
    assert gave_up("bpftrace", [failed]) and not gave_up("tracer", [failed])
    record(a_run(), "bpftrace", [(failed, lambda r: r.wall)])
    assert not gave_up("bpftrace", [failed])  # it ran once: later failures may be noise


def test_a_timeout_and_the_memlock_warning_are_read_as_they_should_be():
    assert a_run(timed_out=True, exit_code=-9, wall=60.2).failure() == "timed out after 60 s"
    stderr = "ERROR: real problem\nERROR: couldn't set RLIMIT_MEMLOCK for bpftrace.\n"
    assert last_line(stderr) == "ERROR: real problem"


# --- the table and the JSON document -----------------------------------------------------------

def some_rows() -> list:
    timed = Row("start-up, cached", "s", Target(1.0))
    timed.samples = {"tracer": [0.2, 0.25, 0.21], "bpftrace": [0.24, 0.25, 0.26]}
    timed.note("bpftrace has no cache")
    lost = Row("printf: lost", "events", Target(0, subject="tracer"))
    lost.samples = {"tracer": [12.0], "bpftrace": [0.0]}
    lost.note("bpftrace has no cache")
    broken = Row("map at exit", "s", Target(1.0))
    broken.add("bpftrace", 0.4)
    broken.fail("tracer", "timed out after 60 s")
    only = Row("in-process compile", "ms", Target(100.0, subject="tracer"))
    only.applies["bpftrace"] = False
    only.add("tracer", 82.5)
    return [timed, lost, broken, only]


def test_the_table_has_every_column_and_marks_failures_and_notes():
    lines = report.table(some_rows()).splitlines()
    assert lines[0].split() == ["measure", "tracer", "bpftrace", "unit", "ratio", "target", "met?"]
    timed, lost, broken, only = lines[1:5]
    assert timed.split()[-6:] == ["0.210", "0.250", "s", "0.84", "<=", "1", "yes"][-6:]
    assert "12" in lost.split() and "0" in lost.split() and lost.rstrip().endswith("no")
    assert "failed" in broken.split() and broken.rstrip().endswith("no")
    assert only.split()[-6:] == ["82.5", "-", "ms", "-", "tracer", "<=", "100", "yes"][-6:]
    notes = [line for line in lines if line.startswith("  [")]
    # The note two rows share is written once; the failure gets its own.
    assert len(notes) == 2
    assert "[1]" in timed and "[1]" in lost
    assert any("tracer failed: timed out after 60 s" in note for note in notes)


@pytest.mark.parametrize("value, text", [(None, "-"), (0.0, "0"), (0.2534, "0.253"),
                                         (42.71, "42.7"), (1204331.4, "1,204,331"),
                                         (500000.0, "500,000")])
def test_numbers_get_the_digits_their_size_deserves(value, text):
    assert report.number(value) == text


def test_the_json_document_holds_every_row_with_its_runs_and_the_machine(tmp_path):
    machine = {"kernel": "6.1.0", "cpus": 2, "versions": {"tracer": "v0.1", "bpftrace": "v0.17"}}
    doc = report.document(some_rows(), machine, {"mode": "quick"}, 12.34)
    path = tmp_path / "bench.json"
    report.write_json(str(path), doc)
    back = json.loads(path.read_text())
    assert back["schema"] == report.SCHEMA and back["machine"] == machine
    assert back["settings"] == {"mode": "quick"} and back["duration_s"] == 12.3
    assert [row["name"] for row in back["rows"]] == [row.name for row in some_rows()]
    for row in back["rows"]:
        assert set(row) == {"name", "unit", "columns", "tracer", "bpftrace", "ratio", "target",
                            "target_spec", "met", "runs", "samples", "failed", "notes"}
        assert row["columns"] == ["tracer", "bpftrace"]
    timed, lost, broken, only = back["rows"]
    assert timed["tracer"] == 0.21 and timed["ratio"] == pytest.approx(0.84)
    assert timed["runs"] == {"tracer": 3, "bpftrace": 3} and timed["met"] is True
    assert lost["ratio"] is None and lost["met"] is False
    assert broken["tracer"] is None and broken["failed"] == {"tracer": "timed out after 60 s"}
    assert only["bpftrace"] is None and only["target_spec"]["subject"] == "tracer"


# --- rows that compare something other than the two tools -------------------------------------

def scrape_row() -> Row:
    row = Row("ns added, a scrape every second", "ns", Target(1.05),
              columns=("scraped", "unscraped"))
    row.samples = {"scraped": [103.0, 104.0, 98.0], "unscraped": [100.0, 99.0, 101.0]}
    return row


def test_a_row_names_its_two_columns_and_takes_its_ratio_and_target_from_them():
    assert Row("tools", "s").columns == ("tracer", "bpftrace")
    fresh = Row("own", "ns", columns=("scraped", "unscraped"))
    assert fresh.samples == {"scraped": [], "unscraped": []}
    assert fresh.applies == {"scraped": True, "unscraped": True}
    row = scrape_row()
    assert row.ratio == pytest.approx(1.03) and row.met is True
    failed = Row("own", "ns", Target(1.05), columns=("scraped", "unscraped"))
    failed.add("unscraped", 100.0)
    failed.fail("scraped", "2 scrapes during the workload's calls, fewer than 3")
    assert failed.met is False and gave_up("scraped", [failed])
    assert not gave_up("unscraped", [failed])


def test_the_table_names_a_rows_own_columns_above_it_and_the_tools_again_after_it():
    timed, _, broken, _ = some_rows()
    lines = report.table([timed, scrape_row(), broken]).splitlines()
    header, tools_row, own_header, own_row, tools_again, broken_row = lines[:6]

    def end(line: str, text: str) -> int:
        return line.index(text) + len(text)

    assert own_header.split() == ["scraped", "unscraped"]
    # Each name and figure is right-aligned in the same column as the tool it stands in for.
    assert end(own_header, "scraped") == end(header, "tracer") == end(own_row, "103")
    assert end(own_header, "unscraped") == end(header, "bpftrace") == end(own_row, "100")
    assert own_row.split()[-6:] == ["103", "100", "ns", "1.03", "<=", "1.05", "yes"][-6:]
    assert tools_again.split() == ["tracer", "bpftrace"]
    assert tools_row.startswith("start-up") and broken_row.startswith("map at exit")
    # A table of tool rows only names its columns once, at the top.
    assert report.table([timed, broken]).splitlines()[1].startswith("start-up")


def test_the_json_of_a_row_keys_its_figures_by_its_own_column_names():
    failed = scrape_row()
    failed.fail("unscraped", "exit code 1: boom")
    row = report.row_json(failed)
    assert row["columns"] == ["scraped", "unscraped"] and "tracer" not in row
    assert row["scraped"] == 103.0 and row["unscraped"] == 100.0
    assert row["runs"] == {"scraped": 3, "unscraped": 3} and row["met"] is True
    assert row["failed"] == {"unscraped": "exit code 1: boom"}
    assert "unscraped failed: exit code 1: boom" in report.table([failed])


# --- the scrape measure --------------------------------------------------------------------------

class Endpoint:
    """A stand-in /metrics endpoint on a loopback port, answering ``body``."""

    def __init__(self, port: int, body: str):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_scraper_waits_for_the_endpoint_then_scrapes_on_a_beat(monkeypatch):
    monkeypatch.setattr(scrape, "PERIOD", 0.05)
    port = scrape.free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with scrape.Scraper(url, programs.SCRAPE_METRIC) as scraper:
        time.sleep(0.2)
        assert scraper.scrapes == []  # nothing listens yet: it keeps trying, counts nothing
        endpoint = Endpoint(port, 'tracer_h_bucket{le="+Inf"} 3\n')
        time.sleep(0.6)
    endpoint.close()
    starts = [start for start, _ in scraper.scrapes]
    assert 6 <= len(starts) <= 14 and scraper.failed == 0
    assert all(end >= start for start, end in scraper.scrapes)
    assert len(scraper.during(starts[2], starts[4])) == 3


def test_an_answer_without_the_maps_is_no_scrape(monkeypatch):
    monkeypatch.setattr(scrape, "POLL", 0.01)
    port = scrape.free_port()
    endpoint = Endpoint(port, "# an error page\n")
    with scrape.Scraper(f"http://127.0.0.1:{port}/metrics", programs.SCRAPE_METRIC) as scraper:
        time.sleep(0.2)
    endpoint.close()
    assert scraper.scrapes == []


# --- the programs --------------------------------------------------------------------------------

@pytest.mark.parametrize("lines", [1000, 13, 26, 40, 200])
def test_the_long_script_has_exactly_the_lines_asked_for_and_balanced_braces(lines):
    text = programs.long_script(lines)
    assert len(text.splitlines()) == lines and text.endswith("}\n") == (lines % 13 == 0)
    assert text.count("{") == text.count("}")


def test_the_long_script_compiles_in_tracer():
    from tracer.compiler import compile_program
    compiled = compile_program(programs.long_script(), "bench.bt", environ={})
    assert compiled is not None
    assert programs.long_script().count("interval:ms:") == 1000 // 13


def test_the_startup_program_has_twenty_distinct_tracepoints_and_exits_at_once():
    text = programs.twenty_tracepoints()
    probes = [line.split()[0] for line in text.splitlines()]
    assert probes[0] == "BEGIN" and "exit();" in text.splitlines()[0]
    assert len(probes) == 21 and len(set(probes[1:])) == 20
    assert all(p.startswith("tracepoint:syscalls:sys_enter_") for p in probes[1:])


def test_missing_tracepoints_are_named(tmp_path):
    events_dir = tmp_path / "events" / "syscalls"
    (events_dir / "sys_enter_read").mkdir(parents=True)
    assert programs.missing_tracepoints(("read", "write"), (str(tmp_path),)) == ["write"]
    assert programs.missing_tracepoints(("read",), (str(tmp_path / "none"),)) == ["read"]


def test_printf_configs_add_the_larger_buffer_to_the_largest_count():
    configs = events.printf_configs([500_000, 2_000_000], 4096)
    assert [(n, label) for n, label, _ in configs] == [
        (500_000, "default buffer"), (2_000_000, "default buffer"), (2_000_000, "4096 pages")]
    assert configs[-1][2] == {"BPFTRACE_PERF_RB_PAGES": "4096"} and configs[0][2] == {}


# --- reading a run's output ---------------------------------------------------------------------

def test_outputs_count_printf_lines_lost_events_and_map_entries_in_either_stream():
    stdout = "Attaching 1 probe...\nev 1 2\nLost 7 events\nev 3 4\n\n\n"
    stderr = "Attached 1 probe\nLost 5 events\n"
    assert outputs.printed_lines(stdout, programs.PRINTF_TAG) == 2
    assert outputs.lost_events(stdout, stderr) == 12
    maps = "@[3]: 2\n@[4]: 1\n@[100000]: 1\n@[100001]: 1\n@[100002]: 2\n@[200000]: 1\n"
    assert outputs.map_entries(maps, 100_000, 100_000) == 2


def test_the_workload_report_keeps_timestamps_whole():
    values = workloads.parse_report("start_ns 9007199254740993\nns_per_call 12.5\njunk\n")
    assert values == {"start_ns": 9007199254740993, "ns_per_call": 12.5}


# --- the runner and the measures, with stand-in tools ------------------------------------------

def test_run_captures_both_streams_the_exit_code_and_a_timeout():
    done = run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert done.stdout == "out\n" and done.stderr == "err\n" and done.exit_code == 3
    assert done.failure() == "exit code 3: err" and done.rss_mib > 0
    hung = run(["sh", "-c", "sleep 30"], timeout=0.5)
    assert hung.timed_out and hung.wall < 10 and hung.failure().startswith("timed out")


def test_a_failing_tracer_shows_failed_and_the_bench_goes_on(tmp_path):
    tools = {"tracer": Tool("tracer", ("/bin/false",), True),
             "bpftrace": Tool("bpftrace", ("/bin/true",), False)}
    caches = CacheDirs(str(tmp_path / "cache"))
    rows, primed = startup.measure_startup(tools, caches, runs=2, first_runs=2, timeout=10)
    assert [row.name for row in rows] == [
        "start-up BEGIN { exit(); }, first run", "start-up BEGIN { exit(); }, cached",
        "peak RSS BEGIN { exit(); }, first run", "peak RSS BEGIN { exit(); }, cached",
        "start-up 20 tracepoints, first run", "start-up 20 tracepoints, cached",
        "start-up 3 kernel structs, first run", "start-up 3 kernel structs, cached"]
    for row in rows:
        assert row.samples["tracer"] == [] and row.failures["tracer"].startswith("exit code 1")
        assert len(row.samples["bpftrace"]) == 2 and row.met is False
    assert "failed" in report.table(rows)
    # The first program's primed directory is kept for later measures, private to root.
    assert os.listdir(caches.root) == [os.path.basename(primed)]
    assert stat.S_IMODE(os.stat(primed).st_mode) == 0o700
    caches.cleanup()
    assert os.listdir(caches.root) == []


FAKE_TOOL = """\
#!{python}
# Stands in for a tool: runs the -c command, then prints PRINTED printf lines and reports the
# rest of the events lost, as a tool under test would.
import os, subprocess, sys
command = sys.argv[sys.argv.index("-c") + 1].split()
subprocess.run(command, check=True)
count = int(command[2])
printed = count * int(os.environ.get("FAKE_PRINTED_PERCENT", "100")) // 100
lost = count - printed - int(os.environ.get("FAKE_VANISHED", "0"))
print("Attaching 1 probe...")
sys.stdout.write("ev 1 1\\n" * printed)
if lost:
    print(f"Lost {{lost}} events", file=sys.stderr)
"""


@pytest.fixture
def fake_setting(tmp_path):
    tool = tmp_path / "fake-tool"
    tool.write_text(FAKE_TOOL.format(python=sys.executable))
    tool.chmod(0o755)
    tools = {name: Tool(name, (str(tool),), name == "tracer") for name in ("tracer", "bpftrace")}
    binary = workloads.build_workload(str(tmp_path))
    return events.Setting(tools, str(tmp_path), binary, str(tmp_path), 30.0)


def test_printf_rows_count_printed_and_lost_and_flag_events_that_vanish(fake_setting, monkeypatch):
    monkeypatch.setenv("FAKE_PRINTED_PERCENT", "90")
    rows = events.measure_printf(fake_setting, [1000], 8, runs=1, target_count=1000)
    names = [row.name for row in rows]
    assert names[:3] == ["printf 1,000 events, default buffer: printed",
                         "printf 1,000 events, default buffer: lost",
                         "printf 1,000 events, default buffer: rate"]
    printed, lost, rate = rows[:3]
    assert printed.samples == {"tracer": [900.0], "bpftrace": [900.0]}
    assert lost.samples == {"tracer": [100.0], "bpftrace": [100.0]}
    assert all(value > 0 for value in rate.samples["tracer"]) and lost.met is False
    assert printed.notes == [] and rate.notes  # the sums hold; the rate says what it counts
    monkeypatch.setenv("FAKE_VANISHED", "5")
    rows = events.measure_printf(fake_setting, [1000], 8, runs=1, target_count=1000)
    assert "tracer: printed + lost = 995, not 1,000" in rows[0].notes


def test_a_big_map_run_counts_only_when_every_entry_is_printed(fake_setting):
    # The stand-in prints printf lines, no map: both tools' runs must be refused.
    rows = events.measure_big_map(fake_setting, runs=1, keys=50)
    assert rows[0].failures == {"tracer": "printed 0 of 50 entries",
                                "bpftrace": "printed 0 of 50 entries"}


def test_the_workload_times_its_calls(tmp_path):
    binary = workloads.build_workload(str(tmp_path))
    report_path = str(tmp_path / "report")
    done = run(workloads.getppid_command(binary, 10_000, report_path))
    assert done.failure() is None and done.stdout == ""
    values = workloads.read_report(report_path)
    assert values["end_ns"] >= values["start_ns"] and 0 < values["ns_per_call"] < 1e6
    assert not os.path.exists(report_path)  # read once, so no later run is credited with it
    assert run(workloads.close_command(binary, 100_000, 100, report_path)).failure() is None
    assert workloads.read_report(report_path)["end_ns"] > values["end_ns"]


def test_a_scraped_run_with_too_few_scrapes_fails_and_the_row_says_why(fake_setting):
    # The stand-in serves no /metrics: no scrape at all.
    rows = scrape.measure_scrape_overhead(fake_setting, runs=2, calls=1000)
    assert len(rows) == 1
    row = rows[0]
    assert row.columns == ("scraped", "unscraped") and row.met is False
    assert row.failures == {"scraped": "/metrics never answered with the maps"}
    assert row.samples["scraped"] == [] and len(row.samples["unscraped"]) == 2
    assert any(note.startswith("untraced getppid():") for note in row.notes)
    # After the first scraped run failed, the others were not made.
    assert "scrapes during each scraped run's 1,000 calls: 0" in row.notes


def test_a_scraped_run_counts_only_with_enough_scrapes_during_the_calls(fake_setting, monkeypatch):
    # An endpoint that answers all along, but a workload over in a moment: one scrape at most.
    port = scrape.free_port()
    monkeypatch.setattr(scrape, "free_port", lambda: port)
    endpoint = Endpoint(port, 'tracer_h_bucket{le="+Inf"} 3\n')
    try:
        row = scrape.measure_scrape_overhead(fake_setting, runs=1, calls=1000)[0]
    finally:
        endpoint.close()
    assert row.failures["scraped"].endswith("during the workload's calls, fewer than 3 "
                                            "(failed scrapes: 0)")
    assert row.failures["scraped"][0] in "01"
