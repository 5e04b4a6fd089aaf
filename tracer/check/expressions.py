"""The checker's expression rules: one method per node type, each returning the node's type
(or None when the node is wrong, already reported)."""

from __future__ import annotations

import difflib
from typing import Optional

from .. import ast
from ..builtins import BUILTINS
from ..builtins import find as find_builtin
from ..providers import REGISTRY
from ..functions.aggregations import AGGREGATIONS
from ..literals import LiteralError, parse_signed_int, short
from ..types import (ARITHMETIC_OPS, BOOL, COMPARISON_OPS, INT8, INT64, LOGICAL_OPS,
                     UINT64, AggregateType, ArgsType, ArrayType, BoolType, IntType, PointerType,
                     StringType, StructRef, StructType, TupleType, Type, literal_type, promote,
                     settle_signs, signed_literal_type)
from .typespec import resolve_type_spec

MAX_EXPR_DEPTH = 10_000


class ExpressionRules:
    """Mixed into ``Checker``; relies on its ``error``, ``store``, ``map_entry`` ..."""

    def expression_rules(self) -> dict:
        return {
            ast.IntLit: self._int_lit, ast.BoolLit: lambda node: BOOL,
            ast.StrLit: self._str_lit, ast.Ident: self._ident,
            ast.Positional: self._positional, ast.ParamCount: lambda node: UINT64,
            ast.Var: self._var, ast.MapRef: self._map_read, ast.Call: self._call_expr,
            ast.Binary: self._binary, ast.Unary: self._unary, ast.IncDec: self._inc_dec,
            ast.Cast: self._cast, ast.Ternary: self._ternary, ast.TupleLit: self._tuple,
            ast.RecordLit: self._record,
            ast.FieldAccess: self._field, ast.TupleIndex: self._tuple_index,
            ast.Index: self._index, ast.Sizeof: self._sizeof, ast.Offsetof: self._offsetof,
            ast.BlockExpr: self._block_expr,
        }

    def expr(self, node: ast.Expr) -> Optional[Type]:
        """The type of an expression, or None when it is wrong (already reported)."""
        rule = self._expr_rules.get(type(node))
        if rule is None:
            raise AssertionError(f"the checker has no rule for {type(node).__name__}")
        self.depth += 1
        try:
            if self.depth > MAX_EXPR_DEPTH:
                self.error(node.span, f"the expression is nested more than {MAX_EXPR_DEPTH} "
                                      f"levels deep")
                node.type = None
            else:
                node.type = rule(node)
        finally:
            self.depth -= 1
        return node.type

    # -- leaves ------------------------------------------------------------------------------

    def _int_lit(self, node: ast.IntLit) -> Type:
        return literal_type(node.value) if node.value >= 0 else signed_literal_type(node.value)

    def _str_lit(self, node: ast.StrLit) -> Type:
        return StringType(len(node.value) + 1)

    def _ident(self, node: ast.Ident) -> Optional[Type]:
        if node.name == "args":
            self.error(node.span, "args is a record: read one of its fields, as args.name")
            return None
        target = self.site.target
        builtin = find_builtin(node.name, target)
        if builtin is None:
            constant = self.named_constant(node)
            if constant is not None:
                return constant
            owners = REGISTRY.owners_of(node.name)
            if owners:
                self.error(node.span, f"The {node.name} builtin can only be used with "
                                      f"{_listed(owners)} probes, not {target.provider.name}")
            else:
                self.error(node.span, f"Unknown identifier: '{node.name}'",
                           lambda: _did_you_mean(node.name, [*BUILTINS, "args"]) or
                           self.catalog.headers_note)
            return None
        reason = builtin.unavailable(self.options)
        if reason:
            self.error(node.span, reason)
            return None
        if not builtin.in_loops and "for-loop" in self.loops:
            self.error(node.span, f"'{node.name}' builtin is not allowed in a for-loop",
                       hint="read it into a variable before the loop")
            return None
        return builtin.type_for(self.config)

    def positional_text(self, node: ast.Positional) -> str:
        return self.options.param_text(node.index)

    def positional_value(self, node: ast.Positional) -> Optional[int]:
        """A positional parameter used as a number: its value, or None (reported)."""
        text = self.positional_text(node)
        if text == "":
            return 0  # a missing parameter is 0, as in bpftrace
        try:
            value = parse_signed_int(text)
        except LiteralError as err:
            if "overflow" in err.message:
                self.error(node.span, f"${node.index}: {err.message}")
            else:
                self.error(node.span, f"${node.index} used numerically but given "
                                      f"\"{short(text)}\"", f"use str(${node.index}) for a string")
            return None
        if not -(1 << 63) <= value < 1 << 63:
            self.error(node.span, f"${node.index} is {text}, which does not fit in int64")
            return None
        return value

    def _positional(self, node: ast.Positional) -> Optional[Type]:
        node.value = self.positional_value(node)
        return INT64 if node.value is not None else None

    def _var(self, node: ast.Var) -> Optional[Type]:
        variable = self.scope.find(node.name)
        if variable is None:
            self.error(node.span, f"Undefined or undeclared variable: {node.name}")
            return None
        node.symbol = variable
        typ = self.var_types.get(variable.key)
        if typ is None:
            message = f"Could not resolve the type of {node.name}" if variable.assigned else \
                f"Variable used before it was assigned: {node.name}"
            self.deferred.append((node.span, message))
        return typ

    def _map_read(self, node: ast.MapRef) -> Optional[Type]:
        info = self.map_info_for_read(node)
        if info is None:
            return None
        if isinstance(info.value, AggregateType):
            # bpftrace 0.26 reads count, sum, min, max and avg in a probe, merging the CPUs'
            # slots there and then; a histogram or stats has no single value to read.
            if AGGREGATIONS[info.value.name].reader is None:
                self.error(node.span, f"{node.name} holds {info.value.name}() values; they "
                                      f"can only be printed")
                return None
            return IntType(64, info.value.signed)
        return info.value

    def _call_expr(self, node: ast.Call) -> Optional[Type]:
        return self.value(node)

    def _block_expr(self, node: ast.BlockExpr) -> Optional[Type]:
        self.scope.push()
        try:
            self._block(node.body, new_scope=False)
            return self.value(node.value)
        finally:
            self.scope.pop()

    # -- operators ---------------------------------------------------------------------------

    def _binary(self, node: ast.Binary) -> Optional[Type]:
        lt, rt = self.expr(node.left), self.expr(node.right)
        if lt is None or rt is None:
            return None
        return self.binary_type(node.op, lt, rt, node.op_span, node.left, node.right)

    def binary_type(self, op: str, lt: Type, rt: Type, span, left: ast.Expr,
                    right: ast.Expr) -> Optional[Type]:
        if op in LOGICAL_OPS:
            for side, typ in ((left, lt), (right, rt)):
                if not (typ.is_integral or typ.is_pointer):
                    self.error(side.span, f"The {op} operator can not be used on expressions "
                                          f"of types {lt}, {rt}")
                    return None
            return BOOL
        if lt.is_pointer or rt.is_pointer:
            return self._pointer_binary(op, lt, rt, span)
        if lt.is_integral and rt.is_integral:
            if op in COMPARISON_OPS:
                return BOOL
            if isinstance(lt, BoolType) and isinstance(rt, BoolType) and op in ("&", "|", "^"):
                return BOOL
            if op in ("/", "%"):
                self._signed_division_warning(op, lt, rt, span)
            return self.arithmetic(op, lt, rt)
        if op in ("==", "!=") and lt.is_string and rt.is_string:
            return BOOL
        if op in ("==", "!=") and lt.is_tuple and rt.is_tuple:
            if promote(lt, rt) is not None:
                return BOOL
        self.error(span, f"The {op} operator can not be used on expressions of types {lt}, {rt}")
        return None

    def _signed_division_warning(self, op: str, lt: Type, rt: Type, span) -> None:
        left = lt if isinstance(lt, IntType) else IntType(8, False)
        right = rt if isinstance(rt, IntType) else IntType(8, False)
        left, right = settle_signs(left, right)
        if left != right and (left.is_signed or right.is_signed):
            # BPF has no signed division; bpftrace divides unsigned and warns, and so do we.
            self.warning(span, f"signed operands for '{op}' can lead to undefined behavior "
                               f"(cast to unsigned to silence warning)")

    def _pointer_binary(self, op: str, lt: Type, rt: Type, span) -> Optional[Type]:
        ptr, other = (lt, rt) if lt.is_pointer else (rt, lt)
        if op in COMPARISON_OPS and (other.is_pointer or other.is_integral):
            return BOOL
        if op in ("+", "-") and other.is_integral and not (op == "-" and not lt.is_pointer):
            return ptr
        self.error(span, f"The {op} operator can not be used on expressions of types {lt}, {rt}")
        return None

    def _unary(self, node: ast.Unary) -> Optional[Type]:
        if node.op == "&":
            return self._address_of(node)
        typ = self.expr(node.operand)
        if typ is None:
            return None
        if node.op == "!":
            if typ.is_integral or typ.is_pointer:
                return BOOL
        elif node.op in ("-", "~"):
            # 64 bits, with the operand's sign (bpftrace 0.26): -(uint8)3 is a uint64.
            if isinstance(typ, IntType):
                return INT64 if typ.signed else UINT64
        elif node.op == "*":
            return self._deref(node, typ)
        self.error(node.span, f"The {node.op} operator can not be used on expressions of type "
                              f"{typ}")
        return None

    def _deref(self, node: ast.Expr, typ: Type) -> Optional[Type]:
        if isinstance(typ, IntType):
            return UINT64  # an integer taken as an address: 8 bytes read there, as in bpftrace
        if not isinstance(typ, PointerType):
            self.error(node.span, f"Can not dereference type '{typ}'. It is not a pointer.",
                       hint="cast it to a pointer first, as in *(uint64 *)$addr")
            return None
        target = typ.target
        if target is None:
            self.error(node.span, "Can not dereference a void pointer",
                       hint="cast it to a pointer of a type first, as in *(uint32 *)$p")
            return None
        if isinstance(target, StructRef):
            self.error(node.span, f"Can not dereference a pointer to {target}: it is only "
                                  f"declared, and its members are not known",
                       hint="the kernel's BTF has no definition of it; define it in the script")
            return None
        if target.is_c_aggregate:
            return self.pointed_aggregate(node, typ)
        if not target.is_scalar:
            self.error(node.span, f"Can not dereference type '{typ}'")
            return None
        return target

    def _address_of(self, node: ast.Unary) -> Optional[Type]:
        operand = node.operand
        if not isinstance(operand, ast.Var):
            self.error(node.span, "address-of operator (&) can only be used on a variable")
            return None
        typ = self.expr(operand)
        if typ is None:
            return None
        return PointerType(typ, user=False)

    def _inc_dec(self, node: ast.IncDec) -> Optional[Type]:
        target = node.target
        if isinstance(target, ast.Var):
            current = self.expr(target)
        elif isinstance(target, ast.MapRef):
            current = self.map_value_for_update(target)
        else:
            return None  # the parser reported it
        if current is None:
            return None
        if current.is_pointer:
            self.store(target, current, node.span, None)
            return current
        if not current.is_int:
            self.error(node.span, f"The {node.op} operator must be applied to an integer, not "
                                  f"{current}")
            return None
        result = INT64 if current.signed or node.op == "--" else UINT64
        self.store(target, result, node.span, None)
        return result

    def _cast(self, node: ast.Cast) -> Optional[Type]:
        source = self.expr(node.operand)
        target = resolve_type_spec(self, node.target_type)
        if source is None or target is None:
            return None
        if isinstance(target, IntType) and (source.is_integral or source.is_pointer):
            return target
        if target.is_bool and (source.is_integral or source.is_pointer or source.is_string):
            return BOOL
        if target.is_pointer and (source.is_int or source.is_pointer):
            return self.cast_pointer_space(target, source)
        self.error(node.span, f"Cannot cast from \"{source}\" to \"{target}\"")
        return None

    def _ternary(self, node: ast.Ternary) -> Optional[Type]:
        cond = self.expr(node.cond)
        if cond is not None and not (cond.is_integral or cond.is_pointer):
            self.error(node.cond.span, f"Invalid condition in ternary: {cond}")
            return None
        then = cond if node.then is None else self.value(node.then)
        otherwise = self.value(node.otherwise)
        if then is None or otherwise is None or cond is None:
            return None
        merged = promote(then, otherwise)
        if merged is None or not merged.storable:
            self.error(node.span, f"Ternary operator must return the same type: have '{then}' "
                                  f"and '{otherwise}'")
            return None
        return merged

    def _tuple(self, node) -> Optional[Type]:
        types = [self.value(e) for e in node.elements]
        if None in types:
            return None
        for element, typ in zip(node.elements, types):
            if not typ.storable:
                self.error(element.span, f"a tuple cannot hold a value of type {typ}")
                return None
        return TupleType(tuple(types))

    def _record(self, node: ast.RecordLit) -> Optional[Type]:
        typ = self._tuple(node)
        return None if typ is None else TupleType(typ.elements, tuple(node.names))

    # -- fields and elements -----------------------------------------------------------------

    def _field(self, node: ast.FieldAccess) -> Optional[Type]:
        if isinstance(node.base, ast.Ident) and node.base.name == "args":
            return self._args_field(node)
        base = self.expr(node.base)
        if base is None:
            return None
        if isinstance(base, TupleType) and base.is_record:
            index = base.index_of(node.field_name)
            if index is None:
                self.error(node.span, f"Record does not contain a field named "
                                      f"'{node.field_name}'",
                           hint="its fields are: " + ", ".join(base.names))
                return None
            return base.elements[index]
        if isinstance(base, PointerType) and isinstance(base.target, (StructType, StructRef)) \
                or isinstance(base, StructType):
            return self.struct_member(node, base)
        self.error(node.span, f"Can not access field '{node.field_name}' on type '{base}'")
        return None

    def _args_field(self, node: ast.FieldAccess) -> Optional[Type]:
        target = self.site.target
        fields = target.provider.arg_fields(target)
        if fields is None:
            self.error(node.base.span, f"args is not available in {target.provider.name} probes")
            return None
        node.base.type = ArgsType(target.name)
        if node.field_name.startswith("common_"):
            self.error(node.span, "BPF does not support accessing common tracepoint fields")
            return None
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

    def _tuple_index(self, node: ast.TupleIndex) -> Optional[Type]:
        base = self.expr(node.base)
        if base is None:
            return None
        return self._element(node, base, node.index)

    def _element(self, node: ast.Expr, base: Type, index: int) -> Optional[Type]:
        if not isinstance(base, TupleType):
            self.error(node.span, f"Can not access index '{index}' on expression of type "
                                  f"'{base}'")
            return None
        if not 0 <= index < len(base.elements):
            self.error(node.span, f"Invalid tuple index: {index}. Found "
                                  f"{len(base.elements)} elements in tuple.")
            return None
        return base.elements[index]

    def _index(self, node: ast.Index) -> Optional[Type]:
        base = self.expr(node.base)
        if base is None:
            return None
        if isinstance(base, TupleType):
            index = self.constant_int(node.index)
            if index is None:
                self.error(node.index.span, "a tuple's index must be a constant integer")
                return None
            node.index.type = literal_type(max(index, 0))
            node.position = index
            return self._element(node, base, index)
        if isinstance(base, ArrayType):
            return self.array_element(node, base)
        if isinstance(base, StringType):  # a string's bytes, as int8 (bpftrace 0.26)
            return self.array_element(node, ArrayType(INT8, base.capacity))
        index_type = self.expr(node.index)
        if index_type is None:
            return None
        if isinstance(base, PointerType) and index_type.is_int:
            return self._deref(node, base)
        self.error(node.span, f"The array index operator [] cannot be used on expressions of "
                              f"type {base}")
        return None

    def _subject_type(self, subject) -> Optional[Type]:
        """What sizeof() and offsetof() are about: a type written out, or an expression's."""
        if isinstance(subject, ast.TypeSpec):
            return resolve_type_spec(self, subject)
        return self.value(subject)

    def _sizeof(self, node: ast.Sizeof) -> Optional[Type]:
        typ = self._subject_type(node.subject)
        if typ is None:
            return None
        if typ.size == 0:
            self.error(node.span, f"sizeof: {typ} has no size")
            return None
        node.size = typ.size
        return literal_type(typ.size)

    def _offsetof(self, node: ast.Offsetof) -> Optional[Type]:
        typ = self._subject_type(node.subject)
        return None if typ is None else self.offsetof(node, typ)

    # -- constants ---------------------------------------------------------------------------

    def constant_int(self, node: ast.Expr) -> Optional[int]:
        """The value of an integer expression made only of literals and positional parameters,
        or None when it is not one."""
        if isinstance(node, ast.IntLit):
            return node.value
        if isinstance(node, ast.Positional):
            return self.positional_value(node)
        if isinstance(node, ast.Ident) and find_builtin(node.name, self.site.target) is None:
            found = self.catalog.constant(node.name)  # an enumerator or an included macro
            return None if found is None else found[0]
        if isinstance(node, ast.Unary) and node.op == "-":
            value = self.constant_int(node.operand)
            return None if value is None else -value
        if isinstance(node, ast.Binary) and node.op in ARITHMETIC_OPS:
            left, right = self.constant_int(node.left), self.constant_int(node.right)
            if left is None or right is None:
                return None
            return _fold(node.op, left, right)
        return None


def _fold(op: str, left: int, right: int) -> Optional[int]:
    if op in ("/", "%") and right == 0:
        return None
    if op in ("<<", ">>") and not 0 <= right < 64:
        return None
    value = {
        "+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
        "/": lambda: abs(left) // abs(right) * (1 if (left >= 0) == (right >= 0) else -1),
        "%": lambda: left - right * int(left / right),
        "&": lambda: left & right, "|": lambda: left | right, "^": lambda: left ^ right,
        "<<": lambda: left << right, ">>": lambda: left >> right,
    }[op]()
    return value if -(1 << 63) <= value < 1 << 64 else None


def _listed(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _did_you_mean(name: str, names: list) -> "str | None":
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean '{close[0]}'?" if close else None
