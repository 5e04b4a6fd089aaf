"""Plausible bpftrace programs from a weighted, hand-written generator.

Why hand-written rather than only grammar expansion (``grammar``): a program made by expanding
rules at random is almost always refused by the checker (an unknown name, a string added to an
integer), so the type rules, the code generator and the C behind it would go untested. This
generator keeps track of what a program has declared -- variables per block scope with their
kinds, maps with their key and value kinds -- and writes each expression with the kind its place
needs. Most of its programs are accepted; a few deliberate slips (a wrong kind, an odd attach
point, an out-of-range unroll) keep the refusal paths exercised too.

The expressions are written by ``expressions``; kinds are described there.
"""

from __future__ import annotations

import random
from typing import Optional

from . import vocab
from .expressions import RECORD, ExpressionWriter, Kind
from .vocab import weighted


class Scope:
    """Block scopes, innermost last: name -> kind. ``locked`` names were declared with a type
    (`let $x: uint8`) and are only ever given small literals afterwards."""

    def __init__(self):
        self.frames: list[dict[str, Kind]] = [{}]
        self.locked: set[str] = set()

    def find(self, name: str) -> Optional[Kind]:
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        return None

    def names(self) -> dict[str, Kind]:
        seen: dict[str, Kind] = {}
        for frame in self.frames:
            seen.update(frame)
        return seen


