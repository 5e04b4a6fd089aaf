"""The words of bpftrace that both generators draw from: real attach points, builtins,
functions, config keys, types, and makers of literals in every form the lexer accepts.

Why a module of its own: the hand-written generator (``generator``) and the grammar expander
(``grammar``) must agree on what a plausible token is, and a random identifier is almost
never one; keeping the vocabulary in one place keeps both honest.
"""

from __future__ import annotations

import random

# Attach points that exist on any kernel tracer supports; tracepoints need tracefs.
PLAIN_ATTACH = ["BEGIN", "END", "interval:s:1", "interval:ms:10", "i:ms:100", "interval:us:500"]
TRACEPOINTS = {
    # attach point -> integer fields its args offer (pointers read as integers)
    "tracepoint:syscalls:sys_enter_getppid": ["__syscall_nr"],
    "tracepoint:raw_syscalls:sys_enter": ["id"],
    "tracepoint:syscalls:sys_enter_openat": ["dfd", "flags", "mode"],  # filename: a pointer
}
# Attach points a user gets wrong: refused, but each takes a different path to the refusal.
ODD_ATTACH = ["begin", "End", "interval:s:0", "interval:x:1", "i:hz:99", "BEGIN:x",
              "tracepoint:syscalls:sys_enter_getppidd", "t:syscalls:sys_enter_getpp*",
              "tracepoint:syscalls", "kprobe:do_nanosleep", "uprobe:/bin/bash:readline",
              "foo:bar", "interval:s:99999999999999999999999", "interval:ms:1_0",
              'tracepoint:"syscalls":sys_enter_getppid', "interval:s:1e2"]

INT_BUILTINS = ["pid", "tid", "uid", "gid", "nsecs", "cpu", "rand"]
STR_BUILTINS = ["comm"]
try:  # tracer's own registries, so that a function or builtin added there is tried at once
    from tracer.builtins import BUILTINS as _BUILTINS
    from tracer.functions import FUNCTIONS as _FUNCTIONS
    FUNCTIONS, BUILTINS = sorted(_FUNCTIONS), sorted(_BUILTINS)
except ImportError:
    FUNCTIONS = ["printf", "exit", "count", "str", "strlen", "strncmp", "strcontains", "strstr",
                 "strcap", "memcmp", "getopt"]
    BUILTINS = INT_BUILTINS + STR_BUILTINS + ["cpid"]
INT_TYPES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
             "u8", "s16", "u32", "s64", "__u64", "uint8_t", "int64_t", "pid_t", "size_t"]
ODD_TYPES = ["bool", "string", "string[8]", "void *", "int8 *", "uint64 **", "struct task_struct *",
             "char", "long", "unsigned", "void", "uint32[4]", "struct foo"]
# Config keys: values each accepts, then values it refuses (None: none worth trying).
CONFIG = {
    "max_strlen": (["64", "1", "2", "8", "16", "200", "1024", '"32"'], ["0", "-1", '"x"']),
    "max_map_keys": (["128", "4096", "1"], ["0"]),
    "missing_probes": (['"warn"', '"ignore"', "error"], ['"never"']),
    "print_maps_on_exit": (["true", "false", "1"], ["2"]),
    "perf_rb_pages": (["64", "1"], ["0"]),
    "stack_mode": (["perf", '"raw"'], ["fast"]),
    "str_trunc_trailer": (['"..."', '""', '"\\n"'], None),
    "on_stack_limit": (["32", "1", "4096"], ["0"]),
    "license": (['"GPL"', '"Dual BSD/GPL"'], ['"MIT"']),
    "BPFTRACE_MAX_STRLEN": (["48"], None),
    "MAX_MAP_KEYS": (["99"], None),
    "strlen": (["40"], None),
    "no_such_key": ([], ["1"]),
}
ARITH_OPS = ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]
COMPARE_OPS = ["==", "!=", "<", "<=", ">", ">="]
LOGIC_OPS = ["&&", "||"]
AUGMENTED = ["+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="]
VARS = ["$a", "$b", "$c", "$i", "$n", "$s", "$t", "$x"]
MAPS = ["@", "@a", "@b", "@c", "@m", "@n"]
FIELDS = ["id", "args", "filename", "__syscall_nr", "common_pid", "nope", "flags"]

