"""Shrink a failing program to a small one that fails the same way.

Why: a fuzzed program that crashes the compiler is usually long and mostly irrelevant; the bug
report wants the three tokens that matter. This is a plain greedy delta reduction: try removing
chunks of the text (halves, then quarters ... then single characters), keep a removal whenever
the program still fails with the same cause, and repeat until nothing more can go.
Only failures that raise are reduced (a timeout would take seconds per attempt).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable

from .runner import run_one


def same_failure(case, target: Callable, refusals: tuple, cause: str) -> Callable[[str], bool]:
    """A test for candidate texts: does the case, with this text, fail with ``cause``?"""
    def test(text: str) -> bool:
        outcome = run_one(dataclasses.replace(case, text=text), "compile", target, refusals)
        return outcome.status == "failure" and outcome.cause == cause
    return test


TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|\s+|[$@]?\w+|\S')
PAIRS = {"{": "}", "(": ")", "[": "]"}


def reduce_text(text: str, fails: Callable[[str], bool], budget: int = 5000) -> str:
    """The smallest text found (within ``budget`` attempts) for which ``fails`` holds.

    On tokens rather than characters, so that a removal keeps words whole: first whole
    bracketed groups (a block, an argument list) with what leads up to them, then long words
    cut short, then runs of tokens, halving their length."""
    tokens = TOKEN.findall(text)
    state = {"budget": budget}

    def attempt(candidate: list) -> bool:
        state["budget"] -= 1
        return state["budget"] > 0 and fails("".join(candidate))

    changed = True
    while changed and state["budget"] > 0:
        changed = False
        for i in reversed(range(len(tokens))):  # groups: removed, or replaced by their inside
            j = _closing(tokens, i)
            if j is None or j >= len(tokens):
                continue
            # The group with what leads up to it (a probe's attach point, `config =`, a call's
            # name) and maybe what follows (`.1`), or only its inside.
            candidates = [tokens[:max(0, i - k)] + tokens[j + 1 + t:]
                          for k in range(12, -1, -1) for t in (2, 0)]
            candidates.append(tokens[:i] + tokens[i + 1:j] + tokens[j + 1:])
            for candidate in candidates:
                if len(candidate) < len(tokens) and attempt(candidate):
                    tokens, changed = candidate, True
                    break
        for i in range(len(tokens)):  # a long word (thousands of digits) cut in half
            while len(tokens[i]) > 8 and not tokens[i].isspace():
                candidate = tokens[:i] + [tokens[i][:len(tokens[i]) // 2]] + tokens[i + 1:]
                if not attempt(candidate):
                    break
                tokens, changed = candidate, True
        chunk = max(1, len(tokens) // 2)
        while chunk >= 1 and state["budget"] > 0:
            start = 0
            while start < len(tokens) and state["budget"] > 0:
                candidate = tokens[:start] + tokens[start + chunk:]
                if attempt(candidate):
                    tokens, changed = candidate, True
                else:
                    start += chunk
            chunk //= 2
    return _tidy("".join(tokens), fails)


def _closing(tokens: list, i: int):
    """The index of the bracket closing the one at ``i``, if it opens one."""
    close = PAIRS.get(tokens[i])
    if close is None:
        return None
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j] == tokens[i]:
            depth += 1
        elif tokens[j] == close:
            depth -= 1
            if depth == 0:
                return j
    return None


def _tidy(text: str, fails: Callable[[str], bool]) -> str:
    """Runs of blanks squeezed to one, where the failure allows."""
    squeezed = " ".join(text.split())
    return squeezed if squeezed != text and fails(squeezed) else text
