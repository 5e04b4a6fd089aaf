"""Pass 2: names resolved, types inferred, mistakes reported with their spans.

Every expression gets its ``type``. Maps are typed across the whole program: a map may be read
in one probe before the probe that assigns it, so the pass runs twice, the first time only to
learn map types and the second to report. Builtins and functions come from their registries.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Optional

from .. import ast
from ..builtins import BUILTINS
from ..diagnostics import Reporter, Span
from ..functions import FUNCTIONS, Function, Kind, Place
from ..options import CompileOptions
from ..types import (COUNT, INT64, UINT64, ArgsType, CountType, IntType, StringType, Type)
from .attach import ProbeSite

ARITHMETIC = {"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"}
COMPARISON = {"==", "!=", "<", "<=", ">", ">="}
LOGICAL = {"&&", "||"}


@dataclass
class MapType:
    """What the program stores in one map, learned from its assignments."""

    name: str
    span: Span  # the first assignment, for messages
    key_types: list[Type]
    value_type: Type

    @property
    def is_aggregation(self) -> bool:
        return isinstance(self.value_type, CountType)


@dataclass
class VarSymbol:
    """One scratch variable of one probe site, with the type its assignments settle on. Every
    ``ast.Var`` that names it points here, so later stages never search the tree for it."""

    name: str
    index: int  # within its site: the code generator names it v<index>
    type: Optional[Type] = None


@dataclass
class SemanticFacts:
    maps: dict[str, MapType] = field(default_factory=dict)
    # Per probe site (by site index): its variables, in order of first assignment.
    variables: dict[int, list[VarSymbol]] = field(default_factory=dict)


class _Silent(Reporter):
    """The first round's reporter: it only learns map types, so its complaints are dropped."""

    def error(self, *args, **kwargs) -> None:
        pass

    def warning(self, *args, **kwargs) -> None:
        pass


