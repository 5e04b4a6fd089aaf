"""The checker: names resolved, types inferred, mistakes reported with their spans.

Statements and expressions go through tables (node type -> rule) with one fallback that fails
loudly; the expression rules live in ``expressions``, calls in ``calls``. One ``Checker`` makes
one round over the whole program (see ``tracer.check.check_program`` for the rounds).
"""

from __future__ import annotations

from typing import Optional

from .. import ast
from ..config import Config
from ..functions import FUNCTIONS, Place
from ..diagnostics import Reporter, Span
from ..options import CompileOptions
from ..passes.attach import ProbeSite
from ..types import (AggregateType, BoolType, IntType, TupleType, Type, VOID, arithmetic_result,
                     fits, literal_type, promote)
from ..cdefs.catalog import TypeCatalog
from .calls import CallRules
from .cdata import CDataRules
from .expressions import ExpressionRules
from .symbols import MapInfo, Scopes, TypeFacts, Variable
from .typespec import resolve_type_spec

MAX_DEPTH = 10_000  # expressions and blocks nested deeper than this are refused
MAX_UNROLL = 100


class Checker(ExpressionRules, CDataRules, CallRules):
    def __init__(self, options: CompileOptions, config: Config, reporter: Reporter,
                 previous: TypeFacts, catalog: Optional[TypeCatalog] = None):
        self.options = options
        self.catalog = catalog if catalog is not None else TypeCatalog()
        # Errors that only hold once the whole program has been seen (a map read but assigned
        # nowhere): reported if this round turns out to be the last.
        self.deferred: list[tuple[Span, str]] = []
        self.provisional_reads: set[int] = set()  # ids of map reads given a stand-in 0
        self.getopts: dict[str, str] = {}  # named parameters getopt() reads: name -> description
        self.config = config
        self.reporter = reporter
        self.previous = previous
        self.maps: dict[str, MapInfo] = {}
        self.var_types: dict[tuple, Type] = {}
        self.variables: dict[int, list[Variable]] = {}
        self.site: Optional[ProbeSite] = None
        self.scope = Scopes()
        self.loops: list[str] = []  # enclosing loops, innermost last: "while", "for"
        self.depth = 0
        self._stmt_rules = {
            ast.ExprStmt: self._expr_stmt, ast.Assign: self._assign, ast.Let: self._let,
            ast.If: self._if, ast.While: self._while, ast.Unroll: self._unroll,
            ast.ForRange: self._for_range, ast.ForMap: self._for_map, ast.Jump: self._jump,
            ast.Block: self._block, ast.Discard: self._discard,
        }
        self._expr_rules = self.expression_rules()

    # -- reporting ---------------------------------------------------------------------------

    def error(self, span: Optional[Span], message: str, hint: Optional[str] = None) -> None:
        self.reporter.error(span, message, hint)

    def warning(self, span: Optional[Span], message: str) -> None:
        self.reporter.warning(span, message)

    def facts(self) -> TypeFacts:
        return TypeFacts(dict(self.var_types), self.maps)

    # -- probes, blocks, statements ----------------------------------------------------------

    def check_site(self, site: ProbeSite) -> None:
        self.site = site
        self.variables[site.index] = []
        self.scope = Scopes()
        self.loops = []
        if site.predicate is not None:
            self.condition(site.predicate, "predicate")
        self._block(site.body, new_scope=False)

    def _block(self, block: ast.Block, new_scope: bool = True) -> None:
        if new_scope:
            self.scope.push()
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                self.error(block.span, f"the program nests blocks more than {MAX_DEPTH} deep")
                return
            ended: Optional[ast.Stmt] = None
            for stmt in block.stmts:
                if ended is not None:
                    self.warning(stmt.span, "Unreachable statement.")
                    ended = None
                self.stmt(stmt)
                if isinstance(stmt, ast.Jump) or _is_exit(stmt):
                    ended = stmt
        finally:
            self.depth -= 1
            if new_scope:
                self.scope.pop()

    def stmt(self, stmt: ast.Stmt) -> None:
        rule = self._stmt_rules.get(type(stmt))
        if rule is None:
            raise AssertionError(f"the checker has no rule for {type(stmt).__name__}")
        rule(stmt)

    def _expr_stmt(self, stmt: ast.ExprStmt) -> None:
        node = stmt.expr
        if isinstance(node, ast.Call):
            node.info["discarded"] = True  # (delete() warns when a discarded delete fails)
            typ = self.call(node, Place.STMT)
        else:
            typ = self.expr(node)
        if typ is not None and typ != VOID and isinstance(node, ast.Call) and \
                not isinstance(typ, AggregateType) and \
                not getattr(FUNCTIONS.get(node.name), "discardable", False):
            self.warning(stmt.span, "Return value discarded.")

    def _discard(self, stmt: ast.Discard) -> None:
        self.value(stmt.expr)

    def _assign(self, stmt: ast.Assign) -> None:
        target, value = stmt.target, stmt.value
        if stmt.op is not None:
            current = self.expr(target) if isinstance(target, ast.Var) else \
                self.map_value_for_update(target)
            typ = self.value(value)
            if current is None or typ is None:
                return
            result = self.binary_type(stmt.op, current, typ, stmt.span, target, value)
            if result is not None:
                self.store(target, result, stmt.span, None)
            return
        if isinstance(target, ast.MapRef) and isinstance(value, ast.Call):
            typ = self.call(value, Place.MAP_VALUE)  # where an aggregation may stand
        else:
            typ = self.value(value)
        if typ is not None:
            self.store(target, typ, stmt.span, value)

    def _let(self, stmt: ast.Let) -> None:
        var = stmt.target
        if self.scope.find(var.name) is not None:
            self.error(var.span, f"Variable {var.name} was already declared. Variable "
                                 f"shadowing is not allowed.")
            return
        variable = self.declare(var, stmt)
        if stmt.type_spec is not None:
            declared = resolve_type_spec(self, stmt.type_spec)
            if declared is None:
                return
            if not declared.storable:
                self.error(stmt.type_spec.span, f"Invalid variable declaration type: {declared}")
                return
            if declared.is_string and stmt.type_spec.array is None and stmt.value is not None:
                declared = None  # `let $s: string = ...` takes the size of its value
            else:
                variable.locked = True
                self.var_types[variable.key] = declared
        if stmt.value is not None:
            typ = self.value(stmt.value)
            if typ is not None:
                self.store(var, typ, stmt.span, stmt.value)

    def _if(self, stmt: ast.If) -> None:
        self.condition(stmt.cond, "if condition")
        self._block(stmt.then)
        if isinstance(stmt.otherwise, ast.If):
            self._if(stmt.otherwise)
        elif stmt.otherwise is not None:
            self._block(stmt.otherwise)

    def _while(self, stmt: ast.While) -> None:
        self.condition(stmt.cond, "while condition")
        self.loops.append("while-loop")
        try:
            self._block(stmt.body)
        finally:
            self.loops.pop()

    def _unroll(self, stmt: ast.Unroll) -> None:
        count = self.constant_int(stmt.count)
        if count is None:
            self.error(stmt.count.span, "invalid unroll value",
                       hint="unroll takes a number from 1 to 100, as in unroll(3)")
        elif count > MAX_UNROLL:
            self.error(stmt.count.span, f"unroll maximum value is {MAX_UNROLL}")
        elif count < 1:
            self.error(stmt.count.span, "unroll minimum value is 1")
        else:
            stmt.times = count
        self._block(stmt.body)

    def _for_range(self, stmt: ast.ForRange) -> None:
        types = []
        for end, what in ((stmt.start, "start"), (stmt.end, "end")):
            typ = self.expr(end)
            if typ is not None and not typ.is_int:
                self.error(end.span, f"Loop range requires an integer for the {what} value")
                typ = None
            types.append(typ)
        loop_type = None
        if None not in types:
            loop_type = promote(types[0], types[1])
        self._loop_body(stmt, loop_type)

    def _for_map(self, stmt: ast.ForMap) -> None:
        info = self.whole_map(stmt.map)
        element = None
        if info is not None:
            if info.aggregation is not None:
                self.error(stmt.map.span, f"a for loop cannot iterate over {info.name}: it holds "
                                          f"{info.aggregation}() values, kept per CPU",
                           hint="copy the counts into a plain map first, or print the map")
            elif not info.keyed:
                self.error(stmt.map.span, f"{info.name} has no keys to iterate over",
                           hint="a for loop goes over a map written as @name[key]")
            elif info.key is not None and info.value is not None:
                element = TupleType((info.key, info.value))
        self._loop_body(stmt, element)

    def _loop_body(self, stmt, var_type: Optional[Type]) -> None:
        if self.scope.find(stmt.var.name) is not None:
            self.error(stmt.var.span, f"Loop declaration shadows existing variable: "
                                      f"{stmt.var.name}")
            return
        self.scope.push()
        self.loops.append("for-loop")
        try:
            variable = self.declare(stmt.var, stmt)
            variable.assigned = True
            if var_type is not None:
                self.var_types[variable.key] = promote(self.var_types.get(variable.key),
                                                       var_type) or var_type
            stmt.var.symbol = variable
            stmt.var.type = self.var_types.get(variable.key)
            self._block(stmt.body, new_scope=False)
        finally:
            self.loops.pop()
            self.scope.pop()

    def _jump(self, stmt: ast.Jump) -> None:
        if stmt.kind in ("break", "continue"):
            if not self.loops:
                self.error(stmt.span, f"'{stmt.kind}' statement is not allowed in a probe")
        elif "for-loop" in self.loops:
            self.error(stmt.span, "'return' statement is not allowed in a for-loop")
        if stmt.value is not None:
            typ = self.expr(stmt.value)
            if typ is not None and not typ.is_integral:
                self.error(stmt.value.span, f"Probe return values can only be integers. "
                                            f"Found {typ}")

    # -- variables and maps ------------------------------------------------------------------

    def declare(self, var: ast.Var, decl_node: ast.Node) -> Variable:
        variables = self.variables[self.site.index]
        variable = Variable(var.name, (self.site.index, id(decl_node)), len(variables), var.span)
        variables.append(variable)
        self.scope.declare(var.name, variable)
        previous = self.previous.variables.get(variable.key)
        if previous is not None:
            self.var_types[variable.key] = previous
        var.symbol = variable
        return variable

    def store(self, target: ast.Expr, typ: Type, span: Span,
              value: Optional[ast.Expr]) -> None:
        """``target`` (a variable or a map entry) is given a value of type ``typ``."""
        if isinstance(target, ast.Var):
            self.store_var(target, typ, span, value)
        elif isinstance(target, ast.MapRef):
            self.store_map(target, typ, span, value)
        else:
            self.error(target.span, "invalid assignment target")

    def store_var(self, var: ast.Var, typ: Type, span: Span, value: Optional[ast.Expr]) -> None:
        if not typ.storable:
            self.error(span, f"Value '{typ}' cannot be assigned to a scratch variable.")
            return
        variable = self.scope.find(var.name)
        if variable is None:
            variable = self.declare(var, var)
        var.symbol = variable
        variable.assigned = True
        current = self.var_types.get(variable.key)
        if variable.locked and current is not None:
            self.check_narrowing(var.name, current, typ, span, value)
            var.type = current
            return
        merged = promote(current, typ)
        if merged is None:
            self.error(span, f"Type mismatch for {var.name}: trying to assign value of type "
                             f"'{typ}' when variable already has a type '{current}'")
            return
        self.var_types[variable.key] = merged
        var.type = merged

    def check_narrowing(self, name: str, declared: Type, typ: Type, span: Span,
                        value: Optional[ast.Expr]) -> None:
        """A value assigned to a variable whose type was written out must fit it."""
        if isinstance(declared, IntType) and isinstance(typ, (IntType, BoolType)):
            if isinstance(value, ast.IntLit):
                if not fits(value.value, declared):
                    self.error(span, f"Type mismatch for {name}: value {value.value} does not "
                                     f"fit in '{declared}'", hint=f"cast it: ({declared})...")
            elif isinstance(typ, IntType) and typ.bits > declared.bits and not typ.flexible:
                self.error(span, f"Integer size mismatch. Assignment type '{typ}' is larger "
                                 f"than the variable type '{declared}'.")
            return
        if promote(declared, typ) is None:
            self.error(span, f"Type mismatch for {name}: trying to assign value of type "
                             f"'{typ}' when variable already has a type '{declared}'")

    def store_map(self, ref: ast.MapRef, typ: Type, span: Span,
                  value: Optional[ast.Expr] = None) -> None:
        info = self.map_entry(ref)
        aggregation = typ.name if isinstance(typ, AggregateType) else None
        if info is None:
            return
        if not (typ.storable or aggregation is not None):
            self.error(span, f"Value '{typ}' cannot be assigned to a map.")
            return
        if not info.assigned:
            info.value = None  # a stand-in 0 from a read: not a type yet
        if info.value is not None and info.aggregation != aggregation:
            self.error(span, f"Type mismatch for {ref.name}: trying to assign value of type "
                             f"'{typ}' when map already has a type '{info.value}'")
            return
        merged = promote(info.value, typ) if aggregation is None else \
            self.merge_aggregates(ref, info.value, typ, span)
        if merged is None:
            self.error(span, f"Type mismatch for {ref.name}: trying to assign value of type "
                             f"'{typ}' when map already has a type '{info.value}'")
            return
        # A map given only another map's provisional 0 (`@a = @a`, `@a = @b; @b = @a`) has
        # still not been given a type: bpftrace calls both undefined.
        copied_unknown = isinstance(value, ast.MapRef) and id(value) in self.provisional_reads
        info.value = merged
        info.assigned = info.assigned or not copied_unknown
        ref.type = merged

    def merge_aggregates(self, ref: ast.MapRef, known: Optional[AggregateType],
                         typ: AggregateType, span: Span) -> Optional[AggregateType]:
        """One map given one aggregation in two places: the constant arguments must agree
        (one lhist's bounds); signed values anywhere make the whole map signed."""
        if known is None or known == typ:
            return typ
        if known.params != typ.params:
            self.error(span, f"Different {typ.name}() arguments in a single map are "
                             f"unsupported: {ref.name} has {known.params}, here {typ.params}")
            return known  # reported: the map keeps the type it had
        return AggregateType(typ.name, typ.params, known.signed or typ.signed)

    def map_entry(self, ref: ast.MapRef) -> Optional[MapInfo]:
        """The map a reference names, its key checked (and its key type widened)."""
        info = self.maps.get(ref.name)
        if info is None:
            known = self.previous.maps.get(ref.name)
            # What the last round learned; a provisional value (a map only read) is not kept.
            learned = known is not None and known.assigned
            info = MapInfo(ref.name, ref.span, keyed=known.keyed if known else None,
                           key=known.key if known else None,
                           value=known.value if learned else None,
                           assigned=learned)
            self.maps[ref.name] = info
        keyed = bool(ref.keys)
        if info.keyed is not None and info.keyed != keyed:
            if keyed:
                self.error(ref.span, f"{ref.name} used as a map with an explicit key "
                                     f"(non-scalar map), previously used without an explicit "
                                     f"key (scalar map)")
            else:
                self.error(ref.span, f"{ref.name} used as a map without an explicit key "
                                     f"(scalar map), previously used with an explicit key "
                                     f"(non-scalar map)")
            return None
        info.keyed = keyed
        if not keyed:
            return info
        key_types = [self.value(k) for k in ref.keys]
        if None in key_types:
            return None
        for node, typ in zip(ref.keys, key_types):
            if not (typ.storable and not (typ.is_tuple and not _tuple_keyable(typ))):
                self.error(node.span, f"Invalid map key type: {typ}")
                return None
        key = key_types[0] if len(key_types) == 1 else TupleType(tuple(key_types))
        merged = promote(info.key, key)
        if merged is None:
            self.error(ref.span, f"Argument mismatch for {ref.name}: trying to access with "
                                 f"arguments: '{key}' when map expects arguments: '{info.key}'")
            return None
        info.key = merged
        return info

    def whole_map(self, ref: ast.MapRef) -> Optional[MapInfo]:
        """A map named as a whole (`for ($kv : @m)`, `clear(@m)`), not one of its entries."""
        info = self.maps.get(ref.name)
        if info is None or not info.assigned:
            known = self.previous.maps.get(ref.name)
            info = known if known is not None and known.assigned else None
        if info is None:
            self.deferred.append((ref.span, f"Undefined map: {ref.name}"))
        return info

    def map_value_for_update(self, ref: ast.MapRef) -> Optional[Type]:
        """The value type of a map about to be updated in place (`@m += 1`, `@m++`): a map
        nothing has assigned yet starts as an integer 0."""
        info = self.map_entry(ref)
        if info is None:
            return None
        if info.aggregation is not None:
            self.error(ref.span, f"{ref.name} holds {info.aggregation}() values; they can "
                                 f"only be updated by {info.aggregation}()")
            return None
        value = info.value
        if value is None:
            value = IntType(64, True)
        if not (value.is_int or value.is_pointer):
            self.error(ref.span, f"{ref.name} holds {value}, not an integer")
            return None
        ref.type = value
        return value

    def map_info_for_read(self, ref: ast.MapRef) -> Optional[MapInfo]:
        info = self.map_entry(ref)
        if info is None:
            return None
        if not info.assigned:
            # Read before anything has assigned it (`@n = @n + 1`): an integer 0 for now, as
            # in bpftrace; an error if no round ever finds an assignment.
            self.deferred.append((ref.span, f"Undefined map: {ref.name}"))
            self.provisional_reads.add(id(ref))
            if info.value is None:
                info.value = literal_type(0)
        return info

    # -- shared type rules -------------------------------------------------------------------

    def condition(self, node: ast.Expr, what: str) -> None:
        typ = self.expr(node)
        if typ is not None and not (typ.is_integral or typ.is_pointer):
            self.error(node.span, f"Invalid condition in {what}: {typ}")

    def value(self, node: ast.Expr) -> Optional[Type]:
        """An expression whose value is used: a call here may not be statement-only."""
        if isinstance(node, ast.Call):
            typ = self.call(node, Place.EXPR)
        else:
            typ = self.expr(node)
        if typ == VOID:
            self.error(node.span, f"{_describe(node)} has no value; use it as a statement of "
                                  f"its own")
            return None
        return typ

    def arithmetic(self, op: str, left: Type, right: Type) -> Type:
        return arithmetic_result(op, left, right)


def _tuple_keyable(typ: TupleType) -> bool:
    return all(e.storable and (not e.is_tuple or _tuple_keyable(e)) for e in typ.elements)


def _is_exit(stmt: ast.Stmt) -> bool:
    return isinstance(stmt, ast.ExprStmt) and isinstance(stmt.expr, ast.Call) and \
        stmt.expr.name == "exit"


def _describe(node: ast.Expr) -> str:
    return f"{node.name}()" if isinstance(node, ast.Call) else "this expression"

