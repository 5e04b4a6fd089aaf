"""The fuzzer (scripts/fuzz): a seeded run finds no failure in tracer's compiler, and each of
its parts does what it promises (deterministic cases, grammar coverage, the mutations and sizes
it claims, a runner that reports a broken target, a hang and a crash as failures)."""

from __future__ import annotations

import collections
import os
import random
import re
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from fuzzlib import (cases, generator, grammar, mutator, reduce, runner, stress,  # noqa: E402
                     targets)
from tracer.diagnostics import CompileError  # noqa: E402

TRACEPOINTS = os.geteuid() == 0  # tracepoint probes need tracefs, which needs root
# The seeded run: about 10 s on two cores. Seed 6 once found a tuple index too long for int().
SEED, COUNT = 6, 3000


def test_a_seeded_run_finds_no_failures(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "fuzz.py"),
                             "--count", str(COUNT), "--seed", str(SEED), "--out", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    m = re.search(r"programs (\d+), accepted (\d+), refused (\d+), failures (\d+)", result.stdout)
    assert m, result.stdout
    programs, accepted, refused, failures = map(int, m.groups())
    assert (programs, failures) == (COUNT, 0)
    assert accepted + refused == COUNT
    assert accepted > COUNT * 0.3  # a good share reaches the code generator
    assert os.listdir(tmp_path) == []


def test_cases_are_a_function_of_seed_and_index():
    forward = [cases.make_case(7, i) for i in range(60)]
    backward = [cases.make_case(7, i) for i in reversed(range(60))][::-1]
    assert forward == backward
    other_seed = [cases.make_case(8, i) for i in range(60)]
    assert sum(a.text != b.text for a, b in zip(forward, other_seed)) > 50
    assert {c.source for c in forward} >= {"gen", "grammar", "mutate"}


def _compiles(text: str) -> bool:
    try:
        targets.compile_case(cases.Case(0, 0, "test", text))
        return True
    except CompileError:
        return False


def test_generated_programs_are_plausible_and_varied():
    texts = [generator.generate(random.Random(i), TRACEPOINTS) for i in range(200)]
    accepted = sum(map(_compiles, texts))
    assert accepted > 0.6 * len(texts)
    everything = "\n".join(texts)
    for construct in ["for (", "while (", "unroll (", "let $", "printf(", "count()", "config = {",
                      "macro ", " ? ", "++", "0x", "if (", "else", "exit();", "strcontains(",
                      "str(", "strlen(", "(uint", "interval:", "BEGIN", "{ $", ".0", " += "]:
        assert construct in everything, construct


def test_grammar_expansion_reaches_every_rule():
    g = grammar.load()
    used: set = set()
    texts = []
    for i in range(400):
        ex = grammar.Expander(g, random.Random(i), tokens=200)
        texts.append(" ".join(ex.expand("start")))
        used |= ex.used
    assert used == set(g.rules)
    # The expansions follow the grammar: nearly all of them get past lark's parser (what
    # remains are literals the lexer reads differently, as `1.5`).
    from lark import Lark
    with open(grammar.GRAMMAR) as f:
        parser = Lark(f.read(), parser="lalr", lexer="contextual")
    parsed = 0
    for text in texts:
        try:
            parser.parse(text)
            parsed += 1
        except Exception:  # noqa: BLE001 -- lark's own errors: what we count
            pass
    assert parsed > 0.85 * len(texts)


def test_mutations_make_what_they_promise():
    base = b'BEGIN { $a = 123; @m["x"] = count(); printf("%d\\n", $a); }'
    rng = random.Random(3)
    assert all(len(mutator.truncate(base, rng, b"")) <= len(base) for _ in range(20))
    assert re.search(rb"\d{25,}", mutator.huge_number(base, rng, b""))
    inserted = b"".join(mutator.insert(base, rng, b"") for _ in range(500))
    for needle in [b"\xff", "\u0663".encode(), "\u00b2".encode(), b"/*"]:
        assert needle in inserted
    mutated = [mutator.mutate(base, rng, b"END { exit(); }") for _ in range(300)]
    assert len(set(mutated)) > 250
    invalid = 0
    for data in mutated:
        assert mutator.decode(data).encode("utf-8", "surrogateescape") == data  # exact bytes
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            invalid += 1
    assert invalid > 5


def test_stress_reaches_the_promised_sizes():
    rng = random.Random(5)
    nestings = [stress.nesting(rng) for _ in range(300)]
    depths = [max(t.count("("), t.count("{"), t.count("!"), t.count("~"), t.count("-"),
                  t.count("+"), t.count("?"), t.count("[")) for t in nestings]
    assert min(depths) >= 100 and max(depths) >= 4000
    assert any(re.search(r"\d{1000,}", stress.huge_literal(rng)) for _ in range(50))
    assert max(len(stress.long_string(rng)) for _ in range(50)) >= 20_000
    assert max(stress.many(rng).count(";") + stress.many(rng).count("BEGIN")
               for _ in range(30)) >= 1000


def _make(index: int) -> cases.Case:
    return cases.Case(0, index, "test", f"program {index}")


def _broken(case):
    if case.index % 3 == 0:
        raise KeyError("boom")
    if case.index % 3 == 1:
        raise CompileError([])


def test_the_runner_reports_a_broken_target():
    work = runner.Runner(_make, {"compile": _broken}, (CompileError,), jobs=2)
    outcomes = work.run(("compile", i) for i in range(30))
    assert [o.index for o in outcomes] == list(range(30))
    assert collections.Counter(o.status for o in outcomes) == \
        {"failure": 10, "refused": 10, "accepted": 10}
    causes = {o.cause for o in outcomes if o.status == "failure"}
    assert len(causes) == 1
    assert re.fullmatch(r"KeyError at tests/unit/test_fuzz\.py:\d+ in _broken", causes.pop())


def _hangs_or_dies(case):
    if case.index == 1:
        time.sleep(60)
    if case.index == 2:
        os._exit(3)


def test_the_runner_survives_a_hang_and_a_crash():
    start = time.monotonic()
    work = runner.Runner(_make, {"compile": _hangs_or_dies}, (), jobs=2, limits={"compile": 1.0})
    outcomes = work.run(("compile", i) for i in range(8))
    assert time.monotonic() - start < 10
    assert outcomes[1].status == "failure" and outcomes[1].cause.startswith("Timeout (>1 s)")
    assert "in _hangs_or_dies" in outcomes[1].detail  # where it was stuck, from faulthandler
    assert outcomes[2].status == "failure" and outcomes[2].cause.startswith("WorkerDied (exit 3)")
    assert [o.status for i, o in enumerate(outcomes) if i not in (1, 2)] == ["accepted"] * 6


def test_the_reducer_keeps_only_what_fails():
    def target(case):
        if "boom(" in case.text:
            raise KeyError("boom")

    text = 'config = { max_strlen = 8 } BEGIN { $a = 1; printf("x"); } END { boom(1); @x = 2; }'
    case = cases.Case(0, 0, "test", text)
    cause = runner.run_one(case, "compile", target, ()).cause
    small = reduce.reduce_text(text, reduce.same_failure(case, target, (), cause))
    assert "boom(" in small and len(small) <= 8


@pytest.mark.parametrize("seed", [1, 2])
def test_show_reproduces_a_case(seed, capsys):
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import fuzz
    assert fuzz.main(["--seed", str(seed), "--index", "5"]) in (0, 1)
    out = capsys.readouterr().out
    assert out.startswith("# index 5 source ")
    assert cases.make_case(seed, 5, tracepoints=TRACEPOINTS).text in out