class ProgramGenerator(ExpressionWriter):
    def __init__(self, rng: random.Random, tracepoints: bool = True, slips: float = 0.0,
                 child: bool = False):
        self.r = rng
        self.tracepoints = tracepoints
        self.child = child  # compiled as with -c: cpid is there
        # The chance of a deliberate mistake at each place that allows one. Most programs get
        # none (see ``generate``): a program has dozens of such places.
        self.slips = slips
        # name -> (key kinds, value kind, or "agg:" and the aggregation's call with V for its value)
        self.maps: dict[str, tuple[tuple, Kind]] = {}
        self.macros: list[tuple[str, tuple, str]] = []  # name, param kinds, result kind
        self.point, self.fields = "", []
        self.scope = Scope()
        self.loops: list[str] = []
        self.budget = 0
        self.fresh = 0

    # -- top level ---------------------------------------------------------------------------

    def program(self) -> str:
        r = self.r
        parts = []
        if r.random() < 0.15:
            parts.append(self.config())
        if r.random() < 0.2:
            parts.extend(self.macro_defs())
        for _ in range(r.choice([1, 1, 2, 2, 3, 4])):
            parts.append(self.probe())
        if r.random() < self.slips:
            r.shuffle(parts)  # a config after a probe is refused
        return r.choice(["\n", " ", "\n\n"]).join(parts) + r.choice(["", "\n"])

    def config(self) -> str:
        keys = self.r.sample(sorted(vocab.CONFIG), self.r.randrange(1, 4))
        items = []
        for key in keys:
            good, bad = vocab.CONFIG[key]
            values = good + (bad or []) if self.slips else good
            if values:
                items.append(f"{key} = {self.r.choice(values)}")
        return "config = { " + "; ".join(items) + self.r.choice(["", ";"]) + " }"

    def macro_defs(self) -> list[str]:
        table = [
            ("inc", "macro inc(x) { x + 1 }", ("int",), "int"),
            ("sq", "macro sq($v) { $v * $v }", ("var",), "int"),
            ("len2", "macro len2(s) { strlen(s) * 2 }", ("str",), "int"),
            ("pick", "macro pick(a, b) { a > b ? a : b }", ("int", "int"), "int"),
            ("tmp", "macro tmp(x) { $t = x; $t << 1 }", ("int",), "int"),
            ("both", "macro both(x, y) { inc(x) + inc(y) }", ("int", "int"), "int"),
            ("say", 'macro say(x) { printf("%d\\n", x); }', ("int",), "void"),
            ("bump", "macro bump(@m, k) { @m[k] += 1; @m[k] }", ("map", "int"), "int"),
            ("sum", "macro sum(@m) { $s = 0; for ($kv : @m) { $s += $kv.1; } $s }", ("map",),
             "int"),
            ("twice", "macro twice(x) { let $z = x; $z + $z }", ("int",), "int"),
            ("first", "macro first(x) { (x, 1).0 }", ("str",), "str"),
            ("cpu", "macro cpu() { 1 }", (), "int"),  # a macro named as a builtin
        ]
        chosen = self.r.sample(table, self.r.randrange(1, 4))
        names = [name for name, *_ in chosen]
        if "both" in names and "inc" not in names:
            chosen.append(table[0])  # both() calls inc()
        self.macros = [(name, params, result) for name, _, params, result in chosen]
        return [text for _, text, _, _ in chosen]

    def attach_point(self) -> str:
        r = self.r
        choices = [(50, lambda: r.choice(vocab.PLAIN_ATTACH)),
                   (6, lambda: "BEGIN, END" if r.random() < 0.5 else "interval:s:1, i:ms:10,"),
                   (self.slips * 100, lambda: r.choice(vocab.ODD_ATTACH))]
        if self.tracepoints:
            choices.append((35, lambda: r.choice(sorted(vocab.TRACEPOINTS))))
        return weighted(r, choices)()

    def probe(self) -> str:
        point = self.attach_point()
        self.point, self.fields = point, vocab.TRACEPOINTS.get(point, [])
        self.scope, self.loops = Scope(), []
        self.budget = self.r.randrange(2, 14)
        predicate = f" /{self.cond(2)}/" if self.r.random() < 0.25 else ""
        return f"{point}{predicate} {{ {self.stmts(3)} }}"

    # -- statements --------------------------------------------------------------------------

    def stmts(self, depth: int, count: Optional[int] = None) -> str:
        count = self.r.randrange(1, 5) if count is None else count
        out = []
        for _ in range(count):
            if self.budget <= 0:
                break
            self.budget -= 1
            out.append(self.stmt(depth))
        text = " ".join(out)
        if text.endswith(";") and self.r.random() < 0.3:
            text = text[:-1]  # the last statement of a block needs no `;`
        return text

    def block(self, depth: int, setup: Optional[dict] = None) -> str:
        self.scope.frames.append(dict(setup or {}))
        try:
            return "{ " + self.stmts(depth - 1) + " }"
        finally:
            self.scope.frames.pop()

    def stmt(self, depth: int) -> str:
        r = self.r
        table = [(20, self.assign_var), (15, self.assign_map), (6, self.aggregate_map),
                 (12, self.printf), (6, self.augmented), (4, self.inc_dec), (5, self.let),
                 (2, self.expr_stmt), (3, self.map_function)]
        if "for" not in self.loops or self.slips:
            table.append((2, lambda d: "exit();"))
        if depth > 0:
            table += [(8, self.if_stmt), (3, self.while_stmt), (3, self.unroll),
                      (4, self.for_range), (4, self.for_map), (2, lambda d: self.block(d))]
        if self.loops:
            table.append((3, lambda d: r.choice(["break;", "continue;"])))
        if "for" not in self.loops:
            table.append((0.5, lambda d: r.choice(["return;", "return 0;"])))
        if any(res == "void" for _, _, res in self.macros):
            table.append((2, lambda d: f"say({self.num(1)});"))
        return weighted(r, table)(depth)

    def new_name(self, kind: Kind) -> str:
        """A variable to assign a value of ``kind``: a new one, or one that already holds it."""
        names = self.scope.names()
        usable = [v for v in vocab.VARS
                  if names.get(v, kind) == kind and v not in self.scope.locked]
        if usable and self.r.random() < 0.9:
            return self.r.choice(usable)
        self.fresh += 1
        return f"$v{self.fresh}"

    def assign_var(self, depth: int) -> str:
        kind = self.any_kind()
        name = self.new_name(kind)
        value = self.value(kind, 2)
        if self.scope.find(name) is None:
            self.scope.frames[-1][name] = kind
        return f"{name} = {value};"

    def let(self, depth: int) -> str:
        names = self.scope.names()
        free = [v for v in vocab.VARS if v not in names]
        name = self.r.choice(free) if free else f"$l{len(names)}"
        roll = self.r.random()
        if roll < 0.3:
            typ = self.r.choice(vocab.INT_TYPES)
            self.scope.frames[-1][name] = "int"
            self.scope.locked.add(name)
            value = self.r.choice(["", " = 1", " = 0", " = 7", " = (uint8)pid"])
            return f"let {name}: {typ}{value};"
        if roll < 0.4:
            self.scope.frames[-1][name] = "str"
            self.scope.locked.add(name)
            cap = self.r.choice(["", "[1]", "[8]", "[16]", "[100]"])
            value = self.r.choice(["", ' = ""', ' = "a"', ' = "abcdefg"'])
            return f"let {name}: string{cap}{value};"
        if roll < 0.45:
            self.scope.frames[-1][name] = "bool"
            return f"let {name}: bool = {self.cond(1)};"
        if roll < 0.5:
            self.scope.frames[-1][name] = "ptr"
            return f"let {name}: uint32 * = {self.pointer(1)};"
        kind = self.any_kind()
        value = self.value(kind, 2)
        self.scope.frames[-1][name] = kind
        return f"let {name} = {value};"

    def map_sig(self, value: Optional[Kind] = None) -> tuple[str, tuple, Kind]:
        """A map name and its signature, new or as used before (optionally of one value kind)."""
        r = self.r
        known = [m for m, (_, v) in self.maps.items() if value is None or v == value]
        if known and r.random() < 0.6:
            name = r.choice(known)
            return (name, *self.maps[name])
        name = r.choice([m for m in vocab.MAPS if m not in self.maps] or [f"@m{len(self.maps)}"])
        keys = weighted(r, [(4, ()), (4, ("int",)), (3, ("str",)), (2, ("int", "str")),
                            (1, (("int", "str"),)), (0.5, ("bool",)), (0.3, ("ptr",)),
                            (0.5, ("int", "int", "int")), (0.5, (RECORD,))])
        value = value or weighted(r, [(6, "int"), (3, "str"), (1, "bool"), (1, ("int", "str")),
                                      (0.5, "ptr"), (0.5, ("str", ("int", "bool"))),
                                      (0.5, RECORD), (0.3, ("ptr", "int"))])
        self.maps[name] = (keys, value)
        return name, keys, value

    def assign_map(self, depth: int) -> str:
        known = set(self.maps)
        name, keys, value = self.map_sig()
        if isinstance(value, str) and value.startswith("agg:"):
            return self.fold(name, keys, value)
        if name in known:
            return f"{self.map_ref(name, keys)} = {self.value(value, 2)};"
        # A map's first assignment does not read the map: nothing would ever have given it
        # a value (`@n = @n` is refused as an undefined map).
        signature = self.maps.pop(name)
        text = f"{self.map_ref(name, keys)} = {self.value(value, 2)};"
        self.maps[name] = signature
        return text

    def aggregate_map(self, depth: int) -> str:
        name, keys, value = self.map_sig(f"agg:{self.r.choice(vocab.AGGREGATIONS)}")
        if not (isinstance(value, str) and value.startswith("agg:")):
            return self.assign_map(depth)
        return self.fold(name, keys, value)

    def fold(self, name: str, keys: tuple, value: str) -> str:
        call = value[len("agg:"):].replace("V", self.value("int", 1))
        return f"{self.map_ref(name, keys)} = {call};"

    def map_function(self, depth: int) -> str:
        """print, clear, zero, delete, has_key and len over a map already used."""
        if not self.maps:
            return self.aggregate_map(depth)
        name = self.r.choice(sorted(self.maps))
        keys, _ = self.maps[name]
        key = self.map_ref(name, keys)[len(name):].strip("[]") if keys else ""
        calls = [f"print({name});", f"print({name}, {self.r.choice(['1', '3', '0'])});",
                 f"print({name}, 2, {self.r.choice(['1', '10'])});", f"clear({name});",
                 f"zero({name});", f"print({self.value('int', 1)});"]
        if keys:
            calls += [f"delete({name}, {key});" if "," not in key else f"delete({name}[{key}]);",
                      f'printf("%d %d\\n", len({name}), has_key({name}, {key}));'
                      if "," not in key else f'printf("%d\\n", len({name}));']
        return self.r.choice(calls)

    def augmented(self, depth: int) -> str:
        op = self.r.choice(vocab.AUGMENTED)
        ints = self.mutable_ints()
        if ints and self.r.random() < 0.6:
            return f"{self.r.choice(ints)} {op} {self.num(1)};"
        name, keys, _ = self.map_sig("int")
        return f"{self.map_ref(name, keys)} {op} {self.num(1)};"

    def inc_dec(self, depth: int) -> str:
        op = self.r.choice(["++", "--"])
        ints = self.mutable_ints()
        if ints and self.r.random() < 0.6:
            target = self.r.choice(ints)
        else:
            name, keys, _ = self.map_sig("int")
            target = self.map_ref(name, keys)
        return f"{op}{target};" if self.r.random() < 0.5 else f"{target}{op};"

    def expr_stmt(self, depth: int) -> str:
        return f"{self.value(self.any_kind(), 2)};"

    def printf(self, depth: int) -> str:
        r = self.r
        fmt, args = [], []
        for _ in range(r.randrange(0, 5)):
            kind = weighted(r, [(5, "int"), (3, "str"), (1, "bool")])
            if kind == "str":
                fmt.append(r.choice(["%s", "%10s", "%-4s", "%.3s"]))
            else:
                fmt.append(r.choice(["%d", "%u", "%x", "%X", "%o", "%lu", "%ld", "%llx", "%5d",
                                     "%-3d", "%c", "%hhu", "%hd", "%p", "%#x", "%+d", "%05i"]))
            args.append(self.value(kind, 2))
        text = "".join(f"{r.choice(['', ' ', 'x=', ': ', '%% '])}{f}" for f in fmt)
        if r.random() < self.slips and args:
            args.pop()  # a format with more conversions than arguments
        tail = ", " + ", ".join(args) if args else ""
        return f'printf("{text}{r.choice(["", chr(92) + "n", chr(92) + "t!"])}"{tail});'

    def if_stmt(self, depth: int) -> str:
        text = f"if ({self.cond(2)}) {self.block(depth)}"
        roll = self.r.random()
        if roll < 0.3:
            text += f" else {self.block(depth)}"
        elif roll < 0.4:
            text += f" else if ({self.cond(1)}) {self.block(depth)} else {self.block(depth)}"
        return text

    def loop_body(self, kind: str, depth: int, setup: Optional[dict] = None) -> str:
        self.loops.append(kind)
        try:
            return self.block(depth, setup)
        finally:
            self.loops.pop()

    def while_stmt(self, depth: int) -> str:
        counters = self.mutable_ints()
        if counters and self.r.random() < 0.7:
            i = self.r.choice(counters)
            body = self.loop_body("while", depth)[2:-2].rstrip("; ")
            return f"while ({i} < {self.r.randrange(1, 20)}) {{ {body}; {i}++; }}"
        return f"while ({self.cond(1)}) {self.loop_body('while', depth)}"

    def unroll(self, depth: int) -> str:
        count = self.r.randrange(1, 9)
        if self.r.random() < self.slips:
            count = self.r.choice(["0", "101", "$1", "pid", "-1", "100"])
        return f"unroll ({count}) {self.block(depth)}"

    def loop_var(self) -> str:
        names = self.scope.names()
        free = [v for v in ["$i", "$j", "$k", "$kv", "$e"] if v not in names]
        if free:
            return self.r.choice(free)
        self.fresh += 1
        return f"$f{self.fresh}"

    def for_range(self, depth: int) -> str:
        var = self.loop_var()
        start = self.r.choice(["0", "1", "(-2)", "$#", "(pid % 3)", "0x2"])
        end = self.r.choice(["5", "10", "0", "1_0", "(cpu + 2)", "$1", "3ms"])
        ints = [v for v, k in self.scope.names().items() if k == "int"]
        if ints and self.r.random() < 0.3:
            end = self.r.choice(ints)
        body = self.loop_body("for", depth, {var: "int"})
        head = f"{var} : {start}..{end}"
        return f"for ({head}) {body}" if self.r.random() < 0.8 else f"for {head} {body}"

    def for_map(self, depth: int) -> str:
        iterable = [m for m, (keys, value) in self.maps.items()
                    if keys and not (isinstance(value, str) and value.startswith("agg:"))]
        if not iterable:
            return self.assign_map(depth)
        name = self.r.choice(iterable)
        keys, value = self.maps[name]
        key = keys[0] if len(keys) == 1 else tuple(keys)
        var = self.loop_var()
        return f"for ({var} : {name}) {self.loop_body('for', depth, {var: (key, value)})}"


def generate(rng: random.Random, tracepoints: bool = True, child: bool = False) -> str:
    """One program: one in ten is sloppy, with a mistake at about one place in twenty.
    ``child``: the program is compiled as with -c, so cpid may be used."""
    slips = 0.05 if rng.random() < 0.1 else 0.0
    return ProgramGenerator(rng, tracepoints, slips, child).program()
