"""Macro expansion: every call of a ``macro`` replaced by the macro's body, before anything
else looks at the probes.

bpftrace's macros are hygienic. A parameter written ``$a`` takes a variable of the caller (the
body reads and writes it); ``@m`` takes a map; a bare ``x`` takes any expression, copied wherever
the body says ``x``. Every other variable of the body is the macro's own (renamed apart from the
caller's), and the body may touch no map it was not given. A call in an expression becomes a
block expression whose value is the body's last expression; a call standing as a statement
becomes a block.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Optional

from .. import ast
from ..builtins import BUILTINS
from ..diagnostics import Reporter

MAX_EXPANSION_DEPTH = 100


class MacroExpander:
    def __init__(self, macros: list[ast.MacroDef], reporter: Reporter):
        self.reporter = reporter
        self.macros: dict[str, ast.MacroDef] = {}
        for macro in macros:
            if macro.name in self.macros:
                self.reporter.error(macro.name_span, f"Redefinition of macro: {macro.name}")
                continue
            self._check_definition(macro)
            self.macros[macro.name] = macro
        self.stack: list[str] = []
        self.expansions = 0

    def _check_definition(self, macro: ast.MacroDef) -> None:
        seen = set()
        for param in macro.params:
            if param.name in seen:
                self.reporter.error(param.span, f"Argument for macro has already been used: "
                                                f"{param.name}")
            seen.add(param.name)
        maps = {p.name for p in macro.params if p.name.startswith("@")}
        for jump in _escaping_jumps([macro.body, macro.value]):
            self.reporter.error(jump.span, f"'{jump.kind}' statement is not allowed in a macro")
        for node in ast.walk([macro.body, macro.value]):
            if isinstance(node, (ast.MapRef, ast.ForMap)):
                ref = node.map if isinstance(node, ast.ForMap) else node
                if ref.name not in maps:
                    self.reporter.error(ref.span, f"Unhygienic access to map: {ref.name}. Maps "
                                                  f"must be passed into the macro as arguments.")

    # -- the walk ----------------------------------------------------------------------------

    def expand_probe(self, probe: ast.Probe) -> None:
        if probe.predicate is not None:
            probe.predicate = self.rewrite(probe.predicate)
        probe.body = self.rewrite(probe.body)

    def rewrite(self, node):
        """``node`` with every macro call under it (and itself) expanded."""
        replacement = self._expand(node)
        if replacement is not None:
            return replacement
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, ast.Node):
                setattr(node, f.name, self.rewrite(value))
            elif isinstance(value, list) and value and isinstance(value[0], ast.Node):
                setattr(node, f.name, [self.rewrite(v) if isinstance(v, ast.Node) else v
                                       for v in value])
        return node

    def _expand(self, node) -> Optional[ast.Node]:
        if isinstance(node, ast.ExprStmt) and self._macro_for(node.expr) is not None:
            expanded = self._expand_call(node.expr, statement=True)
            return expanded
        if isinstance(node, (ast.Call, ast.Ident)) and self._macro_for(node) is not None:
            return self._expand_call(node, statement=False)
        return None

    def _macro_for(self, node) -> Optional[ast.MacroDef]:
        if isinstance(node, ast.Call):
            return self.macros.get(node.name)
        if isinstance(node, ast.Ident) and node.name not in BUILTINS:
            macro = self.macros.get(node.name)
            return macro if macro is not None and not macro.params else None
        return None

    def _expand_call(self, call, statement: bool) -> ast.Node:
        macro = self._macro_for(call)
        args = call.args if isinstance(call, ast.Call) else []
        if macro.name in self.stack:
            chain = " > ".join([*self.stack[self.stack.index(macro.name):], macro.name])
            self.reporter.error(call.span, f"Recursive macro call detected. Call chain: {chain}")
            return _nothing(call, statement)
        if len(self.stack) >= MAX_EXPANSION_DEPTH:
            self.reporter.error(call.span, f"macro calls nested more than {MAX_EXPANSION_DEPTH} "
                                           f"deep")
            return _nothing(call, statement)
        if len(args) != len(macro.params):
            self.reporter.error(call.span, f"Call to {macro.name}() has arguments that do not "
                                           f"match any definition.",
                                hint=f"{macro.name} takes {len(macro.params)} argument(s)")
            return _nothing(call, statement)
        binding = self._bind(macro, args)
        if binding is None:
            return _nothing(call, statement)
        self.expansions += 1
        body = copy.deepcopy(macro.body)
        value = copy.deepcopy(macro.value)
        substitute = _Substitution(binding, f"#{macro.name}{self.expansions}")
        body = substitute.rewrite(body)
        value = substitute.rewrite(value) if value is not None else None
        # Macros calling macros: expand inside the copy, with this one on the stack.
        self.stack.append(macro.name)
        try:
            body = self.rewrite(body)
            value = self.rewrite(value) if value is not None else None
        finally:
            self.stack.pop()
        _respan(body, call.span)
        if value is not None:
            _respan(value, call.span)
        if statement:
            stmts = body.stmts + ([ast.ExprStmt(call.span, value)] if value is not None else [])
            return ast.Block(call.span, stmts)
        if value is None:
            self.reporter.error(call.span, f"macro {macro.name}() has no value: its body does "
                                           f"not end with an expression")
            return ast.IntLit(call.span, 0)
        return ast.BlockExpr(call.span, body, value)

    def _bind(self, macro: ast.MacroDef, args: list[ast.Expr]) -> Optional[dict]:
        binding: dict[str, object] = {}
        ok = True
        for param, arg in zip(macro.params, args):
            if param.name.startswith("$"):
                if not isinstance(arg, ast.Var):
                    got = "a map" if isinstance(arg, ast.MapRef) else "an expression"
                    self.reporter.error(arg.span, f"Mismatched arg. {macro.name}() expects a "
                                                  f"variable for arg {param.name} but got {got}.")
                    ok = False
                    continue
                binding[param.name] = arg.name
            elif param.name.startswith("@"):
                if not isinstance(arg, ast.MapRef) or arg.keys:
                    got = "a variable" if isinstance(arg, ast.Var) else "an expression"
                    self.reporter.error(arg.span, f"Mismatched arg. {macro.name}() expects a "
                                                  f"map for arg {param.name} but got {got}.")
                    ok = False
                    continue
                binding[param.name] = arg.name
            else:
                binding[param.name] = arg
        return binding if ok else None


class _Substitution:
    """Renames within a copied macro body: parameters to what the call gave, the body's own
    variables apart from every other name."""

    def __init__(self, binding: dict, suffix: str):
        self.binding = binding
        self.suffix = suffix

    def rewrite(self, node):
        if isinstance(node, ast.Var):
            node.name = self.binding.get(node.name) or f"{node.name}{self.suffix}"
            return node
        if isinstance(node, ast.MapRef):
            node.name = self.binding.get(node.name, node.name)
        if isinstance(node, ast.Ident) and node.name in self.binding:
            return copy.deepcopy(self.binding[node.name])
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, ast.Node):
                setattr(node, f.name, self.rewrite(value))
            elif isinstance(value, list) and value and isinstance(value[0], ast.Node):
                setattr(node, f.name, [self.rewrite(v) for v in value])
        return node


LOOPS = (ast.While, ast.ForRange, ast.ForMap)


def _escaping_jumps(roots) -> list[ast.Jump]:
    """The jumps that would leave a macro's body: every return, and a break or continue that
    is not inside a loop of the body itself."""
    found, stack = [], [(root, False) for root in roots if root is not None]
    while stack:
        node, in_loop = stack.pop()
        if isinstance(node, ast.Jump) and (node.kind == "return" or not in_loop):
            found.append(node)
        inner = in_loop or isinstance(node, LOOPS)
        stack.extend((child, inner) for child in ast.children(node))
    return sorted(found, key=lambda j: (j.span.line, j.span.col))


def _respan(root: ast.Node, span) -> None:
    """Point every node of an expansion at the call, so that errors in it name the call."""
    for node in ast.walk(root):
        node.span = span
        for attr in ("name_span", "op_span"):
            if hasattr(node, attr):
                setattr(node, attr, span)


def _nothing(call, statement: bool) -> ast.Node:
    return ast.Block(call.span, []) if statement else ast.IntLit(call.span, 0)


def expand_macros(program: ast.Program, reporter: Reporter) -> None:
    if program.macros:
        expander = MacroExpander(program.macros, reporter)
        for probe in program.probes:
            expander.expand_probe(probe)
