"""`tracer -l` and `-lv`: patterns, which probe types a pattern asks, and what each type lists,
against a fake tracefs so that no root and no kernel are needed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tracer import listing
from tracer.diagnostics import TracerError
from tracer.host import btf, features, kfuncs, tracefs
from tracer.providers import Registry
from tracer.providers import unsupported
from tracer.providers.base import Provider
from tracer.providers.listed import Listed, ListPattern, simple_listing, with_empty_last_part
from tracer.providers.tracepoint import listed_fields
from tracer.providers.user_listing import usdt_listing

MAIN = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OPENAT_FORMAT = """\
name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: "dfd: 0x%08lx, filename: 0x%08lx", ((unsigned long)(REC->dfd))
"""

SWITCH_FORMAT = """\
name: sched_switch
ID: 300
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;

\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:24;\tsize:4;\tsigned:0;

print fmt: "prev_comm=%s", REC->prev_comm
"""

EVENTS = ["syscalls:sys_enter_openat", "syscalls:sys_enter_open", "syscalls:sys_exit_openat",
          "sched:sched_switch", "raw_syscalls:sys_enter", "syscalls:sys_enter_getpid"]


@pytest.fixture
def fake_tracefs(tmp_path):
    """A tracefs of a few events, read through tracer.host.tracefs as the real one is."""
    (tmp_path / "available_events").write_text("".join(e + "\n" for e in EVENTS))
    for event in EVENTS:
        category, name = event.split(":")
        directory = tmp_path / "events" / category / name
        directory.mkdir(parents=True)
        text = {"sys_enter_openat": OPENAT_FORMAT, "sched_switch": SWITCH_FORMAT}.get(
            name, f"name: {name}\nID: 1\nformat:\n\tfield:int common_pid;\toffset:4;\tsize:4;"
                  f"\tsigned:1;\n\n\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n")
        (directory / "format").write_text(text)

    def clear():
        tracefs.available_events.cache_clear()
        tracefs.event_format.cache_clear()

    clear()
    tracefs.use(str(tmp_path))
    yield tmp_path
    tracefs.use(None)
    clear()


# --- patterns


@pytest.mark.parametrize("pattern, name, expected", [
    ("syscalls:sys_enter_get*", "syscalls:sys_enter_getpid", True),
    ("syscalls:sys_enter_get*", "syscalls:sys_exit_getpid", False),
    ("*", "syscalls:sys_enter_getpid", True),  # `*` matches across the colons
    ("*:sys_enter_getpid", "syscalls:sys_enter_getpid", True),
    ("sys*getpid", "syscalls:sys_enter_getpid", True),
    ("syscalls:sys_enter_getpi?", "syscalls:sys_enter_getpid", True),
    ("syscalls:sys_enter_getp?", "syscalls:sys_enter_getpid", False),
    ("syscalls:sys_enter_getpid", "syscalls:sys_enter_getpid", True),
    ("syscalls:sys_enter_getpid", "syscalls:sys_enter_getpidx", False),  # anchored at the end
    ("a*b", "ab_b", True),  # the last `*` reaches the last b (bpftrace 0.17 answers no)
    ("sys_enter_getpid", "syscalls:sys_enter_getpid", False),  # anchored at the start
])
def test_pattern_match(pattern, name, expected):
    assert ListPattern(pattern).match(name) is expected


def test_select_sorts_bytewise_and_keeps_each_name_once():
    names = ["cpu:", "cpu-clock:", "cs:", "cpu:", "Z:"]
    assert ListPattern("*").select(names) == ["Z:", "cpu-clock:", "cpu:", "cs:"]


def test_widened_matches_the_last_part():
    pattern = ListPattern("sys_enter_getpid").widened()
    assert pattern.text == "*:sys_enter_getpid"
    assert pattern.match("syscalls:sys_enter_getpid")
    assert not ListPattern("sys_enter_getpid").has_parts() and pattern.has_parts()


def test_simple_listing():
    assert simple_listing("kprobe", ListPattern("vfs_r*"), ["vfs_write", "vfs_read", "vfs_readv"]) \
        == [Listed("kprobe:vfs_read"), Listed("kprobe:vfs_readv")]


@pytest.mark.parametrize("pattern, expected", [
    ("*", ["cpu-clock:", "cpu:", "cs:", "dummy:"]),
    ("cpu*", ["cpu-clock:", "cpu:"]),
    ("cpu-clock", ["cpu-clock:"]),  # without the colon too
    ("cpu-clock:", ["cpu-clock:"]),
    ("cpu", ["cpu:"]),
    ("cpu:1000", []),
    ("nothing*", []),
])
def test_with_empty_last_part(pattern, expected):
    listed = with_empty_last_part("software", ListPattern(pattern), ["cpu-clock", "cpu", "dummy",
                                                                       "cs"])
    assert [p.name for p in listed] == [f"software:{e}" for e in expected]


@pytest.mark.parametrize("search, expected", [
    (None, ["*:*"]),
    ("", ["*:*"]),
    ("*", ["*:*"]),
    ("sys_enter_open*", ["*:sys_enter_open*"]),
    ("tracepoint", ["tracepoint:*"]),  # a type alone: all of it
    ("t", ["t:*"]),
    ("kfunc", ["kfunc:*"]),  # an alias
    ("iter", ["iter:*"]),  # a type of bpftrace's that tracer lacks is still taken as a type
    ("tracepoint:syscalls:*", ["tracepoint:syscalls:*"]),
    ("t:sched:*, software:*", ["t:sched:*", "software:*"]),
])
def test_split_search(search, expected):
    assert listing.split_search(search) == expected


# --- which types a pattern asks


def names(providers):
    return [p.name for p in providers]


def test_a_wildcard_type_stands_for_the_kernel_types_in_name_order():
    found = names(listing.types_for("*", "*"))
    assert found == sorted(found)
    assert {"tracepoint", "software", "hardware"} <= set(found)
    # Return probes, timers and BEGIN/END are listed only when named, as bpftrace does.
    assert not {"kretprobe", "uretprobe", "interval", "profile", "BEGIN", "END"} & set(found)
    assert "uprobe" not in found  # it needs a file, and none is named


def test_a_wildcard_type_takes_user_types_when_a_file_is_named():
    assert "uprobe" in names(listing.types_for("*", f"{sys.executable}:main"))
    assert "uprobe" not in names(listing.types_for("*", "/no/such/file:main"))
    assert "uprobe" not in names(listing.types_for("*", "/usr/bin/*:main"))


def test_type_patterns():
    assert names(listing.types_for("t*", "*")) == ["tracepoint"]
    assert names(listing.types_for("t", "*")) == ["tracepoint"]
    assert names(listing.types_for("Tracepoint", "*")) == ["tracepoint"]
    assert names(listing.types_for("interval", "*")) == ["interval"]
    assert names(listing.types_for("zz*", "*")) == []


def test_an_unknown_type_is_an_error_that_names_the_known_ones():
    with pytest.raises(TracerError) as err:
        listing.types_for("nosuch", "*")
    assert err.value.message == "unknown probe type 'nosuch' in the -l pattern"
    assert "tracepoint" in err.value.hint and "software" in err.value.hint


def test_a_type_tracer_lacks_says_so():
    lacking = unsupported.names()
    if not lacking:
        pytest.skip("tracer has every probe type bpftrace has")
    name = unsupported.unsupported_probe_type(lacking[0])
    with pytest.raises(TracerError, match=f"tracer has no {name} probes yet"):
        listing.types_for(lacking[0], "*")


# --- layout


class FakeProvider(Provider):
    def __init__(self, name, probes, group="kernel"):
        self.name, self.probes, self.list_group = name, probes, group
        self.asked = []

    def listing(self, pattern, verbose=False):
        self.asked.append((pattern.text, verbose))
        return [Listed(f"{self.name}:{n}", details if verbose else ())
                for n, details in self.probes if pattern.match(n)]


def fake_registry():
    registry = Registry()
    registry.add(FakeProvider("zeta", [("b", ("int x", "char * s")), ("a", ())]))
    registry.add(FakeProvider("alpha", [("one", ("u64 y",))]))
    registry.add(FakeProvider("timer", [("s:", ())], group=None))
    return registry


def test_types_are_listed_in_name_order_with_details_only_for_lv():
    registry = fake_registry()
    assert listing.list_probes(None, registry=registry) == ["alpha:one", "zeta:b", "zeta:a"]
    assert listing.list_probes("*", verbose=True, registry=registry) == [
        "alpha:one", "    u64 y", "zeta:b", "    int x", "    char * s", "zeta:a"]


def test_each_type_gets_the_text_after_the_type():
    registry = fake_registry()
    listing.list_probes("zeta:b", registry=registry)
    listing.list_probes("zeta:", registry=registry)
    assert registry.get("zeta").asked == [("b", False), ("*", False)]


def test_a_type_outside_the_kernel_group_only_when_named():
    registry = fake_registry()
    assert "timer:s:" not in listing.list_probes(None, registry=registry)
    assert listing.list_probes("timer:*", registry=registry) == ["timer:s:"]


def test_comma_separated_patterns_are_listed_one_after_the_other():
    registry = fake_registry()
    assert listing.list_probes("zeta:a,alpha:*", registry=registry) == ["zeta:a", "alpha:one"]


def test_nothing_matches_nothing_is_printed(fake_tracefs):
    assert listing.render("tracepoint:nothing*:*") == ""
    assert listing.render("software:nothing*") == ""


# --- tracepoints, from a fake tracefs


def test_tracepoints(fake_tracefs):
    assert listing.list_probes("tracepoint:syscalls:sys_enter_open*") == [
        "tracepoint:syscalls:sys_enter_open", "tracepoint:syscalls:sys_enter_openat"]
    assert listing.list_probes("t:*:sys_enter*") == [
        "tracepoint:raw_syscalls:sys_enter", "tracepoint:syscalls:sys_enter_getpid",
        "tracepoint:syscalls:sys_enter_open", "tracepoint:syscalls:sys_enter_openat"]
    # One part: the event's name in any category.
    assert listing.list_probes("tracepoint:sched_switch") == ["tracepoint:sched:sched_switch"]
    assert listing.list_probes("sys_enter_openat") == ["tracepoint:syscalls:sys_enter_openat"]
    assert listing.list_probes("tracepoint:*") == [f"tracepoint:{e}" for e in sorted(EVENTS)]


def test_tracepoint_fields_as_bpftrace_prints_them(fake_tracefs):
    assert listing.render("tracepoint:syscalls:sys_enter_openat", verbose=True) == (
        "tracepoint:syscalls:sys_enter_openat\n"
        "    int __syscall_nr\n"
        "    int dfd\n"
        "    const char * filename\n"
        "    int flags\n"
        "    umode_t mode\n")
    assert listed_fields("sched:sched_switch") == ("char prev_comm[16]",
                                                   "__data_loc char[] name")


def test_an_unreadable_format_lists_the_event_without_fields(fake_tracefs):
    os.remove(fake_tracefs / "events" / "sched" / "sched_switch" / "format")
    assert listing.list_probes("t:sched:*", verbose=True) == ["tracepoint:sched:sched_switch"]


def test_everything_lists_tracepoints_after_software(fake_tracefs):
    lines = listing.list_probes(None)
    assert lines.index("software:cpu-clock:") < lines.index("tracepoint:sched:sched_switch")
    assert lines.index("hardware:cpu-cycles:") < lines.index("software:cpu-clock:")
    tracepoints = [line for line in lines if line.startswith("tracepoint:")]
    assert tracepoints == [f"tracepoint:{e}" for e in sorted(EVENTS)]


# --- perf events and timers


SOFTWARE = ["alignment-faults", "bpf-output", "context-switches", "cpu-clock", "cpu-migrations",
            "cpu", "cs", "dummy", "emulation-faults", "faults", "major-faults", "minor-faults",
            "page-faults", "task-clock"]


def test_software_events_with_their_short_names():
    assert listing.list_probes("software:*") == [f"software:{e}:" for e in SOFTWARE]
    assert listing.list_probes("s:*faults") == [
        "software:alignment-faults:", "software:emulation-faults:", "software:faults:",
        "software:major-faults:", "software:minor-faults:", "software:page-faults:"]


def test_hardware_events():
    listed = listing.list_probes("hardware:*")
    assert "hardware:cpu-cycles:" in listed and "hardware:cycles:" in listed
    assert "hardware:branches:" in listed and len(listed) == 12
    assert listing.list_probes("h:ref*") == ["hardware:ref-cycles:"]


def test_timers_list_their_units_only_when_named():
    assert listing.list_probes("interval:*") == ["interval:hz:", "interval:ms:", "interval:s:",
                                                 "interval:us:"]
    assert listing.list_probes("profile:hz") == ["profile:hz:"]
    assert listing.list_probes("BEGIN") == [] and listing.list_probes("END:*") == []


# --- kernel functions, raw tracepoints, user functions


FUNCTIONS = (("vfs_read", None), ("vfs_readv", None), ("vfs_write", None),
             ("xfs_read", "xfs"), ("vfs_read", "xfs"), ("cold_path.part.0", None))


@pytest.fixture
def fake_functions(monkeypatch):
    monkeypatch.setattr(kfuncs, "kernel_functions", lambda: FUNCTIONS)


def test_kprobes(fake_functions):
    assert listing.list_probes("kprobe:vfs_read*") == ["kprobe:vfs_read", "kprobe:vfs_readv"]
    assert listing.list_probes("k:*read") == ["kprobe:vfs_read", "kprobe:xfs_read"]
    # MODULE:FUNCTION for the functions of modules
    assert listing.list_probes("kprobe:xfs:*") == ["kprobe:xfs:vfs_read", "kprobe:xfs:xfs_read"]
    assert listing.list_probes("kprobe:*") == [
        "kprobe:vfs_read", "kprobe:vfs_readv", "kprobe:vfs_write", "kprobe:xfs_read"]  # no .part.
    # Return probes only when named.
    assert listing.list_probes("kretprobe:vfs_write") == ["kretprobe:vfs_write"]
    assert not [line for line in listing.list_probes("*:vfs_write") if "kretprobe" in line]
    assert "kprobe:vfs_write" in listing.list_probes("*:vfs_write")


def test_raw_tracepoints_leave_out_the_system_calls(fake_tracefs):
    assert listing.list_probes("rawtracepoint:*") == [
        "rawtracepoint:sched_switch", "rawtracepoint:sys_enter"]
    assert listing.list_probes("rt:vmlinux:sched_*") == ["rawtracepoint:sched_switch"]


def test_uprobes_of_a_file():
    python = sys.executable  # an ELF file that is sure to be here, with its symbols
    assert listing.list_probes(f"uprobe:{python}:Py_BytesMain") == [
        f"uprobe:{python}:Py_BytesMain"]
    assert listing.list_probes(f"ur:{python}:Py_BytesMai?") == [
        f"uretprobe:{python}:Py_BytesMain"]
    everything = listing.list_probes(f"uprobe:{python}")  # a file alone: all of its functions
    assert f"uprobe:{python}:Py_BytesMain" in everything and len(everything) > 100
    assert everything == sorted(everything)


def test_uprobes_over_a_wildcard_of_files(tmp_path):
    for name in ("one", "two"):
        os.symlink(sys.executable, tmp_path / name)
    (tmp_path / "text").write_text("not an ELF file")
    assert listing.list_probes(f"uprobe:{tmp_path}/*:Py_BytesMain") == [
        f"uprobe:{tmp_path}/one:Py_BytesMain", f"uprobe:{tmp_path}/two:Py_BytesMain"]


def test_uprobes_of_a_missing_file_is_an_error():
    with pytest.raises(TracerError, match="uprobe: no such file or library: /no/such/file"):
        listing.list_probes("uprobe:/no/such/file:*")


class FakeBtf:
    """The part of host.btf's view of the kernel that listing reads."""

    def __init__(self):
        pointer = btf.ValueType("pointer", 8, pointee="struct file", c_name="struct file *")
        size = btf.ValueType("int", 8, False, c_name="long unsigned int")
        self.functions = {
            "vfs_read": btf.Function("vfs_read", 1, (("file", pointer), ("count", size)),
                                     btf.ValueType("int", 8, True, c_name="long int")),
            "vfs_fsync": btf.Function("vfs_fsync", 2, (("file", pointer),),
                                      btf.ValueType("void", 0, c_name="void")),
        }

    def function_names(self):
        return sorted(self.functions)

    def find_function(self, name):
        return self.functions.get(name)


