"""Aggregations, stacks and map functions on the real kernel, against workloads whose answer is
known exactly."""

from __future__ import annotations

import json
import re

from workloads import WORKLOAD_SOURCES
from outcomes import stdout_of as _ok

GETPPID = "tracepoint:syscalls:sys_enter_getppid"
CLOSE = "tracepoint:syscalls:sys_enter_close"


def _frames(stack_text: str) -> list[str]:
    """The function names of a stack printed in bpftrace mode (offsets dropped)."""
    return [line.strip().rsplit("+", 1)[0] for line in stack_text.strip("\n").split("\n")]


# ---- per-CPU merge: each aggregation's own rule, over values made on two CPUs at once --------

def test_aggregations_merge_the_two_cpus_values_exactly(run_tracer, workload):
    # tk_cpus: fds -1000..-1 closed on CPU 0 and 5000..7999 on CPU 1, at the same time.
    # (close's fd is an unsigned int in its tracepoint: read it as the int the workload passed)
    prog = (f'{CLOSE} /comm == "tk_cpus" && ((int32)args.fd < 0 || args.fd >= 5000)/ {{'
            " $fd = (int32)args.fd;"
            " @mn = min($fd); @mx = max($fd); @sum = sum($fd); @avg = avg($fd);"
            " @st = stats($fd); @n = count(); @cpus[cpu] = count();"
            " @h = lhist($fd, -1000, 8000, 3000); @h2 = hist($fd); @h3 = hist($fd, 2); }")
    out = _ok(run_tracer("-c", workload("tk_cpus"), "-e", prog))
    total = sum(range(-1000, 0)) + sum(range(5000, 8000))  # 18998000
    assert f"@sum: {total}\n" in out
    assert "@mn: -1000\n" in out and "@mx: 7999\n" in out
    assert f"@avg: {int(total / 4000)}\n" in out  # 4749: C truncates 4749.5
    assert f"@st: {{ .count = 4000, .average = 4749, .total = {total} }}\n" in out
    assert "@n: 4000\n" in out
    assert "@cpus[0]: 1000\n@cpus[1]: 3000\n" in out  # the values did come from two CPUs
    assert re.search(r"\[-1000, 2000\)\s+1000 \|", out) and re.search(r"\[5000, 8000\)\s+3000 \|",
                                                                       out)
    # hist() of values only known at run time: negatives, then 5000..7999 across [4K, 8K)
    # (with 2 bits, [4K, 5K) holds 5000..5119, [5K, 6K) 5120..6143 ... [7K, 8K) 7168..7999).
    h2 = out[out.index("@h2:\n"):out.index("@h3:")]
    assert re.findall(r"^(\S+(?: \S+)?)\s+(\d+) \|", h2, re.M) == [
        ("(..., 0)", "1000"), ("[0]", "0"), ("[1]", "0"), ("[2, 4)", "0"), ("[4, 8)", "0"),
        ("[8, 16)", "0"), ("[16, 32)", "0"), ("[32, 64)", "0"), ("[64, 128)", "0"),
        ("[128, 256)", "0"), ("[256, 512)", "0"), ("[512, 1K)", "0"), ("[1K, 2K)", "0"),
        ("[2K, 4K)", "0"), ("[4K, 8K)", "3000")], h2
    h3 = out[out.index("@h3:\n"):]
    assert re.findall(r"^\[(\S+), (\S+)\)\s+(\d+) \|", h3, re.M)[-4:] == [
        ("4K", "5K", "120"), ("5K", "6K", "1024"), ("6K", "7K", "1024"), ("7K", "8K", "832")], h3


def test_aggregations_read_in_a_probe_merge_every_cpu(run_tracer, workload):
    # The END probe reads each value there and then, summing the CPUs' slots in the kernel.
    prog = (f'{CLOSE} /comm == "tk_cpus" && ((int32)args.fd < 0 || args.fd >= 5000)/ {{'
            " $fd = (int32)args.fd;"
            " @n = count(); @mn = min($fd); @mx = max($fd); @s = sum($fd); @a = avg($fd); }"
            ' END { printf("%d %d %d %d %d %d\\n", (int64)@n, @mn, @mx, @s, @a, @n > 3999); }')
    out = _ok(run_tracer("-c", workload("tk_cpus"), "-q", "-e", prog))
    assert out.startswith("4000 -1000 7999 18998000 4749 1\n"), out


# ---- stacks --------------------------------------------------------------------------------