class Checker:
    def __init__(self, options: CompileOptions, reporter: Reporter, learning: bool = False):
        self.options = options
        # In the learning round a map may be read before anything assigned it (`@n = @n + 1`
        # the first time round); such a read is taken to be an integer until its assignment
        # says otherwise.
        self.learning = learning
        self.reporter = reporter
        self.maps: dict[str, MapType] = {}
        self.vars: dict[str, VarSymbol] = {}
        self.variables: dict[int, list[VarSymbol]] = {}
        self.site: Optional[ProbeSite] = None
        self._stmt_rules = {
            ast.ExprStmt: self._expr_stmt, ast.MapAssign: self._map_assign,
            ast.VarAssign: self._var_assign,
        }
        self._expr_rules = {
            ast.IntLit: self._int_lit, ast.StrLit: self._str_lit, ast.Ident: self._ident,
            ast.Positional: self._positional, ast.ParamCount: lambda e: INT64,
            ast.Var: self._var, ast.MapRef: self._map_read, ast.Call: self._call_expr,
            ast.Binary: self._binary, ast.Unary: self._unary, ast.FieldAccess: self._field,
        }

    # -- reporting ---------------------------------------------------------------------------

    def error(self, span: Optional[Span], message: str, hint: Optional[str] = None) -> None:
        self.reporter.error(span, message, hint)

    def warning(self, span: Optional[Span], message: str) -> None:
        self.reporter.warning(span, message)

    # -- probes and statements ---------------------------------------------------------------

    def check_site(self, site: ProbeSite) -> None:
        self.site, self.vars = site, {}
        self.variables[site.index] = []
        if site.predicate is not None:
            typ = self.expr(site.predicate)
            if typ is not None and not typ.is_int:
                self.error(site.predicate.span, f"a predicate must be an integer, not {typ}")
        for stmt in site.body:
            self.stmt(stmt)

    def stmt(self, stmt: ast.Stmt) -> None:
        rule = self._stmt_rules.get(type(stmt))
        if rule is None:
            raise AssertionError(f"the checker has no rule for {type(stmt).__name__}")
        rule(stmt)

    def _expr_stmt(self, stmt: ast.ExprStmt) -> None:
        if isinstance(stmt.expr, ast.Call):
            self.call(stmt.expr, Place.STMT)
        else:
            self.expr(stmt.expr)

    def _var_assign(self, stmt: ast.VarAssign) -> None:
        typ = self.expr(stmt.value)
        if typ is None:
            return
        if not (typ.is_int or typ.is_string):
            self.error(stmt.value.span, f"a variable cannot hold a value of type {typ}")
            return
        symbol = self.vars.get(stmt.target.name)
        if symbol is None:
            variables = self.variables[self.site.index]
            symbol = VarSymbol(stmt.target.name, len(variables))
            variables.append(symbol)
            self.vars[stmt.target.name] = symbol
        known = symbol.type
        if known is not None and type(known) is not type(typ):
            self.error(stmt.span, f"type mismatch for {stmt.target.name}: it holds {known}, "
                                  f"not {typ}")
            return
        if isinstance(known, StringType) and isinstance(typ, StringType):
            typ = StringType(max(known.capacity, typ.capacity))
        symbol.type = typ
        stmt.target.symbol = symbol
        stmt.target.type = typ

    def _map_assign(self, stmt: ast.MapAssign) -> None:
        value = stmt.value
        if isinstance(value, ast.Call):
            typ = self.call(value, Place.MAP_VALUE)
        else:
            typ = self.expr(value)
        key_types = [self.expr(k) for k in stmt.target.keys]
        if typ is None or None in key_types:
            return
        if not (typ.is_int or typ.is_string or isinstance(typ, CountType)):
            self.error(value.span, f"a map cannot hold a value of type {typ}")
            return
        for key, kt in zip(stmt.target.keys, key_types):
            if not (kt.is_int or kt.is_string):
                self.error(key.span, f"a map key cannot be of type {kt}")
                return
        self._learn_map(stmt.target, key_types, typ)
        stmt.target.type = self.maps[stmt.target.name].value_type if stmt.target.name in self.maps \
            else typ

    def _learn_map(self, ref: ast.MapRef, key_types: list[Type], value: Type) -> None:
        known = self.maps.get(ref.name)
        if known is None:
            self.maps[ref.name] = MapType(ref.name, ref.span, list(key_types), value)
            return
        if len(known.key_types) != len(key_types):
            self.error(ref.span, f"{ref.name} is used with {len(key_types)} key(s) here but "
                                 f"{len(known.key_types)} elsewhere")
            return
        merged_keys = []
        for i, (old, new) in enumerate(zip(known.key_types, key_types)):
            merged = _unify(old, new)
            if merged is None:
                self.error(ref.keys[i].span, f"key {i + 1} of {ref.name} is {new} here but {old} "
                                             f"elsewhere")
                return
            merged_keys.append(merged)
        merged_value = _unify(known.value_type, value)
        if merged_value is None:
            self.error(ref.span, f"type mismatch for {ref.name}: assigning {value}, but the map "
                                 f"holds {known.value_type}")
            return
        known.key_types, known.value_type = merged_keys, merged_value

    # -- expressions -------------------------------------------------------------------------

    def expr(self, node: ast.Expr) -> Optional[Type]:
        """The type of an expression, or None when it is wrong (already reported)."""
        node.type = self._expr_rules[type(node)](node)
        return node.type

    def _int_lit(self, node: ast.IntLit) -> Type:
        return INT64 if node.value < 1 << 63 else UINT64

    def _str_lit(self, node: ast.StrLit) -> Type:
        return StringType(len(node.value) + 1)

    def _ident(self, node: ast.Ident) -> Optional[Type]:
        if node.name == "args":
            self.error(node.span, "args is a record: read one of its fields, as args->name")
            return None
        builtin = BUILTINS.get(node.name)
        if builtin is None:
            close = difflib.get_close_matches(node.name, [*BUILTINS, "args"], n=1)
            self.error(node.span, f"unknown identifier '{node.name}'",
                       f"did you mean '{close[0]}'?" if close else None)
            return None
        reason = builtin.unavailable(self.options)
        if reason:
            self.error(node.span, reason)
            return None
        return builtin.type

    def positional_text(self, node: ast.Positional) -> str:
        return self.options.param_text(node.index)

    def _positional(self, node: ast.Positional) -> Optional[Type]:
        text = self.positional_text(node)
        if text == "":
            return INT64  # a missing parameter is 0, as in bpftrace
        try:
            int(text, 0)
        except ValueError:
            self.error(node.span, f"${node.index} used numerically but given \"{text}\"",
                       f"use str(${node.index}) for a string")
            return None
        return INT64

    def _var(self, node: ast.Var) -> Optional[Type]:
        symbol = self.vars.get(node.name)
        if symbol is None:
            self.error(node.span, f"variable {node.name} is used before it is assigned")
            return None
        node.symbol = symbol
        return symbol.type

    def _map_read(self, node: ast.MapRef) -> Optional[Type]:
        for key in node.keys:
            self.expr(key)
        known = self.maps.get(node.name)
        if known is None:
            if self.learning:
                return INT64
            self.error(node.span, f"map {node.name} is read but never assigned")
            return None
        if known.is_aggregation:
            self.error(node.span, f"{node.name} holds count(); its value can only be printed")
            return None
        if len(node.keys) != len(known.key_types):
            self.error(node.span, f"{node.name} is used with {len(node.keys)} key(s) here but "
                                  f"{len(known.key_types)} elsewhere")
            return None
        return known.value_type

    def call(self, node: ast.Call, place: Place) -> Optional[Type]:
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            close = difflib.get_close_matches(node.name, FUNCTIONS, n=1)
            self.error(node.name_span, f"unknown function '{node.name}'",
                       f"did you mean '{close[0]}'?" if close else None)
            for arg in node.args:
                self.expr(arg)
            return None
        node.type = self._check_call(fn, node, place)
        return node.type

    def _check_call(self, fn: Function, node: ast.Call, place: Place) -> Optional[Type]:
        """A call checked against its function's signature, then its own rule."""
        sig = fn.signature
        if place not in sig.places:
            if sig.places == {Place.MAP_VALUE}:
                self.error(node.span, f"{fn.name}() must be assigned to a map, as in "
                                      f"@name = {fn.name}()")
            else:
                self.error(node.span, f"{fn.name}() has no value; use it as a statement of "
                                      f"its own")
        n, low, high = len(node.args), sig.min_args, sig.max_args
        arity_ok = low <= n and (high is None or n <= high)
        if not arity_ok:
            want = str(low) if low == high else f"at least {low}" if high is None else \
                f"{low} to {high}"
            plural = "s" if (high if high is not None else 2) != 1 else ""
            self.error(node.span, f"{fn.name}() takes {want} argument{plural}, {n} given")
        arg_types: list[Optional[Type]] = []
        for i, arg in enumerate(node.args):
            param = sig.param_for(i)
            if i in fn.raw_args or param is None:
                arg_types.append(None)
                continue
            arg_types.append(self._check_arg(fn, param.kind, arg))
        if not arity_ok:
            return None
        if fn.check is not None and Kind.STRING_LITERAL not in _failed_kinds(self, node, fn):
            fn.check(self, node, arg_types)
        return fn.result(self, node, arg_types) if callable(fn.result) else fn.result

    def _check_arg(self, fn: Function, kind: Kind, arg: ast.Expr) -> Optional[Type]:
        if kind is Kind.STRING_LITERAL and not isinstance(arg, ast.StrLit):
            self.error(arg.span, f"{fn.name}: the first argument must be a format string literal"
                       if fn.name == "printf" else
                       f"{fn.name}() expects {kind.value} here")
            return None
        typ = self.expr(arg)
        if typ is None:
            return None
        if kind is Kind.INT and not typ.is_int or kind is Kind.STRING and not typ.is_string:
            self.error(arg.span, f"{fn.name}() expects {kind.value} here, not {typ}")
            return None
        return typ

    def _call_expr(self, node: ast.Call) -> Optional[Type]:
        return self.call(node, Place.EXPR)

    def _binary(self, node: ast.Binary) -> Optional[Type]:
        lt, rt = self.expr(node.left), self.expr(node.right)
        if lt is None or rt is None:
            return None
        if node.op in LOGICAL:
            for side, typ in ((node.left, lt), (node.right, rt)):
                if not typ.is_int:
                    self.error(side.span, f"'{node.op}' needs integers, not {typ}")
            return INT64
        if lt.is_string or rt.is_string:
            if node.op in ("==", "!=") and lt.is_string and rt.is_string:
                return INT64
            self.error(node.op_span, f"'{node.op}' cannot combine {lt} and {rt}")
            return None
        if node.op in COMPARISON:
            return INT64
        return self._arithmetic(node, lt, rt)

    def _arithmetic(self, node: ast.Binary, lt: IntType, rt: IntType) -> Type:
        # A non-negative literal takes the sign of the other side, as in bpftrace.
        left_signed = lt.signed and not _nonneg_literal(node.left)
        right_signed = rt.signed and not _nonneg_literal(node.right)
        if left_signed != right_signed and not (_nonneg_literal(node.left) or
                                                _nonneg_literal(node.right)):
            self.warning(node.op_span, f"arithmetic on integers of different signs: '{lt}' and "
                                       f"'{rt}' can lead to undefined behavior")
        if node.op in ("/", "%"):
            # BPF divides unsigned only; bpftrace warns, and so do we.
            if left_signed or right_signed:
                self.warning(node.op_span, f"signed operands for '{node.op}' can lead to undefined "
                                           f"behavior (cast to unsigned to silence warning)")
            return UINT64
        return INT64 if lt.signed and rt.signed else UINT64

    def _unary(self, node: ast.Unary) -> Optional[Type]:
        typ = self.expr(node.operand)
        if typ is None:
            return None
        if not typ.is_int:
            self.error(node.span, f"'{node.op}' needs an integer, not {typ}")
            return None
        return INT64 if node.op in ("!", "-") else typ

    def _field(self, node: ast.FieldAccess) -> Optional[Type]:
        if not (isinstance(node.base, ast.Ident) and node.base.name == "args"):
            base = self.expr(node.base)
            if base is not None:
                self.error(node.span, f"{base} has no fields")
            return None
        target = self.site.target
        fields = target.provider.arg_fields(target)
        if fields is None:
            self.error(node.base.span, f"args is not available in {target.provider.name} probes")
            return None
        node.base.type = ArgsType(target.name)
        found = fields.get(node.field_name)
        if found is None:
            names = [n for n in fields if not n.startswith("common_")]
            close = difflib.get_close_matches(node.field_name, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                "its fields are: " + (", ".join(names) or "none")
            self.error(node.span, f"{target.name} has no field '{node.field_name}'", hint)
            return None
        if found.type is None:
            self.error(node.span, f"field '{node.field_name}' of {target.name} has a type tracer "
                                  f"cannot read yet")
            return None
        return found.type


def _failed_kinds(ck: Checker, node: ast.Call, fn: Function) -> set:
    """The literal-only parameter kinds this call did not satisfy (its own check then has
    nothing to check)."""
    failed = set()
    for i, arg in enumerate(node.args):
        param = fn.signature.param_for(i)
        if param is not None and param.kind is Kind.STRING_LITERAL and \
                not isinstance(arg, ast.StrLit):
            failed.add(Kind.STRING_LITERAL)
    return failed


def _nonneg_literal(node: ast.Expr) -> bool:
    return isinstance(node, ast.IntLit)


def _unify(old: Type, new: Type) -> Optional[Type]:
    """The type that holds both, or None when they cannot share a map slot."""
    if isinstance(old, IntType) and isinstance(new, IntType):
        return old if old == new else INT64
    if isinstance(old, StringType) and isinstance(new, StringType):
        return StringType(max(old.capacity, new.capacity))
    if isinstance(old, CountType) and isinstance(new, CountType):
        return COUNT
    return None


def check_program(sites: list[ProbeSite], options: CompileOptions,
                  reporter: Reporter) -> SemanticFacts:
    learner = Checker(options, _Silent(), learning=True)
    for site in sites:
        learner.check_site(site)
    checker = Checker(options, reporter)
    checker.maps = learner.maps
    for site in sites:
        checker.check_site(site)
    return SemanticFacts(maps=checker.maps, variables=checker.variables)
