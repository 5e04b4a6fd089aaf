"""The compiled-program cache without a kernel: the image's serialised form, the cache key, and
the rules by which an entry is trusted, found, rejected and evicted."""

from __future__ import annotations

import json
import os
import struct

import pytest

from tracer.runtime import cache as cache_module
from tracer.runtime.cache import ProgramCache
from tracer.runtime.image import (BPF_LD_IMM64, INSN, MAGIC, FunctionCode, ImageError, MapSpec,
                                  ProgramImage)

BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_RINGBUF = 1, 27
EXIT = INSN.pack(0x95, 0, 0, 0)
MOV_R0_0 = INSN.pack(0xB7, 0, 0, 0)
# A map reference: the two halves of an ld_imm64 whose source register says "map fd".
LD_MAP = INSN.pack(BPF_LD_IMM64, 1 << 4 | 1, 0, 0) + INSN.pack(0, 0, 0, 0)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")


def make_image(map_number: int = 1, ref_index: int = 1,
               kern_version: int = 0x60100) -> ProgramImage:
    maps = (MapSpec("tracer_events", BPF_MAP_TYPE_RINGBUF, 0, 0, 1 << 20, 0),
            MapSpec("map_0", BPF_MAP_TYPE_HASH, 8, 16, 4096, 1))
    probe = FunctionCode("probe_0", MOV_R0_0 + LD_MAP + EXIT, ((ref_index, map_number),))
    callback = FunctionCode("loop_cb_0", MOV_R0_0 + EXIT, ())
    return ProgramImage(maps, {"probe_0": probe, "loop_cb_0": callback}, kern_version)


def image_bytes_with_header(header: dict, code: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(text)) + text + code


# ---- ProgramImage: the serialised form ---------------------------------------------------------


def test_an_image_survives_a_round_trip_unchanged():
    image = make_image()
    again = ProgramImage.from_bytes(image.to_bytes())
    assert again == image
    assert list(again.functions) == ["probe_0", "loop_cb_0"]  # the order functions load in
    assert again.map_number("map_0") == 1


def test_every_truncation_of_an_image_is_rejected():
    data = make_image().to_bytes()
    for length in range(len(data)):
        with pytest.raises(ImageError):
            ProgramImage.from_bytes(data[:length])


def test_trailing_bytes_are_rejected():
    with pytest.raises(ImageError, match="trailing"):
        ProgramImage.from_bytes(make_image().to_bytes() + EXIT)


def test_a_bad_magic_is_rejected():
    data = make_image().to_bytes()
    with pytest.raises(ImageError, match="not an image"):
        ProgramImage.from_bytes(b"X" + data[1:])


@pytest.mark.parametrize("map_number, ref_index", [
    (2, 1),   # there are only two maps
    (-1, 1),
    (1, 3),   # the last instruction cannot start an ld_imm64
    (1, -1),
])
def test_a_map_reference_outside_the_program_is_rejected(map_number, ref_index):
    data = make_image(map_number=map_number, ref_index=ref_index).to_bytes()
    with pytest.raises(ImageError, match="map reference"):
        ProgramImage.from_bytes(data)


def test_instructions_of_a_size_not_a_multiple_of_8_are_rejected():
    header = {"kern_version": 0, "maps": [], "functions": [["f", 12, []]]}
    with pytest.raises(ImageError, match="truncated"):
        ProgramImage.from_bytes(image_bytes_with_header(header, EXIT + b"\0" * 4))


@pytest.mark.parametrize("header", [
    [1, 2],
    {"maps": [], "functions": []},
    {"kern_version": 0, "maps": "x", "functions": []},
    {"kern_version": 0, "maps": [], "functions": [["f", "8", []]]},
    {"kern_version": "nan", "maps": [], "functions": []},
])
def test_a_malformed_header_is_an_image_error(header):
    with pytest.raises(ImageError):
        ProgramImage.from_bytes(image_bytes_with_header(header))


def test_an_infinite_number_in_the_header_is_an_image_error():
    text = b'{"kern_version":1e999,"maps":[],"functions":[]}'
    data = MAGIC + struct.pack("<I", len(text)) + text
    with pytest.raises(ImageError):
        ProgramImage.from_bytes(data)


