"""tracer.symbols: kernel and user symbols, and the text of stack frames.

User symbols are checked against a small C program (tests/data/symbols/chain.c) built here as a
PIE and as a fixed-address executable: it prints the addresses of its own functions, of points
inside them and of getppid in libc, and the frames must name exactly those functions at exactly
those offsets. Kernel symbols are checked against /proc/kallsyms itself.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest
from elftools.elf.elffile import ELFFile

from tracer.values import Stack
from tracer.symbols import Symbolizer
from tracer.symbols.cxxsort import cxx_sort_order
from tracer.symbols.demangle import available as demangler_available, demangle
from tracer.symbols.elf import read_elf_symbols
from tracer.symbols.kernel import KALLSYMS, KernelSymbols
from tracer.symbols.table import SymbolTable
from tracer.symbols.user import Mapping, UserSymbols, parse_maps, parse_perf_map

DATA = Path(__file__).resolve().parent.parent / "data" / "symbols"
BUILD_FLAGS = ["-g", "-O0", "-fno-omit-frame-pointer"]
LINK_FLAGS = {"pie": ["-fPIE", "-pie"], "nopie": ["-fno-pie", "-no-pie"]}


# Building and running the test program.

def _compiler() -> str:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build the test program")
    return compiler


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    compiler = _compiler()
    directory = tmp_path_factory.mktemp("symbols")
    binaries = {}
    for kind, flags in LINK_FLAGS.items():
        binary = directory / f"chain_{kind}"
        subprocess.run([compiler, *BUILD_FLAGS, *flags, "-o", str(binary),
                        str(DATA / "chain.c"), "-ldl"], check=True)
        binaries[kind] = binary
    library = directory / "libtiny.so"
    subprocess.run([compiler, *BUILD_FLAGS, "-shared", "-fPIC", "-o", str(library),
                    str(DATA / "tiny.c")], check=True)
    binaries["library"] = library
    return binaries


class Program:
    """A running chain program and the addresses it printed. ``pass_fds`` as for Popen: to run
    the program from a file descriptor (``binary`` then names /proc/self/fd/N)."""

    NAMES = ("main", "outer", "middle", "inner", "mangled", "getppid",
             "in_inner", "in_middle", "in_outer", "counter")

    def __init__(self, binary: Path, pass_fds: tuple[int, ...] = ()):
        self.binary = binary
        self.process = subprocess.Popen([str(binary)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, pass_fds=pass_fds)
        fields = self.process.stdout.readline().split()
        self.pid = int(fields[0])
        self.address = {name: int(value, 16) for name, value in zip(self.NAMES, fields[1:])}

    def load(self, library: Path) -> int:
        """Has the program dlopen ``library``; the address of its tiny_function."""
        self.process.stdin.write(f"load {library}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline(), 16)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=10)

    def mapped_path(self, address: int) -> str:
        """The path /proc/PID/maps shows for the mapping holding ``address``."""
        with open(f"/proc/{self.pid}/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                low, high = (int(part, 16) for part in fields[0].split("-"))
                if low <= address < high:
                    return fields[5].strip()
        raise AssertionError(f"{address:#x} is not mapped in {self.pid}")

    def load_bias(self) -> int:
        """Where the executable's file offset 0 is mapped (0 for a fixed-address one)."""
        with open(f"/proc/{self.pid}/maps") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].strip() == os.path.realpath(self.binary) \
                        and int(fields[2], 16) == 0:
                    return int(fields[0].split("-")[0], 16)
        raise AssertionError("executable not mapped")


@pytest.fixture
def run(built):
    programs = []

    def start(kind: str) -> Program:
        program = Program(built[kind])
        programs.append(program)
        return program

    yield start
    for program in programs:
        if program.process.poll() is None:
            program.process.kill()
            program.process.wait()


# User symbols of a live process.

