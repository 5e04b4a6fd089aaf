"""The checker's rule for calls: the function's signature (data) first, then its own rule."""

from __future__ import annotations

import difflib
from typing import Optional

from .. import ast
from ..builtins import find as find_builtin
from ..functions import FUNCTIONS, Function, Kind, Place
from ..types import Type


class CallRules:
    """Mixed into ``Checker``."""

    def call(self, node: ast.Call, place: Place) -> Optional[Type]:
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            if find_builtin(node.name, self.site.target) and not node.args:
                # bpftrace 0.26 lets a builtin be written as a call: pid() is pid.
                node.type = self._ident(ast.Ident(node.span, node.name))
                return node.type
            self.error(node.name_span, f"Unknown function: '{node.name}'",
                       lambda: _did_you_mean(node.name, list(FUNCTIONS)))
            for arg in node.args:
                self.expr(arg)
            return None
        node.type = self._check_call(fn, node, place)
        return node.type

    def _check_call(self, fn: Function, node: ast.Call, place: Place) -> Optional[Type]:
        sig = fn.signature
        if fn.unsafe and not self.options.unsafe:
            self.error(node.name_span, f"{fn.name}() is an unsafe function being used in safe "
                                       f"mode", hint="run with --unsafe to allow it")
        if fn.ends_probe and "for-loop" in self.loops:
            self.error(node.span, f"{fn.name}() is not allowed in a for-loop",
                       hint="set a variable, break out of the loop, then call it")
        misplaced = place not in sig.places
        if misplaced:
            if sig.places == {Place.MAP_VALUE}:
                self.error(node.span, f"{fn.name}() must be assigned to a map, as in "
                                      f"@name = {fn.name}()")
            else:
                self.error(node.span, f"{fn.name}() has no value; use it as a statement of "
                                      f"its own")
        n, low, high = len(node.args), sig.min_args, sig.max_args
        arity_ok = low <= n and (high is None or n <= high)
        if not arity_ok:
            if high is None:
                want = f"at least {low} argument{'s' if low != 1 else ''}"
            elif low == high:
                want = f"{low} argument{'s' if low != 1 else ''}"
            else:
                want = f"{low} to {high} arguments"
            self.error(node.span, f"{fn.name}() takes {want} ({n} provided)")
        arg_types: list[Optional[Type]] = []
        literals_ok = True
        for i, arg in enumerate(node.args):
            param = sig.param_for(i)
            if i in fn.raw_args or param is None:
                arg_types.append(None)
                continue
            typ, ok = self._check_arg(fn, param.kind, arg)
            literals_ok = literals_ok and ok
            arg_types.append(typ)
        if not arity_ok or not literals_ok or misplaced:
            return None
        if fn.check is not None:
            fn.check(self, node, arg_types)
        return fn.result(self, node, arg_types) if callable(fn.result) else fn.result

    def _check_arg(self, fn: Function, kind: Kind, arg: ast.Expr) -> tuple[Optional[Type], bool]:
        """The argument's type, and whether it is written as its parameter requires."""
        if kind is Kind.STRING_LITERAL and not isinstance(arg, ast.StrLit):
            typ = self.expr(arg)
            self.error(arg.span, f"{fn.name}() expects a string literal ({typ} provided)")
            return None, False
        if kind is Kind.INT_LITERAL and self.constant_int(arg) is None:
            typ = self.expr(arg)
            self.error(arg.span, f"{fn.name}() expects an integer literal ({typ} provided)")
            return None, False
        typ = self.value(arg)
        if typ is None:
            return None, True
        if kind in (Kind.INT, Kind.INT_LITERAL) and not typ.is_integral or \
                kind in (Kind.STRING, Kind.STRING_LITERAL) and not typ.is_string:
            self.error(arg.span, f"{fn.name}() expects {kind.value} here, not {typ}")
            return None, True
        return typ, True


def _did_you_mean(name: str, names: list) -> "str | None":
    close = difflib.get_close_matches(name, names, n=3)
    if not close:
        return None
    # Of the close names, the fewest typing slips away: two swapped letters (prinft) are one
    # slip from printf, though difflib scores print closer.
    best = min(close, key=lambda c: (_slips(name, c), abs(len(c) - len(name))))
    return f"did you mean '{best}'?"


def _slips(a: str, b: str) -> int:
    """Edits between two words: insertions, deletions, changes and swaps of neighbours."""
    previous2, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1,
                         previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]
