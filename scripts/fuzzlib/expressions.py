"""Expressions of a given kind, for the hand-written generator (``generator``).

Why apart from the statements: a program's statements decide what is declared, and this half
only reads that record (variables by scope, maps by signature) to write values that fit the
place they go: an integer where arithmetic is, a string where strlen() wants one, the same
tuple shape where a map already holds tuples.

Kinds are "int", "bool", "str", "ptr" (a `uint32 *`), a Python tuple of kinds for a bpftrace
tuple, or a tuple of ("=name", kind) pairs for a record (a tuple with named fields).
"""

from __future__ import annotations

from . import vocab
from .vocab import weighted

Kind = object  # "int" | "bool" | "str" | "ptr" | tuple of kinds | tuple of ("=name", kind)


def is_record(kind: Kind) -> bool:
    return isinstance(kind, tuple) and all(isinstance(e, tuple) and len(e) == 2 and
                                           str(e[0]).startswith("=") for e in kind)


def members(kind: Kind) -> list[tuple[str, Kind]]:
    """How a tuple's or record's elements are reached (".0", ".name") and their kinds."""
    if is_record(kind):
        return [(f".{name[1:]}", k) for name, k in kind]
    return [(f".{i}", k) for i, k in enumerate(kind)]


RECORD = (("=a", "int"), ("=b", "str"))


