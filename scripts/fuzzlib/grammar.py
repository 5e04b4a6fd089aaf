"""Programs made by expanding ``grammar/tracer.lark`` itself, rule by rule, with a depth budget.

Why: the hand-written generator (``generator``) only writes what its author thought of; this
one reaches every alternative of every rule -- including ones added to the grammar after the
fuzzer was written -- so the parser's callbacks and the checker see shapes nobody planned for.

How: lark reads the grammar (``Lark(...).rules``, already flattened into alternatives, with
``?rule`` inlining and ``[x]`` / ``x*`` turned into helper rules) and its terminals. A rule
picks an alternative at random while the depth and token budgets last, then the alternative
that finishes soonest. Terminals are sampled by name and by the rule they sit in (an ``IDENT``
in a call is a function name, in ``config_item`` a config key ...) from ``vocab``; a terminal
with no sampler is made from its regular expression, so a new terminal still gets text.
"""

from __future__ import annotations

import functools
import os
import random
from re import _parser as sre  # the regex parser, to make text that matches a terminal

from lark import Lark

from . import vocab

GRAMMAR = os.path.join(os.path.dirname(__file__), "..", "..", "grammar", "tracer.lark")
UNBOUNDED = 10**9


@functools.lru_cache(maxsize=None)
def load(path: str = GRAMMAR) -> "Grammar":
    with open(path) as f:
        return Grammar(f.read())


class Grammar:
    def __init__(self, text: str):
        parser = Lark(text, parser="lalr", lexer="contextual", keep_all_tokens=True,
                      maybe_placeholders=False)
        self.rules: dict[str, list] = {}
        for rule in parser.rules:
            self.rules.setdefault(rule.origin.name, []).append(rule)
        self.patterns = {t.name: t.pattern for t in parser.terminals}
        self.cost = self._costs()

    def _costs(self) -> dict[str, int]:
        """The fewest nesting levels each rule needs to finish (a fixed point)."""
        cost = {name: UNBOUNDED for name in self.rules}
        changed = True
        while changed:
            changed = False
            for name, alternatives in self.rules.items():
                best = min(self.alt_cost(alt, cost) for alt in alternatives)
                if best < cost[name]:
                    cost[name], changed = best, True
        return cost

    def alt_cost(self, rule, cost=None) -> int:
        cost = cost or self.cost
        subs = [cost[s.name] for s in rule.expansion if not s.is_term]
        return 1 + max(subs, default=0)


class Expander:
    """One program: ``expand("start")`` gives its tokens."""

    def __init__(self, grammar: Grammar, rng: random.Random, depth: int = 30,
                 tokens: int = 300, tracepoints: bool = True):
        self.g, self.r = grammar, rng
        self.depth, self.budget = depth, tokens
        self.attach = list(vocab.PLAIN_ATTACH) + (sorted(vocab.TRACEPOINTS) if tracepoints else [])
        self.out: list[str] = []
        self.used: set[str] = set()  # the rules expanded, for tests of coverage

    def expand(self, name: str, depth: int = 0) -> list[str]:
        alternatives = self.g.rules[name]
        room = self.depth - depth
        if room > 0 and self.budget > 0:
            fitting = [a for a in alternatives if self.g.alt_cost(a) <= room] or alternatives
            rule = self.r.choices(fitting, [self.weight(name, a) for a in fitting])[0]
        else:  # out of budget: finish as soon as possible, by a favoured alternative if one is
            rule = min(alternatives, key=lambda a: (self.weight(name, a) < 0.1, self.g.alt_cost(a)))
        context = rule.alias or name
        self.used.add(name)
        for symbol in rule.expansion:
            if symbol.is_term:
                self.out.append(self.terminal(symbol.name, context))
                self.budget -= 1
            else:
                self.expand(symbol.name, depth + 1)
        return self.out

    @staticmethod
    def weight(name: str, rule) -> float:
        # An empty alternative (an empty program, block or argument list) is the least
        # interesting: it gets a fifth of the others' chance (an empty program, less).
        if not rule.expansion:
            return PREFER.get((name, None), 0.2)
        return PREFER.get(rule.alias, PREFER.get((name, rule.expansion[0].name), 1.0))

    def terminal(self, name: str, context: str) -> str:
        r = self.r
        sampler = SAMPLERS.get((name, context)) or SAMPLERS.get(name)
        if sampler is not None:
            return sampler(self, r)
        pattern = self.g.patterns[name]
        if pattern.type == "str":
            return pattern.value
        return from_regex(pattern.value, r)


