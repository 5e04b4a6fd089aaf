"""The Python API's parts that need no kernel: compiling, errors with their place, settings
given as a dict, and a run's output kept as values (tests/kernel/test_python_api.py runs it)."""

from __future__ import annotations

import pickle

import pytest

import tracer
from tracer.api import Result, _environ
from tracer.layout import CArray, Record
from tracer.output.base import MapSnapshot
from tracer.output.collect import CollectingOutput, Event
from tracer.values import Pointer, Stats


def test_compile_gives_the_sites_maps_and_c():
    compiled = tracer.compile('BEGIN { @n[$1] = count(); printf("%d\\n", $1 + 1); exit(); }',
                              params=[41])
    assert [s.target.name for s in compiled.sites] == ["BEGIN"]
    assert "@n" in compiled.resources.maps
    assert "int probe_0(" in compiled.c_text and "41LL" in compiled.c_text


def test_a_compile_error_carries_its_file_line_and_column():
    with pytest.raises(tracer.CompileError) as err:
        tracer.compile("BEGIN { @ = 1; }\nBEGIN { @x = cpid; }", name="smoke.bt")
    assert (err.value.file, err.value.line, err.value.column) == ("smoke.bt", 2, 14)
    assert "cpid" in err.value.message and err.value.render().startswith("smoke.bt:2:14: ")
    # With a command, cpid means something.
    assert tracer.compile("BEGIN { @x = cpid; }", command=True).sites


def test_settings_given_as_a_dict_apply_as_their_environment_variables():
    assert _environ({"max_strlen": 32, "print_maps_on_exit": False})["BPFTRACE_MAX_STRLEN"] == "32"
    assert _environ({"print_maps_on_exit": False})["BPFTRACE_PRINT_MAPS_ON_EXIT"] == "false"
    compiled = tracer.compile('BEGIN { @s = str(0); }', config={"max_strlen": 32})
    assert compiled.config.max_strlen == 32


def test_a_collecting_output_keeps_values_and_prints_nothing(capfd):
    seen = []
    output = CollectingOutput(on_event=seen.append)
    output.attached(2)
    output.printf("a\n")
    output.time("12:00:00\n")
    output.value((1, "b"))
    output.map(MapSnapshot("@k", True, [((1, "x"), 3), ((2, "y"), 4)], "count"))
    output.map(MapSnapshot("@s", False, [(None, Stats(2, 14))], "stats"))
    output.map(MapSnapshot("@e", False, [], "count"))
    output.lost_events(5)
    output.diagnostic("warning", "careful")
    output.write_err("WARNING: something\n")
    result = Result(0, output.maps, output.events, output.lost, output.warnings)
    assert result.maps == {"@k": {(1, "x"): 3, (2, "y"): 4}, "@s": Stats(2, 14), "@e": None}
    assert result.printed == ["a\n", "12:00:00\n"] and result.output == "a\n12:00:00\n"
    assert seen == output.events and seen[2] == Event("value", (1, "b"))
    assert result.lost == 5 and result.warnings == ["WARNING: careful", "WARNING: something"]
    assert capfd.readouterr() == ("", "")


def test_results_cross_processes_with_their_values():
    record = Record(("a", "b"), (1, CArray((2, 3))))
    result = Result(3, {"@": {(1, "x"): record, "p": Pointer(16)}}, [Event("printf", "hi\n")])
    again = pickle.loads(pickle.dumps(result))
    assert again == result
    assert again.maps["@"][(1, "x")].names == ("a", "b")
    assert type(again.maps["@"]["p"]) is Pointer