def test_a_function_named_twice_is_an_image_error():
    text = b'{"kern_version":0,"maps":[],"functions":[["f",8,[]],["f",8,[]]]}'
    data = MAGIC + struct.pack("<I", len(text)) + text + bytes(16)
    with pytest.raises(ImageError):
        ProgramImage.from_bytes(data)


def test_a_flipped_byte_gives_an_image_error_or_an_image_never_another_exception():
    data = make_image().to_bytes()
    rejected = 0
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        try:
            ProgramImage.from_bytes(bytes(damaged))
        except ImageError:  # any other exception fails the test
            rejected += 1
    assert rejected >= len(MAGIC) + 4  # at least every flip of the magic and the length


# ---- ProgramCache: keys ------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path) -> ProgramCache:
    directory = tmp_path / "programs"
    directory.mkdir(mode=0o700)
    notices: list[str] = []
    c = ProgramCache(str(directory), notices.append)
    c.notices = notices
    return c


def entry_files(c: ProgramCache) -> list[str]:
    return sorted(n for n in os.listdir(c.directory) if n.endswith(cache_module.SUFFIX))


def test_a_key_depends_on_the_c_text_the_flags_and_the_headers(cache):
    base = cache.key("int f() { return 0; }", ["-w"], "linux-headers-6.1:1")
    assert base == cache.key("int f() { return 0; }", ["-w"], "linux-headers-6.1:1")
    others = {cache.key("int f() { return 1; }", ["-w"], "linux-headers-6.1:1"),
              cache.key("int f() { return 0; }", ["-w", "-O1"], "linux-headers-6.1:1"),
              cache.key("int f() { return 0; }", [], "linux-headers-6.1:1"),
              cache.key("int f() { return 0; }", ["-w"], "linux-headers-6.1:2")}
    assert base not in others and len(others) == 4


def test_flags_are_not_confused_by_how_they_are_split(cache):
    assert cache.key("x", ["-a", "b"], "h") != cache.key("x", ["-a b"], "h")


def test_another_kernel_or_bcc_gives_another_key(cache, monkeypatch):
    args = ("int f() { return 0; }", ["-w"], "headers")
    monkeypatch.setattr(cache_module, "_identity", None)
    monkeypatch.setattr(cache_module, "bcc_identity", lambda: "bcc 0.29.1")
    monkeypatch.setattr(cache_module, "_btf_digest", lambda: "btf-a")
    base = cache.key(*args)
    assert cache.key(*args) == base  # the identity is computed once and kept

    monkeypatch.setattr(cache_module, "_identity", None)
    monkeypatch.setattr(cache_module, "bcc_identity", lambda: "bcc 0.30.0")
    new_bcc = cache.key(*args)

    monkeypatch.setattr(cache_module, "_identity", None)
    monkeypatch.setattr(cache_module, "bcc_identity", lambda: "bcc 0.29.1")
    monkeypatch.setattr(cache_module, "_btf_digest", lambda: "btf-b")
    new_btf = cache.key(*args)

    identity = cache_module.environment_identity()
    monkeypatch.setattr(cache_module, "_identity", identity[:1] + ("7.0.0-other",) + identity[2:])
    new_release = cache.key(*args)

    assert len({base, new_bcc, new_btf, new_release}) == 4


def test_the_real_identity_names_this_kernel(monkeypatch):
    monkeypatch.setattr(cache_module, "_identity", None)
    identity = cache_module.environment_identity()
    assert os.uname().release in identity and os.uname().version in identity


# ---- ProgramCache: entries ---------------------------------------------------------------------


def test_a_put_then_a_get_returns_an_equal_image(cache):
    key = cache.key("prog", ["-w"], "h")
    assert cache.get(key) is None
    cache.put(key, make_image())
    assert cache.get(key) == make_image()
    assert len(entry_files(cache)) == 1
    mode = os.stat(os.path.join(cache.directory, entry_files(cache)[0])).st_mode & 0o777
    assert mode == 0o600
    assert not [n for n in os.listdir(cache.directory) if n.endswith(".tmp")]


