"""One probe site -> one C function.

``FunctionBuilder`` walks a typed site through two tables, one for statements and one for
expressions. Every expression rule returns a ``CValue``: a scalar is a C expression; a string is
the name of a zeroed char array holding it, filled by statements emitted before the expression
that uses it. Builtins and functions emit their own C through the registries; this module only
knows the shape of the language. Variables come from the checker's symbols.
"""

from __future__ import annotations

from .. import ast
from ..builtins import BUILTINS
from ..functions import FUNCTIONS
from ..options import CompileOptions
from ..passes.attach import ProbeSite
from ..passes.resources import MapResource, Resources
from ..types import IntType, StringType, Type, UINT64
from .cstring import c_comment_safe, c_string_literal
from .values import CValue, c_scalar_type

SIGNED_COMPARE = {"<", "<=", ">", ">="}


class FunctionBuilder:
    def __init__(self, site: ProbeSite, resources: Resources, options: CompileOptions,
                 variables: list):
        self.site = site
        self.resources = resources
        self.options = options
        self.decls: list[str] = []  # scratch variables, declared once at the top
        self.body: list[str] = []
        self.depth = 1
        self._temps = 0
        for symbol in variables:
            self._declare_var(symbol)
        self._stmt_rules = {
            ast.ExprStmt: self._expr_stmt, ast.MapAssign: self._map_assign,
            ast.VarAssign: self._var_assign,
        }
        self._expr_rules = {
            ast.IntLit: self._int_lit, ast.StrLit: self._str_lit, ast.Ident: self._ident,
            ast.Positional: self._positional, ast.ParamCount: self._param_count,
            ast.Var: self._var, ast.MapRef: self._map_read, ast.Call: self._call,
            ast.Binary: self._binary, ast.Unary: self._unary, ast.FieldAccess: self._field,
        }

    # -- the API builtins and functions use --------------------------------------------------

    def line(self, text: str) -> None:
        self.body.append("  " * self.depth + text)

    def temp(self, declaration: str) -> str:
        """Declare a fresh local; ``declaration`` has ``{}`` where its name goes."""
        name = f"t{self._temps}"
        self._temps += 1
        self.line(declaration.format(name) + ";")
        return name

    def expr(self, node: ast.Expr) -> CValue:
        rule = self._expr_rules.get(type(node))
        if rule is None:
            raise AssertionError(f"the code generator has no rule for {type(node).__name__}")
        return rule(node)

    def string_constant(self, data: bytes, capacity: int) -> CValue:
        buf = self.temp(f"char {{}}[{capacity}]")
        self.line(f"__builtin_memset({buf}, 0, sizeof({buf}));")
        data = data[:capacity - 1]
        if data:
            self.line(f"__builtin_memcpy({buf}, {c_string_literal(data)}, {len(data)});")
        return CValue(buf, StringType(capacity))

    def store(self, lvalue: str, typ: Type, value: CValue) -> None:
        """lvalue = value, where lvalue has type ``typ`` and is already zeroed if a string."""
        if isinstance(typ, StringType):
            n = min(typ.capacity, value.type.capacity)
            self.line(f"__builtin_memcpy({lvalue}, {value.text}, {n});")
            self.line(f"{lvalue}[{typ.capacity - 1}] = 0;")
        else:
            self.line(f"{lvalue} = ({c_scalar_type(typ)})({value.text});")

    # -- statements --------------------------------------------------------------------------

    def build(self) -> str:
        site = self.site
        if site.predicate is not None:
            cond = self.expr(site.predicate)
            self.line(f"if (!({cond.text})) return 0;")
        for stmt in site.body:
            self.stmt(stmt)
        self.line("return 0;")
        provider = site.target.provider
        head = (f"/* {c_comment_safe(site.target.name)} */\n"
                f"int {site.function_name}({provider.context_type} *ctx) {{")
        return "\n".join([head, *self.decls, *self.body, "}"])

    def stmt(self, stmt: ast.Stmt) -> None:
        rule = self._stmt_rules.get(type(stmt))
        if rule is None:
            raise AssertionError(f"the code generator has no rule for {type(stmt).__name__}")
        rule(stmt)

    def _expr_stmt(self, stmt: ast.ExprStmt) -> None:
        if isinstance(stmt.expr, ast.Call):
            FUNCTIONS[stmt.expr.name].emit(self, stmt.expr)
        else:
            self.line(f"(void)({self.expr(stmt.expr).text});")

    def _var_assign(self, stmt: ast.VarAssign) -> None:
        symbol = stmt.target.symbol
        name = f"v{symbol.index}"
        if isinstance(symbol.type, StringType):
            self.line(f"__builtin_memset({name}, 0, sizeof({name}));")
        self.store(name, symbol.type, self.expr(stmt.value))

    def _declare_var(self, symbol) -> None:
        name, typ = f"v{symbol.index}", symbol.type
        if isinstance(typ, StringType):
            self.decls.append(f"  char {name}[{typ.capacity}] = {{}};")
        else:
            self.decls.append(f"  {c_scalar_type(typ)} {name} = 0;")

    def _map_key(self, m: MapResource, ref: ast.MapRef) -> str:
        if m.per_cpu and m.scalar:
            return self.temp("u32 {} = 0")
        key = self.temp(f"struct {m.c_name}_key {{}}")
        self.line(f"__builtin_memset(&{key}, 0, sizeof({key}));")
        for fld, node in zip(m.key_layout.fields, ref.keys):
            self.store(f"{key}.{fld.name}", fld.type, self.expr(node))
        return key

    def _map_assign(self, stmt: ast.MapAssign) -> None:
        m = self.resources.maps[stmt.target.name]
        value = stmt.value
        if isinstance(value, ast.Call) and FUNCTIONS[value.name].aggregation:
            FUNCTIONS[value.name].update(self, value, m, self._map_key(m, stmt.target))
            return
        slot = self.temp(f"struct {m.c_name}_value {{}}")
        self.line(f"__builtin_memset(&{slot}, 0, sizeof({slot}));")
        self.store(f"{slot}.f0", m.value_type, self.expr(value))
        key = self._map_key(m, stmt.target)
        self.line(f"{m.c_name}.update(&{key}, &{slot});")

    # -- expressions -------------------------------------------------------------------------

    def _int_lit(self, node: ast.IntLit) -> CValue:
        return CValue(f"{node.value}LL" if node.type.signed else f"{node.value}ULL", node.type)

    def _str_lit(self, node: ast.StrLit) -> CValue:
        return self.string_constant(node.value, node.type.capacity)

    def _ident(self, node: ast.Ident) -> CValue:
        return CValue(BUILTINS[node.name].emit(self), node.type)

    def _positional(self, node: ast.Positional) -> CValue:
        text = self.options.param_text(node.index)
        return CValue(f"{int(text, 0) if text else 0}LL", node.type)

    def _param_count(self, node: ast.ParamCount) -> CValue:
        return CValue(f"{len(self.options.params)}LL", node.type)

    def _var(self, node: ast.Var) -> CValue:
        return CValue(f"v{node.symbol.index}", node.symbol.type)

    def _map_read(self, node: ast.MapRef) -> CValue:
        m = self.resources.maps[node.name]
        key = self._map_key(m, node)
        slot = self.temp(f"struct {m.c_name}_value *{{}} = {m.c_name}.lookup(&{key})")
        if isinstance(m.value_type, StringType):
            buf = self.temp(f"char {{}}[{m.value_type.capacity}]")
            self.line(f"__builtin_memset({buf}, 0, sizeof({buf}));")
            self.line(f"if ({slot}) __builtin_memcpy({buf}, {slot}->f0, sizeof({buf}));")
            return CValue(buf, m.value_type)
        return CValue(f"({slot} ? ({c_scalar_type(m.value_type)}){slot}->f0 : 0)",
                      m.value_type)

    def _call(self, node: ast.Call) -> CValue:
        return FUNCTIONS[node.name].emit(self, node)

    def _binary(self, node: ast.Binary) -> CValue:
        if isinstance(node.left.type, StringType):
            return self._string_equal(node)
        left, right = self.expr(node.left).text, self.expr(node.right).text
        op = node.op
        if op in ("&&", "||"):
            return CValue(f"((s64)(({left}) {op} ({right})))", node.type)
        if op in ("/", "%"):  # BPF divides unsigned only (as bpftrace does)
            return CValue(f"((u64)({left}) {op} (u64)({right}))", node.type)
        both_signed = node.left.type.signed and node.right.type.signed
        operand = "s64" if both_signed else "u64"
        if op in SIGNED_COMPARE or op in ("==", "!="):
            return CValue(f"((s64)(({operand})({left}) {op} ({operand})({right})))", node.type)
        return CValue(f"(({c_scalar_type(node.type)})(({operand})({left}) {op} "
                      f"({operand})({right})))", node.type)

    def _string_equal(self, node: ast.Binary) -> CValue:
        left, right = self.expr(node.left).text, self.expr(node.right).text
        n = min(node.left.type.capacity, node.right.type.capacity)
        same = self.temp("s64 {} = 1")
        i = f"i{same}"
        self.line(f"for (int {i} = 0; {i} < {n}; {i}++) {{")
        self.line(f"  if ({left}[{i}] != {right}[{i}]) {{ {same} = 0; break; }}")
        self.line(f"  if ({left}[{i}] == 0) break;")
        self.line("}")
        return CValue(same if node.op == "==" else f"(!{same})", node.type)

    def _unary(self, node: ast.Unary) -> CValue:
        operand = self.expr(node.operand).text
        if node.op == "!":
            return CValue(f"((s64)!({operand}))", node.type)
        if node.op == "-":
            return CValue(f"(-(s64)({operand}))", node.type)
        return CValue(f"(({c_scalar_type(node.type)})~({operand}))", node.type)

    def _field(self, node: ast.FieldAccess) -> CValue:
        target = self.site.target
        fld = target.provider.arg_fields(target)[node.field_name]
        return CValue(target.provider.emit_arg(self, fld), node.type)