# Alternatives favoured (or not), by their alias or by their rule and first symbol. A program of
# only macros and config blocks is refused before the checker runs, so probes come first; an
# increment of anything but a variable or map, an address or a dereference are refused too, so
# they come less often than their share of the rule would make them.
PREFER = {("start", None): 0.02, ("_top", "probe"): 8.0, ("_top", "config"): 0.5,
          "pre_inc": 0.05, "pre_dec": 0.05, "post_inc": 0.03, "post_dec": 0.03, "deref": 0.2,
          "addr": 0.2, "offsetof": 0.2, "block_expr": 0.05}


def _ident(words):
    return lambda ex, r: r.choice(words)


SAMPLERS = {
    "ATTACH_POINT": lambda ex, r: r.choice(ex.attach) if r.random() < 0.9
    else r.choice(vocab.ODD_ATTACH),
    "END_PREDICATE": lambda ex, r: "/",
    "MAP_NAME": _ident(vocab.MAPS),
    "VAR": _ident(vocab.VARS + ["$kv"]),
    "POSITIONAL": _ident(["$1", "$2", "$0", "$10", "$01"]),
    "INT": lambda ex, r: vocab.int_literal(r),
    "STRING": lambda ex, r: vocab.string_literal(r),
    "TYPE_NAME": lambda ex, r: r.choice(vocab.INT_TYPES + ["bool", "string", "void", "char"]),
    "AUGMENTED": _ident(vocab.AUGMENTED),
    "BINARY_OP": _ident(vocab.ARITH_OPS + vocab.COMPARE_OPS + vocab.LOGIC_OPS),
    "IDENT": _ident(vocab.BUILTINS + ["args", "x"]),
    ("IDENT", "call"): _ident(vocab.FUNCTIONS + ["m", "nosuch"]),
    ("IDENT", "config_item"): _ident(sorted(vocab.CONFIG)),
    ("IDENT", "config_word"): _ident(["warn", "error", "true", "perf", "gpl"]),
    ("IDENT", "macro_def"): _ident(["m", "inc", "str", "pid"]),
    ("IDENT", "macro_param"): _ident(["x", "y", "comm"]),
    ("IDENT", "discard"): _ident(["_", "x"]),
    ("IDENT", "arrow_field"): _ident(vocab.FIELDS),
    ("IDENT", "dot_field"): _ident(vocab.FIELDS + ["a", "b"]),
    ("IDENT", "offsetof"): _ident(["pid", "comm", "x"]),
    ("IDENT", "field_value"): _ident(["a", "b", "x", "pid"]),
    ("IDENT", "_type_name"): _ident(["task_struct", "foo", "file"]),
    ("INT", "tuple_index"): lambda ex, r: r.choice(["0", "1", "2", "00", "99999999999999999999"]),
    ("INT", "type_spec"): lambda ex, r: r.choice(["1", "8", "64", "0", "4096"]),
}


def from_regex(pattern: str, rng: random.Random, repeat: int = 3) -> str:
    """Some text that matches ``pattern`` (lookarounds are ignored)."""
    out: list[str] = []
    _emit(sre.parse(pattern), rng, out, repeat)
    return "".join(out)


def _emit(items, rng, out, repeat) -> None:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append(rng.choice([c for c in "az_09 " if ord(c) != arg]))
        elif name == "ANY":
            out.append(rng.choice("ax_"))
        elif name == "IN":
            out.append(_one_of(arg, rng))
        elif name == "BRANCH":
            _emit(rng.choice(arg[1]), rng, out, repeat)
        elif name == "SUBPATTERN":
            _emit(arg[-1], rng, out, repeat)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            for _ in range(rng.randint(low, min(high, low + repeat))):
                _emit(sub, rng, out, repeat)
        # AT, ASSERT, ASSERT_NOT, GROUPREF: nothing to write


def _one_of(items, rng) -> str:
    """A character from a [...] class; a negated class gets a plain letter outside it."""
    choices: list[str] = []
    negate = False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            choices.append(chr(arg))
        elif name == "RANGE":
            choices.append(chr(rng.randint(*arg)))
        elif name == "CATEGORY":
            choices.append({"CATEGORY_DIGIT": "7", "CATEGORY_SPACE": " "}.get(str(arg), "q"))
    if negate:
        return rng.choice([c for c in "qz_7" if c not in choices] or ["q"])
    return rng.choice(choices or ["q"])


def generate(rng: random.Random, tracepoints: bool = True) -> str:
    """One program from the grammar, its tokens spaced (sometimes by newlines or comments)."""
    # Depth counts every rule, and an expression's precedence chain alone is a dozen deep
    # under a statement: the token budget is what keeps programs small.
    ex = Expander(load(), rng, depth=rng.randint(24, 80), tokens=rng.choice([40, 120, 400]),
                  tracepoints=tracepoints)
    tokens = ex.expand("start")
    seps = [" "] * 20 + ["\n", "  ", "\t", " /* c */ ", " // c\n"]
    text = tokens[0] if tokens else ""
    for tok in tokens[1:]:
        text += rng.choice(seps) + tok
    return text