@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_usym_names_the_functions(run, kind):
    program = run(kind)
    symbolizer = Symbolizer()
    functions = ["main", "outer", "middle", "inner"]
    assert [symbolizer.usym(program.pid, program.address[name]) for name in functions] == functions
    assert symbolizer.usym(program.pid, program.address["in_inner"]) == "inner"
    # Like bpftrace, only executable mappings are looked at: a variable is a bare address.
    counter = program.address["counter"]
    assert symbolizer.usym(program.pid, counter) == f"0x{counter:x}"


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_ustack_in_each_mode(run, kind):
    program = run(kind)
    address = program.address
    ips = [address["in_inner"], address["in_middle"], address["in_outer"], 0, 0]
    offsets = [address["in_inner"] - address["inner"], address["in_middle"] - address["middle"],
               address["in_outer"] - address["outer"]]
    assert all(offset > 0 for offset in offsets)
    exe = os.path.realpath(program.binary)
    symbolizer = Symbolizer()

    assert symbolizer.ustack(program.pid, ips, "bpftrace") == Stack(
        frames=(f"inner+{offsets[0]}", f"middle+{offsets[1]}", f"outer+{offsets[2]}"),
        mode="bpftrace")
    assert symbolizer.ustack(program.pid, ips, "perf").frames == (
        f"{ips[0]:x} inner+{offsets[0]} ({exe})",
        f"{ips[1]:x} middle+{offsets[1]} ({exe})",
        f"{ips[2]:x} outer+{offsets[2]} ({exe})")
    assert symbolizer.ustack(program.pid, ips, "raw") == Stack(
        frames=(f"{ips[0]:x}", f"{ips[1]:x}", f"{ips[2]:x}"), mode="raw")


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_shared_library_function(run, kind):
    program = run(kind)
    getppid = program.address["getppid"]
    libc = program.mapped_path(getppid)
    assert os.path.basename(libc) == "libc.so.6"
    symbolizer = Symbolizer()
    assert symbolizer.usym(program.pid, getppid) == "getppid"
    in_inner = program.address["in_inner"]
    exe = os.path.realpath(program.binary)
    assert symbolizer.ustack(program.pid, [getppid + 3, in_inner], "perf").frames == (
        f"{getppid + 3:x} getppid+3 ({libc})",
        f"{in_inner:x} inner+{in_inner - program.address['inner']} ({exe})")


def test_library_loaded_after_first_lookup(run, built):
    program = run("pie")
    symbolizer = Symbolizer()
    assert symbolizer.usym(program.pid, program.address["inner"]) == "inner"  # maps now cached
    tiny = program.load(built["library"])
    assert tiny != 0
    assert symbolizer.ustack(program.pid, [tiny + 1], "perf").frames == (
        f"{tiny + 1:x} tiny_function+1 ({os.path.realpath(built['library'])})",)


def test_cpp_names_are_demangled_as_configured(run):
    if not demangler_available():
        pytest.skip("no C++ runtime library to demangle with")
    program = run("pie")
    address = program.address["mangled"]
    assert Symbolizer().usym(program.pid, address) == "foo::bar(int)"
    assert Symbolizer(cpp_demangle=False).usym(program.pid, address) == "_ZN3foo3barEi"
    assert Symbolizer().ustack(program.pid, [address + 2]).frames == ("foo::bar(int)+2",)


def test_demangle_leaves_other_names_alone():
    if not demangler_available():
        pytest.skip("no C++ runtime library to demangle with")
    assert demangle("_ZN2ns3Box4callEv") == "ns::Box::call()"
    assert demangle("main") == "main"
    assert demangle("_Znot_valid") == "_Znot_valid"


def test_two_processes_of_one_binary_share_a_table(run):
    first, second = run("pie"), run("pie")
    user = UserSymbols()
    tables = []
    for program in (first, second):
        mapping = user.mapping_at(program.pid, program.address["inner"])
        assert mapping is not None and mapping.path == os.path.realpath(program.binary)
        tables.append(user.table_for(program.pid, mapping))
    assert tables[0] is not None
    assert tables[0] is tables[1]


@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_uaddr_is_the_link_time_address(run, kind):
    program = run(kind)
    bias = program.load_bias() if kind == "pie" else 0
    symbolizer = Symbolizer()
    binary = str(program.binary)
    assert symbolizer.uaddr(binary, "inner") == program.address["inner"] - bias
    assert symbolizer.uaddr(binary, "counter") == program.address["counter"] - bias
    assert symbolizer.uaddr_symbol(binary, "counter").size == 4
    assert symbolizer.uaddr(binary, "no_such_symbol") is None
    assert symbolizer.uaddr("/nonexistent/binary", "inner") is None


def test_program_run_from_a_memfd(built):
    # Mapped from a memfd, the program's file shows as "/memfd:chain (deleted)"; bpftrace (BCC)
    # opens it through the process's descriptor on it, and names the module by that.
    descriptor = os.memfd_create("chain", 0)
    try:
        os.write(descriptor, built["pie"].read_bytes())
        program = Program(Path(f"/proc/self/fd/{descriptor}"), pass_fds=(descriptor,))
    finally:
        os.close(descriptor)
    try:
        in_inner = program.address["in_inner"]
        assert program.mapped_path(in_inner) == "/memfd:chain (deleted)"
        assert Symbolizer().ustack(program.pid, [in_inner], "perf").frames == (
            f"{in_inner:x} inner+{in_inner - program.address['inner']} "
            f"(/proc/{program.pid}/fd/{descriptor})",)
    finally:
        program.end()


