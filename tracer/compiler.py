"""The compiler's stages wired together: text -> AST -> probe sites -> typed -> resources -> C.

``compile_program`` is what the CLI, the tests and anyone embedding tracer call. It loads
nothing into the kernel (see ``tracer.runtime``), but expanding tracepoints reads tracefs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast
from .codegen.program import generate_c
from .diagnostics import CompileError, Diagnostic, Reporter, Source
from .options import CompileOptions
from .parser import parse
from .passes.attach import ProbeSite, expand_probes
from .passes.resources import Resources, collect_resources
from .passes.semantic import SemanticFacts, check_program
from .providers import ExpandContext


@dataclass
class CompiledProgram:
    source: Source
    program: ast.Program
    sites: list[ProbeSite]
    resources: Resources
    facts: SemanticFacts
    c_text: str
    warnings: list[Diagnostic] = field(default_factory=list)


def compile_program(text: str, name: str = "stdin",
                    options: CompileOptions | None = None) -> CompiledProgram:
    options = options or CompileOptions()
    source = Source(name, text)
    try:
        program = parse(source)
        reporter = Reporter()
        sites = expand_probes(program, reporter, ExpandContext(options.notice, options.verbose))
        reporter.raise_if_errors()
        facts = check_program(sites, options, reporter)
        reporter.raise_if_errors()
    except CompileError as err:
        raise CompileError(err.diagnostics, source) from None
    resources = collect_resources(sites, facts)
    c_text = generate_c(sites, resources, options, facts.variables)
    return CompiledProgram(source, program, sites, resources, facts, c_text, reporter.warnings)