def test_user_stack_names_the_call_chain(run_tracer, build_workload):
    # Built unoptimized with every frame pointer kept (a leaf's too): the unwinder walks them.
    chain = build_workload("tk_chain", WORKLOAD_SOURCES["tk_chain"],
                           ["-O0", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer"])
    prog = f"{GETPPID} /pid == cpid/ {{ @[ustack] = count(); @p[ustack(perf, 2)] = count(); }}"
    out = _ok(run_tracer("-c", f"{chain} 5", "-e", prog))
    stacks = re.findall(r"^@\[\n(.*?)\n\]: (\d+)$", out, re.M | re.S)
    assert len(stacks) == 1, out
    frames, count = stacks[0]
    assert count == "5"
    assert _frames(frames)[:4] == ["inner", "middle", "outer", "main"], out
    perf = re.search(r"^@p\[\n(.*?)\n\]: 5$", out, re.M | re.S)
    assert perf is not None, out
    lines = perf.group(1).split("\n")
    assert len(lines) == 2
    for line, name in zip(lines, ("inner", "middle")):
        assert re.fullmatch(rf"\t[0-9a-f]+ {name}\+\d+ \(.*/tk_chain\)", line), line


def test_kernel_stack_names_the_system_call_entry(run_tracer, workload):
    prog = f"{GETPPID} /pid == cpid/ {{ @[kstack] = count(); }}"
    out = _ok(run_tracer("-c", f"{workload('tk_loop')} 3", "-e", prog))
    stacks = re.findall(r"^@\[\n(.*?)\n\]: (\d+)$", out, re.M | re.S)
    assert [count for _, count in stacks] == ["3"], out
    frames = _frames(stacks[0][0])
    assert "do_syscall_64" in frames, frames
    assert frames[-1].startswith("entry_SYSCALL_64"), frames


def test_stack_depth_and_raw_mode(run_tracer, workload):
    prog = f"{GETPPID} /pid == cpid/ {{ @[kstack(raw, 2)] = count(); }}"
    out = _ok(run_tracer("-c", f"{workload('tk_loop')} 2", "-e", prog))
    stack = re.search(r"^@\[\n(.*?)\n\]: 2$", out, re.M | re.S)
    assert stack is not None, out
    assert all(re.fullmatch(r"\s*[0-9a-f]{16}", line) for line in stack.group(1).split("\n"))
    assert len(stack.group(1).split("\n")) == 2


# ---- map functions ---------------------------------------------------------------------------

def test_print_clear_zero_delete_during_tracing(run_tracer, workload):
    prog = (f"{GETPPID} /pid == cpid/ {{ @c[1] = count(); @c[2] = count(); @s = sum(3);"
            " @v[tid] = 1; }"
            " END { print(@c, 1); print(@s); zero(@c); delete(@v, cpid);"
            ' printf("%d %d\\n", len(@v), has_key(@c, 1)); clear(@s); }')
    out = _ok(run_tracer("-c", f"{workload('tk_loop')} 4", "-q", "-e", prog))
    # print(@c, 1): the one largest entry (a tie: the higher key); @s: 12. Then at exit @c's
    # values are zero, and @v and @s are empty: printed as nothing.
    assert out == "@c[2]: 4\n@s: 12\n0 1\n\n\n@c[1]: 0\n@c[2]: 0\n", out


def test_json_output_of_aggregations(run_tracer, workload):
    prog = (f"{GETPPID} /pid == cpid/ {{ @n = count(); @h = hist(5); @st = stats(10); }}")
    out = _ok(run_tracer("-f", "json", "-c", f"{workload('tk_loop')} 6", "-e", prog))
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0] == {"type": "attached_probes", "count": 1, "data": {"probes": 1}}
    assert {"type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 6}]}} in lines
    assert {"type": "map", "data": {"@n": 6}} in lines
    assert {"type": "stats", "data": {"@st": {"count": 6, "average": 10, "total": 60}}} in lines


def test_a_full_map_is_reported_not_silently_dropped(run_tracer, workload):
    prog = ("config = { max_map_keys = 2 } "
            f"{CLOSE} /comm == \"tk_close\" && (int32)args.fd < 0/ "
            "{ @[(int32)args.fd] = count(); }")
    proc = run_tracer("-c", f"{workload('tk_close')} -1 -2 -3 -4", "-e", prog)
    out = _ok(proc)
    assert out.count("]: 1\n") == 2, out  # two keys kept
    warnings = re.findall(r"WARNING: Map full; can't update element", proc.stderr)
    assert len(warnings) == 2, proc.stderr  # -3 and -4, each reported where it happened
    assert "stdin:1:" in proc.stderr
    # bpftrace 0.26's words: its advice, then the helper and what it returned.
    assert proc.stderr.count("increasing max_map_keys config or manually setting the max "
                             "entries in a map declaration e.g. `let @a = hash(5000)`\n"
                             "Additional Info - helper: map_update_elem, retcode: -7\n") == 2


def test_a_failed_discarded_delete_warns_as_bpftrace_026(run_tracer):
    prog = "BEGIN { @y[2] = 1; delete(@y[1]); exit(); }"
    text = run_tracer("-e", prog)
    assert _ok(text) == "\n\n@y[2]: 1\n"
    assert text.stderr == (
        "Attached 1 probe\n"
        "stdin:1:20: WARNING: Can't delete map element because it does not exist.\n"
        "Additional Info - helper: map_delete_elem, retcode: -2\n"
        "BEGIN { @y[2] = 1; delete(@y[1]); exit(); }\n"
        "                   ~~~~~~~~~~~~~\n")
    lines = _ok(run_tracer("-f", "json", "-e", prog)).splitlines()
    assert lines[1] == ('{"type": "helper_error", "msg": "No such file or directory", "helper": '
                        '"map_delete_elem", "retcode": -2, "filename": "stdin", "line": 1, '
                        '"col": 20}')


def test_errno_and_signal_names_and_signal_thread(run_tracer, workload):
    prog = (f"{GETPPID} /pid == cpid/ {{ @calls = count(); signal_thread(\"SIGKILL\"); }}"
            ' END { printf("%s|%s|%s|%d\\n", strerror(2), signal_name(9), signal_name(99),'
            " has_cpid); print(strerror(1)); }")
    # The first getppid() kills the command's thread: only one call is ever made.
    out = _ok(run_tracer("--unsafe", "-q", "-c", f"{workload('tk_loop')} 5", "-e", prog))
    assert out == ("No such file or directory|SIGKILL|99|1\nOperation not permitted\n\n\n"
                   "@calls: 1\n"), out