def test_exited_process(run):
    program = run("pie")
    address = program.address
    remembered = Symbolizer()
    assert remembered.usym(program.pid, address["in_inner"]) == "inner"
    program.end()
    # Seen alive: its mappings are remembered, and its files are still there.
    assert remembered.usym(program.pid, address["in_middle"]) == "middle"
    # Never seen alive: the bare address, as bpftrace prints it.
    fresh = Symbolizer()
    inner = address["in_inner"]
    assert fresh.usym(program.pid, inner) == f"0x{inner:x}"
    assert fresh.ustack(program.pid, [inner], "bpftrace").frames == (f"0x{inner:x}",)
    assert fresh.ustack(program.pid, [inner], "perf").frames == (
        f"{inner:x} 0x{inner:x} ([unknown])",)


def _executable_segment(path: Path) -> tuple[int, int, int]:
    """(file offset, link-time address, size) of the file's executable PT_LOAD segment."""
    with open(path, "rb") as stream:
        for segment in ELFFile(stream).iter_segments():
            if segment["p_type"] == "PT_LOAD" and segment["p_flags"] & 1:
                return segment["p_offset"], segment["p_vaddr"], segment["p_filesz"]
    raise AssertionError(f"no executable segment in {path}")


def test_maps_are_read_again_after_an_exec(built, tmp_path):
    # A made-up /proc with one process, pid 123, that first runs chain_nopie and then execs
    # into a program whose library sits over the very same addresses.
    process = tmp_path / "proc" / "123"
    process.mkdir(parents=True)
    binary, library = built["nopie"], built["library"]
    user = UserSymbols(proc=str(tmp_path / "proc"))
    inner = user.address_of(str(binary), "inner")
    tiny = user.address_of(str(library), "tiny_function")
    offset, vaddr, size = _executable_segment(binary)
    (process / "maps").write_text(
        f"{vaddr:x}-{vaddr + size:x} r-xp {offset:08x} 08:01 1 {binary}\n")
    (process / "exe").symlink_to(binary)
    address = inner + 1
    assert user.resolve(123, address).name == "inner"

    offset, vaddr, size = _executable_segment(library)
    start = address + vaddr - tiny - 1
    (process / "maps").write_text(
        f"{start:x}-{start + size:x} r-xp {offset:08x} 08:01 2 {library}\n")
    (process / "exe").unlink()
    (process / "exe").symlink_to(library)
    found = user.resolve(123, address)
    assert (found.name, found.offset, found.module) == ("tiny_function", 1, str(library))


def test_unmapped_address_of_live_process(run):
    program = run("nopie")
    symbolizer = Symbolizer()
    assert symbolizer.usym(program.pid, 0x1234) == "0x1234"
    assert symbolizer.usym(program.pid, 0) == "0"
    assert symbolizer.ustack(program.pid, [0x1234], "perf").frames == ("1234 0x1234 ([unknown])",)


def test_perf_map_names_jitted_code(run):
    program = run("nopie")
    perf_map = Path(f"/tmp/perf-{program.pid}.map")
    perf_map.write_text("10000000 40 jitted_one\n10000040 20 jitted_two\n")
    try:
        ips = [0x10000010, 0x10000045, 0x10000070]
        frames = Symbolizer().ustack(program.pid, ips, "perf").frames
    finally:
        perf_map.unlink()
    assert frames == (f"10000010 jitted_one+16 ({perf_map})",
                      f"10000045 jitted_two+5 ({perf_map})",
                      "10000070 0x10000070 ([unknown])")


def test_vdso_frames_as_bpftrace_prints_them():
    vdso = _own_vdso_range()
    if vdso is None:
        pytest.skip("this process has no vDSO")
    pid, inside = os.getpid(), vdso[0] + 0x10
    assert Symbolizer().usym(pid, inside) == f"0x{inside:x}"
    table = UserSymbols(resolve_vdso=True).table_for(pid, Mapping(vdso[0], vdso[1], 0, 0, "[vdso]"))
    assert table is not None and len(table.table) > 0