def test_a_put_replaces_the_entry_of_the_same_key(cache):
    key = cache.key("prog", ["-w"], "h")
    cache.put(key, make_image(kern_version=1))
    cache.put(key, make_image(kern_version=2))
    assert cache.get(key) == make_image(kern_version=2)
    assert len(entry_files(cache)) == 1


def only_entry(c: ProgramCache) -> str:
    (name,) = entry_files(c)
    return os.path.join(c.directory, name)


def test_a_corrupted_entry_is_ignored_and_removed(cache):
    key = cache.key("prog", ["-w"], "h")
    cache.put(key, make_image())
    path = only_entry(cache)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x40
    with open(path, "wb") as f:
        f.write(data)
    assert cache.get(key) is None
    assert not os.path.exists(path)
    assert any("damaged" in n for n in cache.notices), cache.notices


def test_a_truncated_entry_is_ignored_and_removed(cache):
    key = cache.key("prog", ["-w"], "h")
    cache.put(key, make_image())
    path = only_entry(cache)
    os.truncate(path, os.path.getsize(path) - 8)
    assert cache.get(key) is None
    assert not os.path.exists(path)


def test_an_entry_stored_under_another_key_is_ignored(cache):
    key_a, key_b = cache.key("prog a", [], "h"), cache.key("prog b", [], "h")
    cache.put(key_a, make_image())
    os.rename(only_entry(cache), cache._path(key_b))
    assert cache.get(key_b) is None
    assert any("another program" in n for n in cache.notices), cache.notices


@needs_root
def test_an_entry_owned_by_another_user_is_ignored(cache):
    key = cache.key("prog", [], "h")
    cache.put(key, make_image())
    os.chown(only_entry(cache), 65534, 65534)
    assert cache.get(key) is None
    assert any("uid 65534" in n for n in cache.notices), cache.notices


@pytest.mark.parametrize("mode", [0o666, 0o620])
def test_an_entry_others_may_write_is_ignored(cache, mode):
    key = cache.key("prog", [], "h")
    cache.put(key, make_image())
    os.chmod(only_entry(cache), mode)
    assert cache.get(key) is None
    assert any("written by others" in n for n in cache.notices), cache.notices


def test_a_symlinked_entry_is_not_followed(cache, tmp_path):
    key = cache.key("prog", [], "h")
    cache.put(key, make_image())
    elsewhere = tmp_path / "planted.img"
    os.rename(only_entry(cache), elsewhere)
    os.symlink(elsewhere, cache._path(key))
    assert cache.get(key) is None


def test_a_cache_that_cannot_be_written_is_not_an_error(cache):
    # The directory gone and a plain file in its place: every write fails (even for root).
    os.rmdir(cache.directory)
    with open(cache.directory, "w"):
        pass
    key = cache.key("prog", [], "h")
    cache.put(key, make_image())
    assert cache.get(key) is None
    assert os.path.getsize(cache.directory) == 0


# ---- ProgramCache.open: whether the directory is trusted ----------------------------------------


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "tracer-cache"
    root.mkdir(mode=0o700)
    monkeypatch.setenv("TRACER_CACHE_DIR", str(root))
    return root


def test_open_creates_a_private_programs_directory(cache_root):
    opened = ProgramCache.open(lambda m: None)
    assert opened is not None and opened.directory == str(cache_root / "programs")
    assert os.stat(opened.directory).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("which", ["root", "programs"])
def test_a_directory_others_may_write_is_not_used(cache_root, which):
    (cache_root / "programs").mkdir(mode=0o700)
    os.chmod(cache_root if which == "root" else cache_root / "programs", 0o777)
    said: list[str] = []
    assert ProgramCache.open(said.append, verbose=True) is None
    assert said and "may be written by others" in said[0]


@needs_root
@pytest.mark.parametrize("which", ["root", "programs"])
def test_a_directory_owned_by_another_user_is_not_used(cache_root, which):
    (cache_root / "programs").mkdir(mode=0o700)
    os.chown(cache_root if which == "root" else cache_root / "programs", 65534, 65534)
    said: list[str] = []
    assert ProgramCache.open(said.append, verbose=True) is None
    assert said and "belongs to uid 65534" in said[0]