@pytest.mark.parametrize("loads", [True, False])
def test_fentry_from_btf(monkeypatch, loads):
    monkeypatch.setattr(btf, "vmlinux", FakeBtf)
    monkeypatch.setattr(features, "fentry", lambda: features.Support(loads, "", ""))
    assert listing.list_probes("fentry:vfs_*") == ["fentry:vfs_fsync", "fentry:vfs_read"]
    assert listing.list_probes("kfunc:vmlinux:vfs_read") == ["fentry:vfs_read"]
    assert listing.render("fentry:vfs_read", verbose=True) == (
        "fentry:vfs_read\n    struct file * file\n    long unsigned int count\n")
    assert listing.render("fexit:vfs_*", verbose=True) == (
        "fexit:vfs_fsync\n    struct file * file\n"
        "fexit:vfs_read\n    struct file * file\n    long unsigned int count\n"
        "    long int retval\n")
    # In `-l` alone only where the kernel loads fentry programs; fexit only when named.
    everything = listing.list_probes("*:vfs_read")
    assert ("fentry:vfs_read" in everything) is loads
    assert "fexit:vfs_read" not in everything


def test_usdt_probes_of_a_file(tmp_path, monkeypatch):
    from tracer.symbols import usdt

    binary = tmp_path / "app"
    binary.write_bytes(b"")
    probes = [usdt.UsdtProbe(provider, name, 0x1000, 0, (), 0x1000, None)
              for provider, name in (("app", "start"), ("app", "stop"), ("lib", "start"),
                                     ("app", "start"))]  # a second site of app:start
    monkeypatch.setattr(usdt, "read_usdt_probes", lambda path: probes)

    def names(text):
        return [p.name for p in usdt_listing("usdt", ListPattern(text))]

    assert names(f"{binary}:*") == [f"usdt:{binary}:app:start", f"usdt:{binary}:app:stop",
                                    f"usdt:{binary}:lib:start"]
    assert names(f"{binary}:start") == [f"usdt:{binary}:app:start", f"usdt:{binary}:lib:start"]
    assert names(f"{binary}:app:st*") == [f"usdt:{binary}:app:start", f"usdt:{binary}:app:stop"]
    assert names(str(binary)) == names(f"{binary}:*")
    with pytest.raises(TracerError, match="usdt: no such file or library: /no/such"):
        names("/no/such:*")