def _own_vdso_range() -> Optional[tuple[int, int]]:
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith("[vdso]"):
                low, high = line.split()[0].split("-")
                return int(low, 16), int(high, 16)
    return None


# Parsing.

def test_parse_maps_keeps_executable_files():
    text = (
        "00400000-00401000 r--p 00000000 08:01 100 /usr/bin/prog\n"
        "00401000-00402000 r-xp 00001000 08:01 100 /usr/bin/prog\n"
        "01000000-01021000 rw-p 00000000 00:00 0 [heap]\n"
        "7f0000000000-7f0000001000 r-xp 00000000 00:00 0 \n"
        "7f0000001000-7f0000002000 r-xp 00002000 08:01 200 /opt/my lib/libx.so (deleted)\n"
        "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]\n"
        "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n")
    assert parse_maps(text) == [
        Mapping(0x401000, 0x402000, 0x1000, 100, "/usr/bin/prog"),
        Mapping(0x7F0000001000, 0x7F0000002000, 0x2000, 200, "/opt/my lib/libx.so (deleted)"),
        Mapping(0x7FFD00000000, 0x7FFD00002000, 0, 0, "[vdso]"),
    ]


def test_parse_perf_map():
    assert parse_perf_map("1000 10 a b c\n0 10 zero\nnothex 1 x\n2000 8 d\n") == [
        ("a b c", 0x1000, 0x10), ("d", 0x2000, 8)]


