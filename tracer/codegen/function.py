"""One probe site -> one C function.

``FunctionBuilder`` walks a typed site. An integer expression becomes a C expression; a string
becomes the name of a zeroed char array that holds it, filled by statements emitted before the
expression that uses it. Builtins and functions emit their own C through the registries; this
module only knows the shape of the language.
"""

from __future__ import annotations

from .. import ast
from ..builtins import BUILTINS
from ..functions import FUNCTIONS
from ..options import CompileOptions
from ..passes.attach import ProbeSite
from ..passes.resources import MapResource, Resources
from ..types import IntType, StringType, Type
from .cstring import c_comment_safe, c_string_literal

SIGNED_COMPARE = {"<", "<=", ">", ">="}


def c_type(typ: Type) -> str:
    return typ.ctype if isinstance(typ, IntType) else "u64"


class FunctionBuilder:
    def __init__(self, site: ProbeSite, resources: Resources, options: CompileOptions):
        self.site = site
        self.resources = resources
        self.options = options
        self.decls: list[str] = []  # scratch variables, declared once at the top
        self.body: list[str] = []
        self.depth = 1
        self._temps = 0
        self._vars: dict[str, str] = {}
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

    def expr(self, node: ast.Expr) -> str:
        return self._expr_rules[type(node)](node)

    def string_constant(self, data: bytes, capacity: int) -> str:
        buf = self.temp(f"char {{}}[{capacity}]")
        self.line(f"__builtin_memset({buf}, 0, sizeof({buf}));")
        data = data[:capacity - 1]
        if data:
            self.line(f"__builtin_memcpy({buf}, {c_string_literal(data)}, {len(data)});")
        return buf

    def store(self, lvalue: str, typ: Type, node: ast.Expr) -> None:
        """lvalue = node, where lvalue has type ``typ`` and is already zeroed if a string."""
        if isinstance(typ, StringType):
            src = self.expr(node)
            n = min(typ.capacity, node.type.capacity)
            self.line(f"__builtin_memcpy({lvalue}, {src}, {n});")
            self.line(f"{lvalue}[{typ.capacity - 1}] = 0;")
        else:
            self.line(f"{lvalue} = ({c_type(typ)})({self.expr(node)});")

    # -- statements --------------------------------------------------------------------------

    def build(self) -> str:
        site = self.site
        if site.predicate is not None:
            cond = self.expr(site.predicate)
            self.line(f"if (!({cond})) return 0;")
        for stmt in site.body:
            self.stmt(stmt)
        self.line("return 0;")
        provider = site.target.provider
        head = (f"/* {c_comment_safe(site.target.name)} */\n"
                f"int {site.function_name}({provider.context_type} *ctx) {{")
        return "\n".join([head, *self.decls, *self.body, "}"])

    def stmt(self, stmt: ast.Stmt) -> None:
        if isinstance(stmt, ast.ExprStmt):
            if isinstance(stmt.expr, ast.Call):
                FUNCTIONS[stmt.expr.name].emit(self, stmt.expr)
            else:
                self.line(f"(void)({self.expr(stmt.expr)});")
        elif isinstance(stmt, ast.MapAssign):
            self._map_assign(stmt)
        elif isinstance(stmt, ast.VarAssign):
            self._var_assign(stmt)
        else:
            raise AssertionError(f"no code for {type(stmt).__name__}")

    def _var_assign(self, stmt: ast.VarAssign) -> None:
        name = self._declare_var(stmt.target.name)
        typ = self._var_type(stmt.target.name)
        if isinstance(typ, StringType):
            self.line(f"__builtin_memset({name}, 0, sizeof({name}));")
        self.store(name, typ, stmt.value)

    def _declare_var(self, var: str) -> str:
        if var not in self._vars:
            name = f"v{len(self._vars)}"
            self._vars[var] = name
            typ = self._var_type(var)
            if isinstance(typ, StringType):
                self.decls.append(f"  char {name}[{typ.capacity}] = {{}};")
            else:
                self.decls.append(f"  {c_type(typ)} {name} = 0;")
        return self._vars[var]

    def _var_type(self, var: str) -> Type:
        # The widest type the semantic pass gave this variable in this site.
        types = [n.type for n in ast.walk(self.site.body)
                 if isinstance(n, ast.Var) and n.name == var and n.type is not None]
        strings = [t for t in types if isinstance(t, StringType)]
        if strings:
            return StringType(max(t.capacity for t in strings))
        return types[0]

    def _map_key(self, m: MapResource, ref: ast.MapRef) -> str:
        if m.per_cpu and m.scalar:
            return self.temp("u32 {} = 0")
        key = self.temp(f"struct {m.c_name}_key {{}}")
        self.line(f"__builtin_memset(&{key}, 0, sizeof({key}));")
        for field, node in zip(m.key_layout.fields, ref.keys):
            self.store(f"{key}.{field.name}", field.type, node)
        return key

    def _map_assign(self, stmt: ast.MapAssign) -> None:
        m = self.resources.maps[stmt.target.name]
        value = stmt.value
        if isinstance(value, ast.Call) and FUNCTIONS[value.name].aggregation:
            FUNCTIONS[value.name].update(self, value, m, self._map_key(m, stmt.target))
            return
        slot = self.temp(f"struct {m.c_name}_value {{}}")
        self.line(f"__builtin_memset(&{slot}, 0, sizeof({slot}));")
        self.store(f"{slot}.f0", m.value_type, value)
        key = self._map_key(m, stmt.target)
        self.line(f"{m.c_name}.update(&{key}, &{slot});")

    # -- expressions -------------------------------------------------------------------------

    def _int_lit(self, node: ast.IntLit) -> str:
        return f"{node.value}LL" if node.type.signed else f"{node.value}ULL"

    def _str_lit(self, node: ast.StrLit) -> str:
        return self.string_constant(node.value, node.type.capacity)

    def _ident(self, node: ast.Ident) -> str:
        return BUILTINS[node.name].emit(self)

    def _positional(self, node: ast.Positional) -> str:
        text = self.options.param_text(node.index)
        return f"{int(text, 0) if text else 0}LL"

    def _param_count(self, node: ast.ParamCount) -> str:
        return f"{len(self.options.params)}LL"

    def _var(self, node: ast.Var) -> str:
        return self._declare_var(node.name)

    def _map_read(self, node: ast.MapRef) -> str:
        m = self.resources.maps[node.name]
        key = self._map_key(m, node)
        slot = self.temp(f"struct {m.c_name}_value *{{}} = {m.c_name}.lookup(&{key})")
        if isinstance(m.value_type, StringType):
            buf = self.temp(f"char {{}}[{m.value_type.capacity}]")
            self.line(f"__builtin_memset({buf}, 0, sizeof({buf}));")
            self.line(f"if ({slot}) __builtin_memcpy({buf}, {slot}->f0, sizeof({buf}));")
            return buf
        return f"({slot} ? ({c_type(m.value_type)}){slot}->f0 : 0)"

    def _call(self, node: ast.Call) -> str:
        return FUNCTIONS[node.name].emit(self, node)

    def _binary(self, node: ast.Binary) -> str:
        if isinstance(node.left.type, StringType):
            return self._string_equal(node)
        left, right = self.expr(node.left), self.expr(node.right)
        op = node.op
        if op in ("&&", "||"):
            return f"((s64)(({left}) {op} ({right})))"
        if op in ("/", "%"):  # BPF divides unsigned only (as bpftrace does)
            return f"((u64)({left}) {op} (u64)({right}))"
        both_signed = node.left.type.signed and node.right.type.signed
        operand = "s64" if both_signed else "u64"
        if op in SIGNED_COMPARE or op in ("==", "!="):
            return f"((s64)(({operand})({left}) {op} ({operand})({right})))"
        return f"(({c_type(node.type)})(({operand})({left}) {op} ({operand})({right})))"

    def _string_equal(self, node: ast.Binary) -> str:
        left, right = self.expr(node.left), self.expr(node.right)
        n = min(node.left.type.capacity, node.right.type.capacity)
        same = self.temp("s64 {} = 1")
        i = f"i{same}"
        self.line(f"for (int {i} = 0; {i} < {n}; {i}++) {{")
        self.line(f"  if ({left}[{i}] != {right}[{i}]) {{ {same} = 0; break; }}")
        self.line(f"  if ({left}[{i}] == 0) break;")
        self.line("}")
        return same if node.op == "==" else f"(!{same})"

    def _unary(self, node: ast.Unary) -> str:
        operand = self.expr(node.operand)
        if node.op == "!":
            return f"((s64)!({operand}))"
        if node.op == "-":
            return f"(-(s64)({operand}))"
        return f"(({c_type(node.type)})~({operand}))"

    def _field(self, node: ast.FieldAccess) -> str:
        target = self.site.target
        field = target.provider.arg_fields(target)[node.field_name]
        return target.provider.emit_arg(self, field)
