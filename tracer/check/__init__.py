"""The checker pass: every name resolved, every expression typed, every mistake reported.

Types are learned in rounds. A variable's type is the one that holds every value assigned to it
and a map's the one that holds every value any probe stores, yet a read may come before the
assignment that widens it (in a loop, or in an earlier probe). So the whole program is checked
again with what the previous round learned, until a round learns nothing new; that last round's
diagnostics are the ones reported. Types only ever widen, so this ends, in two rounds for most
programs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..cdefs.catalog import TypeCatalog
from ..config import Config
from ..diagnostics import Reporter
from ..options import CompileOptions
from ..passes.attach import ProbeSite
from .checker import Checker
from .symbols import MapInfo, TypeFacts, Variable

MAX_ROUNDS = 8


@dataclass
class ProgramFacts:
    """What the checker hands to the later stages."""

    maps: dict[str, MapInfo] = field(default_factory=dict)
    # Per probe site (by site index): its variables with their final types, in the order the
    # code generator numbers them.
    variables: dict[int, list[Variable]] = field(default_factory=dict)
    # The named parameters the program reads with getopt(), with their descriptions.
    getopts: dict[str, str] = field(default_factory=dict)


def check_program(sites: list[ProbeSite], options: CompileOptions, config: Config,
                  reporter: Reporter, catalog: Optional[TypeCatalog] = None) -> ProgramFacts:
    learned = TypeFacts()
    for _ in range(MAX_ROUNDS):
        checker = _round(sites, options, config, learned, catalog)
        facts = checker.facts()
        if facts.same_as(learned):
            break  # nothing new: this round saw the final types
        learned = facts
    reporter.extend(checker.reporter.diagnostics)
    # What needed the whole program to be seen (a map read but assigned nowhere).
    for span, message in checker.deferred:
        reporter.error(span, message)
    unexpected = sorted(set(options.named) - set(checker.getopts) - {"help"})
    if unexpected:
        expected = " ".join(f"--{name}" for name in checker.getopts) or "none"
        reporter.error(None, "unexpected program command line options: " +
                       " ".join(f"--{name}" for name in unexpected),
                       hint=f"expected program options: {expected}")
    variables = {}
    for index, site_vars in checker.variables.items():
        for variable in site_vars:
            variable.type = checker.var_types.get(variable.key)
            if not variable.assigned:
                reporter.warning(variable.span, f"Variable {variable.name} was never assigned to.")
        variables[index] = site_vars
    return ProgramFacts(maps=checker.maps, variables=variables, getopts=checker.getopts)


def _round(sites, options, config, learned: TypeFacts, catalog) -> Checker:
    checker = Checker(options, config, Reporter(), learned, catalog)
    for site in sites:
        checker.check_site(site)
    return checker
