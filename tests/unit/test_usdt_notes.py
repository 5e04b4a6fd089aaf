"""The USDT notes of ELF files the tests build (tk_usdt of tests/workloads.py: PIE, non-PIE, and
without semaphores), and the usdt provider's attach points over them, compiled without a
kernel: names, wildcards, argN and its errors, and what it asks the kernel to attach."""

from __future__ import annotations

import re
import struct

import pytest
from elftools.elf.elffile import ELFFile
from workloads import WORKLOAD_SOURCES

from tracer.compiler import compile_program
from tracer.diagnostics import CompileError
from tracer.host import pmu
from tracer.options import CompileOptions
from tracer.providers import REGISTRY
from tracer.providers.unsupported import unsupported_probe_type
from tracer.symbols.elf import read_elf_symbols
from tracer.symbols.usdt import read_usdt_probes, read_usdt_probes_from_bytes, \
    split_arg_specs

PROBES = ["loop", "negative", "words", "widths", "stacked", "constant", "guarded", "twice"]
# The size part of each argument spec, from the C types the workload passes.
SIZES = {"loop": ["-8", "-8"], "negative": ["-4"], "words": ["8", "1"],
         "widths": ["-1", "2", "4", "-8"], "stacked": ["-8", "-8"], "constant": ["-4", "-4"],
         "guarded": ["-8"], "twice": ["-8"]}
NOP = b"\x90"  # sdt.h marks each probe site with one nop


@pytest.fixture(scope="module")
def binaries(build_workload):
    source = WORKLOAD_SOURCES["tk_usdt"]
    return {"pie": build_workload("tk_usdt", source),
            "nopie": build_workload("tk_usdt_nopie", source, ["-no-pie"]),
            "plain": build_workload("tk_usdt_plain", source, ["-DTK_NO_SEMAPHORES"])}


def by_name(path):
    return {p.name: p for p in read_usdt_probes(path)}


@pytest.mark.parametrize("kind", ["pie", "nopie", "plain"])
def test_every_probe_is_read_with_its_provider_and_argument_sizes(binaries, kind):
    probes = read_usdt_probes(binaries[kind])
    # In the order the code declares them; tk:twice is at two sites, one per inlined call.
    assert [p.name for p in probes] == PROBES + ["twice"]
    assert {p.provider for p in probes} == {"tk"}
    assert {p.name: [a.split("@")[0] for a in p.args] for p in probes} == SIZES


def test_argument_forms_the_compiler_chose(binaries):
    probes = by_name(binaries["pie"])
    assert probes["constant"].args == ("-4@$5", "-4@$-3")
    for spec in probes["stacked"].args:  # a volatile array: read from the stack
        assert re.fullmatch(r"-8@(-?\d+)?\(%r[sb]p\)", spec), spec
    assert all(re.fullmatch(r"-?\d@%\w+", spec) for spec in probes["widths"].args)


@pytest.mark.parametrize("kind", ["pie", "nopie", "plain"])
def test_each_site_is_a_nop_at_its_file_offset(binaries, kind):
    with open(binaries[kind], "rb") as f:
        image = f.read()
    for probe in read_usdt_probes(binaries[kind]):
        assert image[probe.pc_offset:probe.pc_offset + 1] == NOP, probe


def test_a_non_pie_executable_has_addresses_apart_from_offsets(binaries):
    probe = by_name(binaries["nopie"])["loop"]
    assert probe.pc >= 0x400000 > probe.pc_offset
    assert read_elf_symbols(binaries["nopie"]).file_offset(probe.pc) == probe.pc_offset


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_semaphores_are_the_workloads_variables(binaries, kind):
    elf = read_elf_symbols(binaries[kind])
    for probe in read_usdt_probes(binaries[kind]):
        symbol = elf.find(f"tk_{probe.name}_semaphore")
        assert probe.semaphore == symbol.value
        assert probe.semaphore_offset == elf.file_offset(symbol.value)


def test_probes_without_semaphores_have_none(binaries):
    assert all(p.semaphore == 0 and p.semaphore_offset is None
               for p in read_usdt_probes(binaries["plain"]))


def test_addresses_move_by_the_distance_of_stapsdt_base(binaries):
    # A note whose recorded .stapsdt.base is 0x1000 below the section's address (as after
    # prelink moved the file) puts the probe 0x1000 further on.
    with open(binaries["pie"], "rb") as f:
        image = bytearray(f.read())
        f.seek(0)
        elf = ELFFile(f)
        note = next(elf.get_section_by_name(".note.stapsdt").iter_notes())
    desc = note["n_offset"] + 12 + 8  # the header, then "stapsdt\0"
    pc, base, semaphore = struct.unpack_from("<QQQ", image, desc)
    struct.pack_into("<Q", image, desc + 8, base - 0x1000)
    moved = read_usdt_probes_from_bytes(bytes(image))[0]
    assert (moved.pc, moved.semaphore) == (pc + 0x1000, semaphore + 0x1000)


def test_files_without_notes_and_files_that_are_not_elf(workload, tmp_path):
    assert read_usdt_probes(workload("tk_loop")) == []
    text = tmp_path / "text"
    text.write_text("not an ELF file\n")
    assert read_usdt_probes(str(text)) is None
    assert read_usdt_probes(str(tmp_path / "missing")) is None


def test_bracketed_specs_keep_their_blank():
    assert split_arg_specs("-4@[sp, 12] 8@x0  -4@$5") == ("-4@[sp, 12]", "8@x0", "-4@$5")


# ---- the provider ---------------------------------------------------------------------------


