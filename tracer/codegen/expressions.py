"""The code generator's expression rules: one method per node type, each emitting the
statements that compute the value and returning a ``CValue`` for it.

Integer arithmetic is done on 64-bit unsigned values (so overflow wraps instead of being C's
undefined behaviour) and the result is narrowed to the node's type; division and remainder are
unsigned, as BPF's and bpftrace's are. ``&&``, ``||`` and ``?:`` only compute the side they need:
that side's statements are emitted inside an ``if``.
"""

from __future__ import annotations

from typing import Optional

from .. import ast
from ..builtins import find as find_builtin
from ..functions import FUNCTIONS
from ..types import (BOOL, INT8, UINT64, ArrayType, BoolType, PointerType, TupleType, Type,
                     arithmetic_result, comparison_signed)
from .values import CValue, c_scalar_type, c_wide_type, int_literal

SHIFT_MASK = 63


class ExpressionGen:
    """Mixed into ``FunctionBuilder``."""

    def expression_rules(self) -> dict:
        return {
            ast.IntLit: self._int_lit, ast.BoolLit: self._bool_lit, ast.StrLit: self._str_lit,
            ast.Ident: self._ident, ast.Positional: self._positional,
            ast.ParamCount: self._param_count, ast.Var: self._var, ast.MapRef: self._map_read,
            ast.Call: self._call, ast.Binary: self._binary, ast.Unary: self._unary,
            ast.IncDec: self._inc_dec, ast.Cast: self._cast, ast.Ternary: self._ternary,
            ast.TupleLit: self._tuple, ast.RecordLit: self._tuple, ast.FieldAccess: self._field,
            ast.TupleIndex: self._tuple_index, ast.Index: self._index, ast.Sizeof: self._sizeof,
            ast.Offsetof: self._offsetof,
            ast.BlockExpr: self._block_expr,
        }

    # -- leaves ------------------------------------------------------------------------------

    def _int_lit(self, node: ast.IntLit) -> CValue:
        return CValue(int_literal(node.value), node.type)

    def _bool_lit(self, node: ast.BoolLit) -> CValue:
        return CValue("1" if node.value else "0", BOOL)

    def _str_lit(self, node: ast.StrLit) -> CValue:
        return self.string_constant(node.value, node.type.capacity)

    def _ident(self, node: ast.Ident) -> CValue:
        if node.constant is not None:
            return CValue(int_literal(node.constant), node.type)
        return CValue(find_builtin(node.name, self.site.target).emit(self), node.type)

    def _positional(self, node: ast.Positional) -> CValue:
        return CValue(int_literal(node.value), node.type)

    def _param_count(self, node: ast.ParamCount) -> CValue:
        return CValue(f"{len(self.options.params)}ULL", node.type)

    def _var(self, node: ast.Var) -> CValue:
        return self.variable(node.symbol)

    def _sizeof(self, node: ast.Sizeof) -> CValue:
        return CValue(str(node.size), node.type)

    def _offsetof(self, node: ast.Offsetof) -> CValue:
        return CValue(str(node.offset), node.type)

    def _call(self, node: ast.Call) -> CValue:
        fn = FUNCTIONS.get(node.name)
        if fn is None:  # a builtin written as a call: pid()
            return CValue(find_builtin(node.name, self.site.target).emit(self), node.type)
        return fn.emit(self, node)

    def _block_expr(self, node: ast.BlockExpr) -> CValue:
        for stmt in node.body.stmts:
            self.stmt(stmt)
        return self.expr(node.value)

    # -- operators ---------------------------------------------------------------------------

    def _binary(self, node: ast.Binary) -> CValue:
        if node.op in ("&&", "||"):
            return self._logical(node)
        left, right = self.expr(node.left), self.expr(node.right)
        return self.binary_value(node.op, left, right)

    def binary_value(self, op: str, left: CValue, right: CValue) -> CValue:
        """``left op right``, typed by bpftrace's rules (a compound assignment then stores it
        into its target, narrowing it to the target's type)."""
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return self.compare(op, left, right)
        if left.type.is_pointer or right.type.is_pointer:
            return self._pointer_arithmetic(op, left, right)
        if left.type.is_bool and right.type.is_bool:
            return self.scalar(f"(u8)({left.text} {op} {right.text})", BOOL)
        typ = arithmetic_result(op, left.type, right.type)
        l64, r64 = left.as_u64, right.as_u64
        wide = c_wide_type(typ)
        if op in ("<<", ">>"):
            # bpftrace shifts right logically, whatever the sign.
            r64 = f"({r64} & {SHIFT_MASK})"
        elif op in ("/", "%"):
            # BPF divides unsigned, as bpftrace does; a zero divisor gives 1 (bpftrace 0.26).
            divisor = self.scalar(r64, UINT64)
            return self.scalar(f"({wide})({divisor.text} ? {l64} {op} {divisor.text} : 1)", typ)
        # Unsigned 64-bit arithmetic wraps instead of overflowing (C's signed overflow is
        # undefined); the result is then read with the right sign.
        return self.scalar(f"({wide})({l64} {op} {r64})", typ)

    def _pointer_arithmetic(self, op: str, left: CValue, right: CValue) -> CValue:
        ptr, other = (left, right) if left.type.is_pointer else (right, left)
        step = ptr.type.target.size if ptr.type.target is not None and ptr.type.target.size \
            else 1
        return self.scalar(f"{ptr.as_u64} {op} {other.as_u64} * {step}", ptr.type)

    def compare(self, op: str, left: CValue, right: CValue) -> CValue:
        lt, rt = left.type, right.type
        if lt.is_string:
            same = self.strings_equal(left, right)
            return CValue(same if op == "==" else f"(u8)!{same}", BOOL)
        if lt.is_tuple:
            same = self.tuples_equal(left, right)
            return CValue(same if op == "==" else f"(u8)!{same}", BOOL)
        signed = comparison_signed(lt, rt) and not (lt.is_pointer or rt.is_pointer)
        cast = "s64" if signed else "u64"
        return self.scalar(f"(u8)(({cast})({left.text}) {op} ({cast})({right.text}))", BOOL)

    def strings_equal(self, left: CValue, right: CValue, limit: Optional[int] = None) -> str:
        """A u8 temporary: 1 when two strings are equal (in their first ``limit`` bytes, when
        given). Both are NUL-terminated within their capacity, so looking as far as the
        shorter capacity is enough."""
        n = min(left.type.capacity, right.type.capacity, *([limit] if limit is not None else []))
        same = self.temp("u8 {} = 1")
        i = self.fresh("i")
        self.open_block(f"for (int {i} = 0; {i} < {n}; {i}++) {{")
        self.line(f"if ({left.text}[{i}] != {right.text}[{i}]) {{ {same} = 0; break; }}")
        self.line(f"if ({left.text}[{i}] == 0) break;")
        self.close_block()
        return same

    def tuples_equal(self, left: CValue, right: CValue) -> str:
        same = self.temp("u8 {} = 1")
        for i in range(len(left.type.elements)):
            j = i if not left.type.is_record else right.type.index_of(left.type.names[i])
            equal = self.compare("==", self.element(left, i), self.element(right, j))
            self.line(f"{same} = {same} & {equal.text};")
        return same

    def _logical(self, node: ast.Binary) -> CValue:
        left = self.expr(node.left)
        result = self.temp(f"u8 {{}} = (({left.text}) != 0)")
        self.open_block(f"if ({'' if node.op == '&&' else '!'}{result}) {{")
        right = self.expr(node.right)
        self.line(f"{result} = (({right.text}) != 0);")
        self.close_block()
        return CValue(result, BOOL)

    def _unary(self, node: ast.Unary) -> CValue:
        if node.op == "&":
            target = self.variable(node.operand.symbol)
            address = target.text if target.in_memory else f"&{target.text}"
            return self.scalar(f"(u64)({address})", node.type)
        operand = self.expr(node.operand)
        if node.op == "!":
            return self.scalar(f"(u8)!({operand.text})", BOOL)
        if node.op == "-":
            return self.scalar(f"({c_wide_type(node.type)})(0 - {operand.as_u64})", node.type)
        if node.op == "~":
            return self.scalar(f"({c_wide_type(node.type)})~({operand.as_u64})", node.type)
        if node.type.is_c_aggregate:
            return self.pointee(operand, node.type)
        return self.read_pointer(operand, node.type)

    def read_pointer(self, pointer: CValue, typ: Type, index: str = "0") -> CValue:
        """The value a pointer (or an integer taken as an address) points to: ``*p``,
        ``p[i]``, read with the probe-read helper of its address space."""
        user = pointer.type.user if pointer.type.is_pointer else None
        helper = {True: "bpf_probe_read_user", False: "bpf_probe_read_kernel"}.get(
            user, "bpf_probe_read")
        value = self.temp(f"{c_scalar_type(typ)} {{}} = 0")
        self.line(f"{helper}(&{value}, {typ.size}, (void *)({pointer.as_u64} + "
                  f"({index}) * {typ.size}));")
        return CValue(value, typ)

    def _inc_dec(self, node: ast.IncDec) -> CValue:
        target = node.target
        delta = "1"
        if isinstance(node.type, PointerType) and node.type.target is not None:
            delta = str(node.type.target.size or 1)
        op = "+" if node.op == "++" else "-"
        if isinstance(target, ast.Var):
            dest = self.variable(target.symbol)
            old = self.scalar(f"({c_wide_type(dest.type)})({dest.text})", node.type)
            new = self.scalar(f"({c_wide_type(node.type)})({old.as_u64} {op} {delta})",
                              node.type)
            self.store(dest, new)
            return CValue(f"({c_scalar_type(dest.type)})({dest.text})", dest.type) \
                if node.prefix else old
        m = self.resources.maps[target.name]
        key = self.map_key(m, target)
        old = self.map_lookup_value(m, key)
        new = self.scalar(f"({c_wide_type(node.type)})({old.as_u64} {op} {delta})", node.type)
        self.map_update(m, key, new, node.span)
        return new if node.prefix else old

    def _cast(self, node: ast.Cast) -> CValue:
        operand = self.expr(node.operand)
        typ = node.type
        if isinstance(typ, BoolType):
            if operand.type.is_string:
                return self.scalar(f"(u8)({operand.text}[0] != 0)", BOOL)
            return self.scalar(f"(u8)(({operand.text}) != 0)", BOOL)
        return self.scalar(f"({c_scalar_type(typ)})({operand.text})", typ)

    def _ternary(self, node: ast.Ternary) -> CValue:
        cond = self.expr(node.cond)
        typ = node.type
        if typ.is_scalar:
            result = CValue(self.temp(f"{c_scalar_type(typ)} {{}} = 0"), typ)
        else:
            result = CValue(self.buffer(typ, zeroed=False), typ)
        kept = self.scalar(cond.text, cond.type) if node.then is None else cond
        self.open_block(f"if ({kept.text}) {{")
        self.store(result, kept if node.then is None else self.expr(node.then))
        self.close_block("} else {")
        self.out.depth += 1
        self.store(result, self.expr(node.otherwise))
        self.close_block()
        return result

    def _tuple(self, node) -> CValue:
        result = CValue(self.buffer(node.type), node.type)
        for i, element in enumerate(node.elements):
            self.store(self.element(result, i), self.expr(element))
        return result

    # -- fields and elements -----------------------------------------------------------------

    def _field(self, node: ast.FieldAccess) -> CValue:
        if node.base.type is not None and node.base.type.is_tuple:  # a record's field
            base = self.expr(node.base)
            return self.element(base, base.type.index_of(node.field_name))
        if node.member is not None:  # a C struct's member, through a pointer or not
            base = self.location(node.base)
            if base.type.is_pointer:
                base = self.pointee(base, base.type.target)
            return self.member(base, node.member, node.type)
        target = self.site.target
        fld = target.provider.arg_fields(target)[node.field_name]
        return CValue(target.provider.emit_arg(self, fld), node.type)

    def _tuple_index(self, node: ast.TupleIndex) -> CValue:
        return self.element(self.expr(node.base), node.index)

    def _index(self, node: ast.Index) -> CValue:
        base = self.location(node.base)
        if isinstance(base.type, TupleType):
            return self.element(base, node.position)
        index = self.expr(node.index)
        if base.type.is_string:  # a string's bytes, as int8
            base = CValue(base.text, ArrayType(INT8, base.type.capacity), base.remote)
        if base.type.is_array:
            return self.array_element(base, index)
        if node.type.is_c_aggregate:
            return self.pointee(base, node.type, index.as_u64)
        return self.read_pointer(base, node.type, index.as_u64)


