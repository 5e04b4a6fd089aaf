"""Which program the fuzzer tries at each index: the mix of sources, and the options (positional
parameters, -c) it is compiled with.

Why a case is a pure function of (seed, index): workers make their own programs, so no text
crosses a pipe; a failure found at index 12345 is reproduced by asking for that index again;
and a run is the same whatever the number of workers or their timing.

The mix: the hand-written generator for programs that reach code generation, grammar
expansion for shapes nobody planned, byte mutations of both for the edges of the lexer and
the parser, and a small share of extreme sizes (each costs more than a hundred others).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import generator, grammar, mutator, stress
from .vocab import weighted

SOURCES = {"gen": 45.0, "grammar": 20.0, "mutate": 34.0, "stress": 1.0}
NAMED = [("n", "7"), ("n", "abc"), ("count", "-3"), ("verbose", True), ("flag", "false"),
         ("name", "x y"), ("name", ""), ("n", "99999999999999999999"), ("flag", "maybe")]
PARAMS = ["1", "-5", "0x10", "abc", "", "99999999999999999999", "-9223372036854775808",
          "\u0663", "1e3", "10ms", "1_000", "0", "hello world", "%s"]


@dataclass(frozen=True)
class Case:
    seed: int
    index: int
    source: str
    text: str
    params: tuple = ()
    has_child: bool = False
    named: tuple = ()  # (name, value) pairs: --name=value after `--`; a bare --name is True


def make_case(seed: int, index: int, sources: dict = SOURCES, tracepoints: bool = True) -> Case:
    # A string seed: Python hashes it with SHA-512, the same in every process and run.
    rng = random.Random(f"tracer-fuzz/{seed}/{index}")
    source = weighted(rng, [(w, name) for name, w in sorted(sources.items())])
    has_child = rng.random() < 0.05
    if source == "gen":
        text = generator.generate(rng, tracepoints, has_child)
    elif source == "grammar":
        text = grammar.generate(rng, tracepoints)
    elif source == "stress":
        text = stress.generate(rng)
    else:
        text = mutated(rng, tracepoints)
    params: tuple = ()
    if rng.random() < 0.1:
        params = tuple(rng.choice(PARAMS) for _ in range(rng.randint(1, 3)))
    named: tuple = ()
    if rng.random() < 0.1:
        named = tuple(rng.sample(NAMED, rng.randint(1, 3)))
    return Case(seed, index, source, text, params, has_child, named)


def mutated(rng: random.Random, tracepoints: bool) -> str:
    def base() -> str:
        if rng.random() < 0.75:
            return generator.generate(rng, tracepoints)
        return grammar.generate(rng, tracepoints)

    data, donor = base().encode(), base().encode()
    return mutator.decode(mutator.mutate(data, rng, donor))