def test_usdt_is_U_and_u_stays_uprobe():
    assert REGISTRY.get("usdt").name == REGISTRY.get("U").name == "usdt"
    assert REGISTRY.get("u").name == "uprobe"
    assert unsupported_probe_type("usdt") is None


def sites(text: str):
    return compile_program(text, "stdin", CompileOptions()).sites


def error(text: str) -> str:
    with pytest.raises(CompileError) as info:
        compile_program(text, "stdin", CompileOptions())
    return info.value.render()


def test_provider_is_optional_and_names_are_full(binaries):
    path = binaries["pie"]
    named = sites(f"usdt:{path}:loop {{ @ = arg1; }} U:{path}:tk:guarded {{ @g = arg0; }}")
    assert [s.target.name for s in named] == [f"usdt:{path}:tk:loop", f"usdt:{path}:tk:guarded"]


def test_wildcards_over_provider_and_probe(binaries):
    path = binaries["pie"]
    assert len(sites(f"usdt:{path}:* {{ @[probe] = count(); }}")) == len(PROBES) + 1
    assert [s.target.name.rsplit(":", 1)[1] for s in
            sites(f"usdt:{path}:t?:*e* {{ @[probe] = count(); }}")] == \
        ["guarded", "negative", "stacked", "twice", "twice"]


def test_a_probe_at_two_sites_is_two_targets_of_one_name(binaries):
    path = binaries["pie"]
    twice = [p for p in read_usdt_probes(path) if p.name == "twice"]
    found = sites(f"usdt:{path}:twice {{ @ = sum(arg0); }}")
    assert [s.target.name for s in found] == [f"usdt:{path}:tk:twice"] * 2
    assert [s.target.parts[1] for s in found] == twice  # each with its own argument specs


def test_argN_reads_the_sites_spec_as_int64(binaries):
    program = compile_program(f"usdt:{binaries['pie']}:stacked {{ @ = arg1; }}", "stdin",
                              CompileOptions())
    assert "bpf_probe_read_user" in program.c_text
    assert str(program.resources.maps["@"].value_type) == "int64"


def test_an_argument_past_the_last_is_an_error_at_its_place(binaries):
    path = binaries["pie"]
    text = f"usdt:{path}:negative {{ @ = arg1; }}"
    rendered = error(text)
    column = text.index("arg1") + 1
    assert rendered.startswith(f"stdin:1:{column}: error: usdt:{path}:tk:negative has "
                               f"1 argument (arg0): there is no arg1\n")
    assert "there is no arg2" in error(f"usdt:{path}:loop {{ @ = arg2; }}")


def test_through_a_wildcard_an_argument_past_the_last_is_zero(binaries):
    # bpftrace 0.26 (libbpf's bpf_usdt_arg) reads 0 there: a wildcard may choose probes of
    # fewer arguments than the program reads.
    found = sites(f"usdt:{binaries['pie']}:tk:* {{ @[probe] = sum(arg3); }}")
    assert len(found) == len(PROBES) + 1


@pytest.mark.parametrize("attach, message", [
    ("usdt:{pie}:nosuch", "usdt: no probe nosuch in {pie}"),
    ("usdt:{pie}:xx:loop", "usdt: no probe xx:loop in {pie}"),
    ("usdt:/no/such/file:loop", "usdt: no such file or library: /no/such/file"),
    ("usdt:{pie}", "usdt probes are written usdt:FILE:PROBE or usdt:FILE:PROVIDER:PROBE"),
    ("usdt:*:loop", "usdt: a file of * means every file a process maps, and there is no "
                    "process"),
])
def test_bad_attach_points(binaries, attach, message):
    attach, message = (s.format(pie=binaries["pie"]) for s in (attach, message))
    assert f"stdin:1:1: error: {message}\n" in error(f"{attach} {{ @ = count(); }}")


def test_a_near_miss_gets_a_suggestion(binaries):
    assert "hint: did you mean negative or tk:negative?" in \
        error(f"usdt:{binaries['pie']}:negativ {{ @ = count(); }}")


def test_func_is_not_a_usdt_builtin(binaries):
    assert "The func builtin can only be used with" in \
        error(f"usdt:{binaries['pie']}:loop {{ print(func); }}")


def test_attachment_is_a_uprobe_at_the_site_with_its_semaphore(binaries, monkeypatch):
    monkeypatch.setattr(pmu, "format_bits",
                        lambda name, field: ("config", 32, 63) if field == "ref_ctr_offset"
                        else None)
    monkeypatch.setattr(pmu, "pmu_type", lambda name: 7 if name == "uprobe" else None)
    for kind in ("pie", "nopie", "plain"):
        probe = by_name(binaries[kind])["guarded"]
        site, = sites(f"usdt:{binaries[kind]}:guarded {{ @ = count(); }}")
        event = site.target.provider.attachment(site.target)
        assert (event.type, event.target, event.config2, event.per_process) == \
            (7, binaries[kind], probe.pc_offset, True)
        assert event.config == (probe.semaphore_offset or 0) << 32


def test_a_kernel_without_ref_ctr_offset_gets_a_warning(binaries, monkeypatch):
    monkeypatch.setattr(pmu, "format_bits", lambda name, field: None)
    program = compile_program(f"usdt:{binaries['pie']}:guarded {{ @ = count(); }}", "stdin",
                              CompileOptions())
    assert any("semaphore that this kernel cannot set" in w.message for w in program.warnings)
    site, = program.sites
    assert site.target.provider.attachment(site.target).config == 0