# --- the command line


def tracer(*args):
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True,
                          text=True, timeout=60, cwd=MAIN, stdin=subprocess.DEVNULL)


def test_cli_lists_software_events():
    proc = tracer("-l", "software:c*")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0, "software:context-switches:\nsoftware:cpu-clock:\nsoftware:cpu-migrations:\n"
           "software:cpu:\nsoftware:cs:\n", "")


def test_cli_verbose_combined_with_l():
    assert tracer("-lv", "software:cs").stdout == "software:cs:\n"
    assert tracer("-v", "-l", "software:cs").stdout == "software:cs:\n"


def test_cli_nothing_matches_is_success_and_silent():
    proc = tracer("-l", "software:nothing*")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_cli_unknown_type_is_a_one_line_error():
    proc = tracer("-l", "nosuch:*")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines()[0] == \
        "tracer: error: unknown probe type 'nosuch' in the -l pattern"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [("-l", "a:*", "b:*"), ("-l", "-e", "BEGIN { }")])
def test_cli_l_takes_one_pattern_and_no_program(args):
    proc = tracer(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "-l takes one pattern" in proc.stderr and "Traceback" not in proc.stderr


def test_listing_loads_no_compiler_bcc_or_terminal_renderer():
    code = ("import sys; sys.argv = ['tracer', '-l', 'software:*']\n"
            "from tracer.cli import main\n"
            "import tracer.parser\n"
            "try:\n    main()\n"
            "finally:\n"
            "    heavy = sorted(m for m in ('bcc', 'rich') if m in sys.modules)\n"
            "    print(heavy, tracer.parser._lark.cache_info().currsize, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=MAIN)
    assert proc.stderr == "[] 0\n"  # no BCC, no rich, the grammar never compiled
    assert proc.stdout.startswith("software:alignment-faults:\n")
