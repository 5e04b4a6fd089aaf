"""The compiler's stages wired together: text -> AST -> macros expanded -> probe sites -> typed
-> resources -> C.

``compile_program`` is what the CLI, the tests and anyone embedding tracer call. It loads
nothing into the kernel (see ``tracer.runtime``), but expanding tracepoints reads tracefs.

The checker and the code generator walk expressions recursively, and a program may nest an
expression thousands of levels deep (bpftrace takes 5,000); compiling runs on a thread with a
large stack and a matching recursion limit, so depth is a located error at 10,000 levels rather
than a crash.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, TypeVar

from . import ast
from .cdefs.program_c import catalog_for
from .check import ProgramFacts, check_program
from .codegen.program import GeneratedProgram, generate_c
from .config import Config, from_environment, resolve
from .diagnostics import CompileError, Diagnostic, Reporter, Source
from .options import CompileOptions
from .parser import parse, preprocess_source
from .passes.attach import ProbeSite, expand_probes
from .passes.macros import expand_macros
from .passes.resources import Resources, collect_resources
from .providers import ExpandContext

RECURSION_LIMIT = 200_000
THREAD_STACK = 512 * 1024 * 1024  # virtual memory: only what is touched is used

T = TypeVar("T")


@dataclass
class CompiledProgram:
    source: Source
    program: ast.Program
    config: Config
    sites: list[ProbeSite]
    resources: Resources
    facts: ProgramFacts
    generated: GeneratedProgram
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def c_text(self) -> str:
        return self.generated.c_text


def compile_program(text: str, name: str = "stdin", options: Optional[CompileOptions] = None,
                    environ: Optional[Mapping[str, str]] = None) -> CompiledProgram:
    options = options or CompileOptions()
    environ = from_environment() if environ is None else environ
    return with_deep_stack(lambda: _compile(text, name, options, environ))


def _compile(text: str, name: str, options: CompileOptions,
             environ: Mapping[str, str]) -> CompiledProgram:
    source = Source(name, text)
    reporter = Reporter()
    try:
        pre = preprocess_source(source)
        reporter.extend(pre.warnings)
        program = parse(source, pre)
        catalog = catalog_for(pre, name)
        config = resolve(program.config, environ, reporter)
        expand_macros(program, reporter)
        reporter.raise_if_errors()
        context = ExpandContext(options.notice, options.verbose, config.missing_probes,
                                options.target_pid, options.has_child)
        sites = expand_probes(program, reporter, context)
        reporter.raise_if_errors()
        facts = check_program(sites, options, config, reporter, catalog)
        reporter.raise_if_errors()
        resources = collect_resources(sites, facts, config)
        generated = generate_c(sites, resources, facts, options, config)
    except CompileError as err:
        raise CompileError(err.diagnostics, source) from None
    return CompiledProgram(source, program, config, sites, resources, facts, generated,
                           reporter.warnings)


def with_deep_stack(work: Callable[[], T]) -> T:
    """Run ``work`` on a thread with room for deep recursion; its result or its exception."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:  # handed to the caller's thread
            outcome["error"] = err

    previous_limit = sys.getrecursionlimit()
    previous_size = threading.stack_size()
    try:
        threading.stack_size(THREAD_STACK)
        sys.setrecursionlimit(max(previous_limit, RECURSION_LIMIT))
        thread = threading.Thread(target=run, name="tracer-compile")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous_size)
        sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]