class ExpressionWriter:
    """Mixed into ``ProgramGenerator``; relies on its ``r``, ``scope``, ``maps``, ``macros``,
    ``fields``, ``point``, ``slips`` and ``stmts``."""

    def mutable_ints(self) -> list[str]:
        """Integer variables that may be given any integer (not those declared with a type)."""
        return [v for v, k in self.scope.names().items()
                if k == "int" and v not in self.scope.locked]

    def map_ref(self, name: str, keys: tuple, depth: int = 1) -> str:
        if not keys:
            return name
        return f"{name}[{', '.join(self.value(k, depth) for k in keys)}]"

    def any_kind(self) -> Kind:
        return weighted(self.r, [(10, "int"), (4, "str"), (2, "bool"), (1, ("int", "str")),
                                 (0.3, ("int", ("str", "bool"))), (0.7, "ptr"),
                                 (0.7, RECORD), (0.2, (("=x", ("int", "str")),))])

    def value(self, kind: Kind, depth: int) -> str:
        """An expression where a block may stand too (the right of `=`, an argument ...)."""
        if self.r.random() < 0.06 and depth > 0:
            self.scope.frames.append({})
            try:
                inner = self.stmts(0, self.r.randrange(0, 3))
                return f"{{ {inner}{';' if inner and not inner.endswith(';') else ''} " \
                       f"{self.expr(kind, depth - 1)} }}"
            finally:
                self.scope.frames.pop()
        return self.expr(kind, depth)

    def expr(self, kind: Kind, depth: int) -> str:
        if self.r.random() < self.slips / 2:
            kind = self.any_kind()  # a value of the wrong kind: refused, somewhere
        if kind == "int":
            return self.num(depth)
        if kind == "bool":
            return self.cond(depth)
        if kind == "str":
            return self.string(depth)
        if kind == "ptr":
            return self.pointer(depth)
        return self.tuple(kind, depth)

    def reads(self, kind: Kind, depth: int) -> list:
        """Makers of the variables, tuple elements and map entries that hold a ``kind``: a map
        entry's keys are expressions themselves, so they are only written when chosen."""
        out = []
        for name, k in self.scope.names().items():
            if k == kind:
                out.append(lambda n=name: n)
            if isinstance(k, tuple):
                out += [lambda n=name + m: n for m, e in members(k) if e == kind]
        if depth > 0:
            for name, (keys, value) in list(self.maps.items()):
                if value == kind:
                    out.append(lambda n=name, k=keys: self.map_ref(n, k, depth - 1))
        return out

    def leaf_int(self, depth: int = 0) -> str:
        r = self.r
        odd = self.slips > 0
        table = [(8, lambda: vocab.int_literal(r, odd=odd)),
                 (6, lambda: r.choice(vocab.INT_BUILTINS)),
                 (1, lambda: r.choice(["$#", "$1", "$2"])),
                 (3 if self.child else self.slips, lambda: "cpid"),  # needs -c
                 (1, lambda: f"sizeof({r.choice(vocab.INT_TYPES + ['bool', 'comm', '$#'])})")]
        declared = list(self.scope.names())
        if declared:  # the size of a variable of any kind: a tuple, a record, a string
            table.append((1, lambda: f"sizeof({r.choice(declared)})"))
        reads = self.reads("int", depth)
        if reads:
            table.append((8, lambda: r.choice(reads)()))
        if self.fields:
            table.append((5, lambda: f"args{r.choice(['.', '->'])}{r.choice(self.fields)}"))
        if r.random() < 0.05:
            return "-" + vocab.int_literal(r, odd=odd)
        return weighted(r, table)()

    def num(self, depth: int) -> str:
        r = self.r
        if depth <= 0 or r.random() < 0.35:
            return self.leaf_int(depth)
        d = depth - 1
        table = [
            (10, lambda: f"{self.num(d)} {r.choice(vocab.ARITH_OPS)} {self.num(d)}"),
            (3, lambda: f"({self.num(d)} {r.choice(vocab.ARITH_OPS)} {self.cond(d)})"),
            (3, lambda: f"{r.choice(['-', '~'])}({self.num(d)})"),
            (4, lambda: f"({r.choice(vocab.INT_TYPES)}){self.num(d)}"),
            (3, lambda: f"({self.cond(d)} ? {self.value('int', d)} : {self.num(d)})"),
            (2, lambda: f"({self.num(d)} ?: {self.num(d)})"),
            (3, lambda: f"strlen({self.value('str', d)})"),
            (2, lambda: f"strncmp({self.string(d)}, {self.string(d)}, {r.randrange(0, 20)})"),
            (1, lambda: f"strstr({self.string(d)}, {self.string(d)})"),
            (1, lambda: f"memcmp({self.string(d)}, comm, 1)"),
            (1, lambda: f"strcap({self.string(d)})"),
            (2, lambda: f"({self.num(d)})"),
            (1, lambda: f"({self.tuple(('int', 'str'), d)}).0"),
            (1, lambda: f"*({self.pointer(d)})"),
            (1, lambda: f"({self.pointer(d)})[{r.randrange(0, 4)}]"),
            (0.5, lambda: f"(uint64){self.pointer(d)}"),
            (0.5, lambda: f"({r.choice(vocab.INT_TYPES)}){self.cond(d)}"),
            (0.5, lambda: f"({self.tuple(RECORD, d)}).a"),
            (0.5, lambda: f'getopt("{r.choice(["n", "count"])}", {r.choice(["5", "0", "-1"])})'),
        ]
        mutable = self.mutable_ints()
        if mutable:
            table.append((2, lambda: r.choice(["++", "--"]) + r.choice(mutable)))
            table.append((2, lambda: r.choice(mutable) + r.choice(["++", "--"])))
            table.append((1, lambda: f"*&{r.choice(mutable)}"))
        table += self.macro_calls("int", d)
        return weighted(r, table)()

    def macro_calls(self, result: str, depth: int) -> list:
        """(weight, maker) for the program's macros that give a ``result``, where the program
        has what their parameters take: an expression, a variable ($v) or a map (@m)."""
        out = []
        int_maps = [m for m, sig in self.maps.items() if sig == (("int",), "int")]
        for name, params, gives in self.macros:
            if gives != result or ("var" in params and not self.mutable_ints()) or \
                    ("map" in params and not int_maps):
                continue

            def call(name=name, params=params) -> str:
                args = []
                for kind in params:
                    if kind == "var":
                        args.append(self.r.choice(self.mutable_ints()))
                    elif kind == "map":
                        args.append(self.r.choice(int_maps))
                    else:
                        args.append(self.expr(kind, depth))
                return f"{name}({', '.join(args)})"
            out.append((2, call))
        return out

    def cond(self, depth: int) -> str:
        r = self.r
        if depth <= 0 or r.random() < 0.15:
            choices = [lambda: "true", lambda: "false", lambda: self.leaf_int(depth)]
            return r.choice(choices + self.reads("bool", depth))()
        d = depth - 1
        return weighted(r, [
            (10, lambda: f"{self.num(d)} {r.choice(vocab.COMPARE_OPS)} {self.num(d)}"),
            (3, lambda: f"{self.string(d)} {r.choice(['==', '!='])} {self.string(d)}"),
            (3, lambda: f"{self.cond(d)} {r.choice(vocab.LOGIC_OPS)} {self.cond(d)}"),
            (2, lambda: f"!({self.cond(d)})"),
            (2, lambda: f"({self.cond(d)})"),
            (3, lambda: f"strcontains({self.value('str', d)}, {self.string(d)})"),
            (1, lambda: f"(bool){self.num(d)}"),
            (1, lambda: f"{self.tuple(('int', 'str'), d)} == {self.tuple(('int', 'str'), d)}"),
            (1, lambda: f"{self.pointer(d)} {r.choice(vocab.COMPARE_OPS)} {self.pointer(d)}"),
            (0.5, lambda: f"(bool){self.string(d)}"),
            (0.5, lambda: f'getopt("{r.choice(["verbose", "flag"])}")'),
            (0.5, lambda: f"{self.tuple(RECORD, d)} != {self.tuple(RECORD, d)}"),
        ])()

    def string(self, depth: int) -> str:
        r = self.r
        table = [(6, lambda: vocab.plain_string(r)), (4, lambda: "comm"),
                 (1, lambda: f"str(${r.randrange(1, 3)})"),
                 (0.5, lambda: f"str(${r.randrange(1, 3)} + 0)"),
                 (0.5, lambda: f'getopt("name", {vocab.plain_string(r)})')]
        reads = self.reads("str", depth)
        if reads:
            table.append((6, lambda: r.choice(reads)()))
        if self.point.endswith("openat"):
            table.append((3, lambda: f"str(args.filename{r.choice(['', ', 8', ', 100'])})"))
        if depth > 0:
            d = depth - 1
            table += [(2, lambda: f"({self.cond(d)} ? {self.value('str', d)} : {self.string(d)})"),
                      (0.5, lambda: f"str({self.pointer(d)}{r.choice(['', ', 4', ', 64'])})"),
                      (1, lambda: f"str({self.string(d)}, {r.randrange(1, 20)})"),
                      (1, lambda: f"({self.tuple(('int', 'str'), d)}).1")]
            table += self.macro_calls("str", d)
        return weighted(r, table)()

    def pointer(self, depth: int) -> str:
        """A `uint32 *`: one pointer type only, as pointers to different types do not mix."""
        r = self.r
        reads = self.reads("ptr", depth)
        if reads and r.random() < 0.5:
            return r.choice(reads)()
        if depth <= 0 or r.random() < 0.5:
            return f"(uint32 *){r.choice(['0', 'nsecs', '4096', 'pid'])}"
        d = depth - 1
        return weighted(r, [(2, lambda: f"(uint32 *){self.num(d)}"),
                            (2, lambda: f"({self.pointer(d)} {r.choice('+-')} {self.num(d)})"),
                            (1, lambda: f"(uint32 *)(uint8 *){self.num(d)}"),
                            (1, lambda: f"({self.cond(d)} ? {self.pointer(d)} : "
                                        f"{self.pointer(d)})")])()

    def tuple(self, kind: tuple, depth: int) -> str:
        reads = self.reads(kind, depth)
        if reads and self.r.random() < 0.5:
            return self.r.choice(reads)()
        if is_record(kind):
            fields = list(kind)
            self.r.shuffle(fields)  # fields match by name, in any order
            return "(" + ", ".join(f"{n[1:]} = {self.value(k, depth - 1)}" for n, k in fields) + ")"
        return "(" + ", ".join(self.value(k, depth - 1) for k in kind) + ")"