def test_unreadable_files_have_no_symbols(built, tmp_path):
    whole = built["pie"].read_bytes()
    assert read_elf_symbols(str(built["pie"])) is not None
    for name, content in (("text", b"not an ELF file\n"), ("truncated", whole[:len(whole) // 2]),
                          ("header_only", whole[:64])):
        path = tmp_path / name
        path.write_bytes(content)
        assert read_elf_symbols(str(path)) is None
    assert read_elf_symbols(str(tmp_path / "missing")) is None


def test_symbol_table_nesting_and_sizes():
    table = SymbolTable([("outer_object", 0x100, 0x100), ("nested", 0x120, 0x10),
                         ("empty", 0x300, 0), ("after", 0x400, 0x10)])
    assert table.lookup(0x125) == ("nested", 5)
    assert table.lookup(0x150) == ("outer_object", 0x50)  # past nested, still in its container
    assert table.lookup(0x300) is None  # a symbol of size 0 holds nothing
    assert table.lookup(0x410) is None  # just past the end
    assert table.lookup(0x50) is None


def test_cxx_sort_order_sorts():
    generator = random.Random(11)
    for size in (0, 1, 15, 16, 17, 100, 2000):
        keys = [generator.randrange(size // 3 + 1) for _ in range(size)]
        order = cxx_sort_order(keys)
        assert sorted(order) == list(range(size))
        assert [keys[i] for i in order] == sorted(keys)


def test_cxx_sort_order_matches_std_sort(tmp_path):
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler to run std::sort with")
    source = tmp_path / "order.cc"
    source.write_text(
        "#include <algorithm>\n#include <cstdio>\n#include <vector>\n"
        "struct E { unsigned long k; int i;\n"
        "  bool operator<(const E &o) const { return k < o.k; } };\n"
        "int main() { std::vector<E> v; unsigned long k; int i = 0;\n"
        "  while (scanf(\"%lu\", &k) == 1) v.push_back({k, i++});\n"
        "  std::sort(v.begin(), v.end());\n"
        "  for (auto &e : v) printf(\"%d\\n\", e.i); }\n")
    subprocess.run([compiler, "-O1", "-o", str(tmp_path / "order"), str(source)], check=True)
    generator = random.Random(5)
    for size in (17, 40, 500, 3000):
        keys = [generator.randrange(size // 4 + 1) for _ in range(size)]
        output = subprocess.run([str(tmp_path / "order")], input=" ".join(map(str, keys)),
                                capture_output=True, text=True, check=True).stdout
        assert cxx_sort_order(keys) == [int(line) for line in output.split()]


# Kernel symbols.

SAMPLE_KALLSYMS = """\
0000000000000000 T hidden_symbol
ffffffff81000000 T _text
ffffffff81000100 t alpha
ffffffff81000200 D some_data
ffffffff81000300 T beta
ffffffff81000300 T beta_alias
ffffffffc0001000 t module_function\t[some_module]
"""


def test_kernel_table_from_a_file(tmp_path):
    path = tmp_path / "kallsyms"
    path.write_text(SAMPLE_KALLSYMS)
    kernel = KernelSymbols(str(path))
    assert kernel.resolve(0xFFFFFFFF81000104) == ("alpha", 4)
    # Data symbols name no code: an address there belongs to the function before it.
    assert kernel.resolve(0xFFFFFFFF81000210) == ("alpha", 0x110)
    # With two names at one address and no more than 16 symbols, the later line wins.
    assert kernel.resolve(0xFFFFFFFF81000301) == ("beta_alias", 1)
    assert kernel.resolve_with_module(0xFFFFFFFFC0001008) == ("module_function", 8, "some_module")
    assert kernel.resolve(0xFFFFFFFF80000000) is None
    assert kernel.address_of("some_data") == 0xFFFFFFFF81000200
    assert kernel.address_of("beta") == 0xFFFFFFFF81000300
    assert kernel.address_of("module_function") is None  # kaddr never finds module symbols
    assert kernel.address_of("hidden_symbol") is None
    assert kernel.address_of("missing") is None
    symbolizer = Symbolizer(kernel=kernel)
    assert symbolizer.ksym(0xFFFFFFFF81000104) == "alpha"
    assert symbolizer.ksym(0x1234) == "0x1234"
    assert symbolizer.kstack([0xFFFFFFFF81000104, 0x42], "bpftrace").frames == ("alpha+4", "0x42")
    assert symbolizer.kstack([0xFFFFFFFF81000104, 0x42], "perf").frames == (
        "ffffffff81000104 alpha+4", "42 0x42")


def test_kernel_table_with_hidden_addresses(tmp_path):
    path = tmp_path / "kallsyms"
    path.write_text("0000000000000000 T _text\n0000000000000000 t alpha\n")
    kernel = KernelSymbols(str(path))
    assert len(kernel) == 0
    assert Symbolizer(kernel=kernel).ksym(0xFFFFFFFF81000104) == "0xffffffff81000104"
    assert kernel.address_of("alpha") is None


def _a_lone_kernel_function() -> tuple[str, int, int]:
    """From the running kernel's kallsyms: a core-kernel text symbol alone at its address, its
    address, and the distance to the next symbol."""
    entries = []
    with open(KALLSYMS) as lines:
        for line in lines:
            fields = line.split()
            if len(fields) == 3:
                entries.append((int(fields[0], 16), fields[1], fields[2]))
    if not entries or all(address == 0 for address, _, _ in entries):
        pytest.skip("kallsyms hides its addresses (needs root)")
    first_seen: dict[str, int] = {}
    for address, _, name in entries:
        first_seen.setdefault(name, address)
    addresses = sorted(address for address, kind, _ in entries if kind not in "bBdDrR")
    for address, kind, name in entries:
        if kind not in "tT" or first_seen[name] != address:
            continue
        index = addresses.index(address)
        if addresses.count(address) == 1 and index + 1 < len(addresses):
            gap = addresses[index + 1] - address
            if gap > 16:
                return name, address, gap
    pytest.skip("no lone text symbol in kallsyms")


def test_running_kernel_symbols():
    name, address, _ = _a_lone_kernel_function()
    symbolizer = Symbolizer()
    assert symbolizer.ksym(address) == name
    assert symbolizer.ksym(address + 9) == name
    assert symbolizer.kaddr(name) == address
    assert symbolizer.kaddr("no_such_kernel_symbol_at_all") is None
    ips = [address + 9, address, 0]
    assert symbolizer.kstack(ips, "bpftrace") == Stack(frames=(f"{name}+9", f"{name}+0"),
                                                       mode="bpftrace")
    assert symbolizer.kstack(ips, "perf").frames == (f"{address + 9:x} {name}+9",
                                                     f"{address:x} {name}+0")
    assert symbolizer.kstack(ips, "raw").frames == (f"{address + 9:x}", f"{address:x}")


def test_stack_ends_at_zero_and_at_unwind_failure(tmp_path):
    path = tmp_path / "kallsyms"
    path.write_text(SAMPLE_KALLSYMS)
    symbolizer = Symbolizer(kernel=KernelSymbols(str(path)))
    alpha = 0xFFFFFFFF81000101
    assert symbolizer.kstack([alpha, 0, alpha]).frames == ("alpha+1",)
    assert symbolizer.kstack([alpha, (1 << 64) - 1, alpha]).frames == ("alpha+1",
                                                                       "<unwind failure>")
    assert symbolizer.kstack([]).frames == ()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        Symbolizer().kstack([1], "build_id")