def test_a_programs_path_that_is_a_symlink_is_not_used(cache_root, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    os.symlink(target, cache_root / "programs")
    assert ProgramCache.open(lambda m: None) is None


def test_the_reason_is_only_said_when_verbose(cache_root):
    os.chmod(cache_root, 0o777)
    said: list[str] = []
    assert ProgramCache.open(said.append) is None
    assert said == []


def test_the_environment_variable_disables_the_cache():
    assert cache_module.disabled_by_environment({"TRACER_NO_CACHE": "1"})
    assert cache_module.disabled_by_environment({"TRACER_NO_CACHE": "yes"})
    assert not cache_module.disabled_by_environment({"TRACER_NO_CACHE": "0"})
    assert not cache_module.disabled_by_environment({"TRACER_NO_CACHE": ""})
    assert not cache_module.disabled_by_environment({})


# ---- eviction ----------------------------------------------------------------------------------


def test_eviction_keeps_at_most_max_entries(cache, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_ENTRIES", 3)
    keys = [cache.key(f"prog {i}", [], "h") for i in range(6)]
    for key in keys:
        cache.put(key, make_image())
    assert len(entry_files(cache)) == 3
    assert cache.get(keys[-1]) == make_image()  # the entry just written is never the one to go


def test_eviction_drops_the_least_recently_used(cache, monkeypatch):
    monkeypatch.setattr(cache_module, "MAX_ENTRIES", 3)
    keys = [cache.key(f"prog {i}", [], "h") for i in range(4)]
    for age, key in enumerate(keys[:3]):
        cache.put(key, make_image())
        # Explicit times: a coarse file-system clock could give all three the same one.
        os.utime(cache._path(key), ns=(10**18 + age * 10**9,) * 2)
    assert cache.get(keys[0]) is not None  # used now: the most recent
    cache.put(keys[3], make_image())
    assert not os.path.exists(cache._path(keys[1]))  # the least recently used went
    for key in (keys[0], keys[2], keys[3]):
        assert os.path.exists(cache._path(key))


def test_eviction_keeps_the_total_size_under_max_bytes(cache, monkeypatch):
    one = len(cache_module._wrap(make_image().to_bytes(), "k" * 64))
    monkeypatch.setattr(cache_module, "MAX_BYTES", one * 2 + one // 2)
    for i in range(5):
        cache.put(cache.key(f"prog {i}", [], "h"), make_image())
    sizes = [os.path.getsize(os.path.join(cache.directory, n)) for n in entry_files(cache)]
    assert len(sizes) == 2 and sum(sizes) <= one * 2 + one // 2


@pytest.mark.parametrize("mode", [0o700, 0o777, 0o770])
def test_the_parser_cache_follows_the_same_trust_rule(tmp_path, monkeypatch, mode):
    from tracer.parser import _parser_cache_file
    directory = tmp_path / "cache"
    directory.mkdir()
    directory.chmod(mode)
    monkeypatch.setenv("TRACER_CACHE_DIR", str(directory))
    where = _parser_cache_file("grammar text")
    if mode == 0o700:
        assert isinstance(where, str) and where.startswith(str(directory))
    else:
        assert where is False


def test_headers_tracer_chose_itself_do_not_change_the_key_but_a_users_do(tmp_path, monkeypatch):
    from tracer.runtime import kernel
    # _point_bcc_at sets BCC_KERNEL_SOURCE in os.environ; delenv of an unset variable records
    # nothing to undo, so set it first, or the tmp tree leaks into later tests' tracer runs
    # (which then fail to compile).
    monkeypatch.setenv("BCC_KERNEL_SOURCE", "")
    monkeypatch.delenv("BCC_KERNEL_SOURCE")
    before = kernel.headers_identity()
    monkeypatch.setattr(kernel, "_chosen_source", None)
    kernel._point_bcc_at(str(tmp_path))  # as ensure_kernel_headers does after a first compile
    assert kernel.headers_identity() == before
    monkeypatch.setattr(kernel, "_chosen_source", None)  # now as if the user had set it
    assert kernel.headers_identity() != before
