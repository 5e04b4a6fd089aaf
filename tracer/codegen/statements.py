"""The code generator's statement rules.

``while`` is a C loop (the kernel verifies that it ends). A ``for`` loop's body is a callback:
``bpf_loop`` runs it for a range, ``bpf_for_each_map_elem`` for each entry of a map. The
callback reaches the probe's variables through the frame in scratch memory and the probe's
context through a link struct on the probe's stack; ``break`` ends the callback with 1 (stop)
and ``continue`` with 0.
"""

from __future__ import annotations

from .. import ast
from ..functions import FUNCTIONS
from ..types import UINT64
from . import markers
from .values import CValue, c_scalar_type

LINK_STRUCT = """\
/* What a loop's callback needs from its probe: the probe's context, and the loop's start. */
struct tracer_link {
  void *ctx;
  s64 base;
};"""


class StatementGen:
    """Mixed into ``FunctionBuilder``."""

    def statement_rules(self) -> dict:
        self.loops: list[str] = []  # enclosing loops, innermost last: "c" or "callback"
        return {
            ast.ExprStmt: self._expr_stmt, ast.Assign: self._assign, ast.Let: self._let,
            ast.If: self._if, ast.While: self._while, ast.Unroll: self._unroll,
            ast.ForRange: self._for_range, ast.ForMap: self._for_map, ast.Jump: self._jump,
            ast.Block: self._block, ast.Discard: self._discard,
        }

    def _block(self, block: ast.Block) -> None:
        for stmt in block.stmts:
            self.stmt(stmt)

    def _expr_stmt(self, stmt: ast.ExprStmt) -> None:
        node = stmt.expr
        if isinstance(node, ast.Call) and node.name in FUNCTIONS:
            FUNCTIONS[node.name].emit(self, node)
        else:
            self.expr(node)

    def _discard(self, stmt: ast.Discard) -> None:
        self._expr_stmt(ast.ExprStmt(stmt.span, stmt.expr))

    def _let(self, stmt: ast.Let) -> None:
        if stmt.target.symbol.type is None:
            return  # declared, never assigned: nothing holds it (the checker warned)
        dest = self.variable(stmt.target.symbol)
        if stmt.value is not None:
            self.store(dest, self.expr(stmt.value))
        elif dest.in_memory:
            self.zero(dest.text, dest.type.size)
        else:
            self.line(f"{dest.text} = 0;")

    def _assign(self, stmt: ast.Assign) -> None:
        target, value = stmt.target, stmt.value
        if isinstance(target, ast.MapRef):
            self.assign_map(stmt)
            return
        dest = self.variable(target.symbol)
        if stmt.op is None:
            self.store(dest, self.expr(value))
        else:
            self.store(dest, self.binary_value(stmt.op, dest, self.expr(value)))

    def assign_map(self, stmt: ast.Assign) -> None:
        m = self.resources.maps[stmt.target.name]
        value = stmt.value
        if m.per_cpu:
            self.fold_aggregation(m, stmt.target, value)
            return
        if stmt.op is None:
            new = self.expr(value)
            key = self.map_key(m, stmt.target)
        else:
            key = self.map_key(m, stmt.target)
            old = self.map_lookup_value(m, key)
            new = self.binary_value(stmt.op, old, self.expr(value))
        self.map_update(m, key, new, stmt.span)

    def _if(self, stmt: ast.If) -> None:
        cond = self.expr(stmt.cond)
        self.open_block(f"if ({cond.text}) {{")
        self._block(stmt.then)
        otherwise = stmt.otherwise
        if otherwise is None:
            self.close_block()
            return
        self.close_block("} else {")
        self.out.depth += 1
        if isinstance(otherwise, ast.If):
            self.stmt(otherwise)
        else:
            self._block(otherwise)
        self.close_block()

    def _while(self, stmt: ast.While) -> None:
        self.open_block("while (1) {")
        mark = self.memory.mark()
        cond = self.expr(stmt.cond)
        self.line(f"if (!({cond.text})) break;")
        self.loops.append("c")
        try:
            self._block(stmt.body)
        finally:
            self.loops.pop()
            self.memory.release(mark)
        self.close_block()

    def _unroll(self, stmt: ast.Unroll) -> None:
        for _ in range(stmt.times):
            self.open_block()
            mark = self.memory.mark()
            self._block(stmt.body)
            self.memory.release(mark)
            self.close_block()

    def _jump(self, stmt: ast.Jump) -> None:
        if stmt.value is not None:
            self.expr(stmt.value)
        innermost = self.loops[-1] if self.loops else None
        if stmt.kind == "return":
            self.line("return 0;")
        elif innermost == "callback":
            self.line("return 1;" if stmt.kind == "break" else "return 0;")
        else:
            self.line(f"{stmt.kind};")

    # -- for loops ---------------------------------------------------------------------------

    def _for_range(self, stmt: ast.ForRange) -> None:
        start, end = self.expr(stmt.start), self.expr(stmt.end)
        start64 = self.scalar(start.as_s64, _INT64)
        end64 = self.scalar(end.as_s64, _INT64)
        callback = self.callback("range")
        link = self._link(start64.text)
        self.line(f"if ({end64.text} > {start64.text}) bpf_loop({end64.text} - {start64.text}, "
                  f"{self.callback_address(callback)}, &{link}, 0);")
        with self.in_callback(callback, ["r2"]) as (link_ptr,):
            self.line(f"{self.variable(stmt.var.symbol).text} = "
                      f"({c_scalar_type(stmt.var.type)})({link_ptr}->base + (s64)tracer_arg1);")
            self._loop_body(stmt.body)

    def _for_map(self, stmt: ast.ForMap) -> None:
        m = self.resources.maps[stmt.map.name]
        callback = self.callback("map")
        link = self._link("0")
        self.line(f"bpf_for_each_map_elem({markers.map_address(m.index)}, "
                  f"{self.callback_address(callback)}, &{link}, 0);")
        with self.in_callback(callback, ["r2", "r3", "r4"]) as (key, value, _link):
            element = self.variable(stmt.var.symbol)
            key_type = self.ctypes.pointer(m.stored_key)
            value_type = self.ctypes.pointer(m.value_type)
            self.store(self.element(element, 0),
                       self._deref_member(f"(({key_type}){key})", m.stored_key))
            self.store(self.element(element, 1),
                       self._deref_member(f"(({value_type}){value})", m.value_type))
            self._loop_body(stmt.body)

    def _deref_member(self, pointer: str, typ) -> CValue:
        return CValue(pointer, typ) if not typ.is_scalar else CValue(f"(*{pointer})", typ)

    def _link(self, base: str) -> str:
        link = self.fresh("link")
        self.line(f"struct tracer_link {link} = {{ ctx, {base} }};")
        return link

    def _loop_body(self, body: ast.Block) -> None:
        self.loops.append("callback")
        try:
            self._block(body)
        finally:
            self.loops.pop()
        self.line("return 0;")


_INT64 = UINT64.with_sign(True)