# Characters that exercise Unicode handling: digits and superscripts Python's int() would
# take, a letter, and an emoji that is four bytes of UTF-8.
UNICODE = ["\u0663", "\u00b2", "\u00e9", "\U0001F600", "\u200b", "\ufeff"]


def weighted(rng: random.Random, table: list[tuple[float, object]]):
    """One item of (weight, item) pairs."""
    total = sum(w for w, _ in table)
    point = rng.random() * total
    for weight, item in table:
        point -= weight
        if point <= 0:
            return item
    return table[-1][1]


# Literals the lexer takes as one token and the parser refuses (or reads as two tokens).
ODD_INTS = [str(1 << 64), "0x_ff", "1__0", "1_", "08", "0b101", "1e", "2e100", "0e1", "10e2",
            "5sec", "0xffffffffffffffffff", "1.5"]


def int_literal(rng: random.Random, small: bool = False, odd: bool = True) -> str:
    """An integer literal in one of the lexer's forms. ``small`` keeps it a plain count;
    ``odd`` allows malformed ones and ones past 64 bits."""
    if small:
        return str(rng.choice([0, 1, 2, 3, 5, 8, 10, 16, 100]))
    return weighted(rng, [
        (30, lambda: str(rng.randrange(0, 1000))),
        (6, lambda: hex(rng.randrange(0, 1 << rng.choice([8, 16, 32, 64])))),
        (3, lambda: "0X" + format(rng.randrange(1 << 16), "X")),
        (4, lambda: "0" + format(rng.randrange(1, 512), "o")),
        (4, lambda: f"{rng.randrange(1, 10)}e{rng.randrange(0, 19)}"),
        (4, lambda: rng.choice(["1_000", f"{rng.randrange(1, 99)}_{rng.randrange(100, 999)}"])),
        (5, lambda: f"{rng.randrange(1, 100)}{rng.choice(['ns', 'us', 'ms', 's', 'm', 'h', 'd'])}"),
        (4, lambda: str(rng.randrange(1, 100)) + rng.choice(["u", "U", "l", "ul", "ULL", "ll"])),
        (3, lambda: str(rng.choice([(1 << 64) - 1, 1 << 63, (1 << 63) - 1, 1 << 32,
                                    (1 << 31) - 1]))),
        (4 if odd else 0, lambda: rng.choice(ODD_INTS)),
    ])()


STRING_PIECES = ["a", "hello", "x y", "%", "%%", "%d", "\\n", "\\t", "\\r", '\\"', "\\\\",
                 "\\x41", "\\101", "\\0", "\\377", "\\xff", "\\e", "\\", "é", "\u0663",
                 "\U0001F600", "/", "{", "}", "'", "$1", "@a"]


def string_literal(rng: random.Random, escapes: bool = True, max_pieces: int = 5) -> str:
    """A double-quoted string literal; ``escapes`` allows escapes (some of them invalid)."""
    pieces = STRING_PIECES if escapes else ["a", "bc", "hello", "x y", "tracer", "é"]
    body = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, max_pieces + 1)))
    if body.endswith("\\") and not body.endswith("\\\\"):
        body += "\\"  # a lone backslash would swallow the closing quote
    return f'"{body}"'


def plain_string(rng: random.Random) -> str:
    """A string literal with only valid escapes, for places that must accept it."""
    pieces = ["a", "bc", "hello", "x y", "tracer", "é", "\\n", "\\t", "\\x41", "\\101", "%%"]
    return '"' + "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 4))) + '"'

# The aggregations a map may be given, V standing for the value folded in.
AGGREGATIONS = ["count()", "sum(V)", "min(V)", "max(V)", "avg(V)", "stats(V)", "hist(V)",
                "hist(V, 2)", "lhist(V, 0, 100, 10)", "lhist(V, -50, 50, 25)"]
