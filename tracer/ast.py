"""The syntax tree: plain dataclasses, each carrying the span of source it came from.

The semantic pass fills in ``Expr.type``; nothing else about a node changes after parsing.
``dump`` prints a tree for ``-d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterator, Optional

from .diagnostics import Span
from .types import Type


@dataclass
class Node:
    span: Span


# ---- expressions ---------------------------------------------------------------------------


@dataclass
class Expr(Node):
    # Filled by the semantic pass; excluded from comparisons so tests can build trees by hand.
    type: Optional[Type] = field(default=None, init=False, compare=False)


@dataclass
class IntLit(Expr):
    value: int


@dataclass
class StrLit(Expr):
    value: bytes  # escapes already decoded; no terminating NUL


@dataclass
class Ident(Expr):
    """A bare name: a builtin such as ``pid`` or ``args``, or an unknown identifier."""

    name: str


@dataclass
class Positional(Expr):
    index: int  # $1 is 1


@dataclass
class ParamCount(Expr):
    pass


@dataclass
class Var(Expr):
    name: str  # with its `$`
    # The variable this names, set by the checker (a passes.semantic.VarSymbol).
    symbol: Optional[object] = field(default=None, init=False, compare=False)


@dataclass
class MapRef(Expr):
    name: str  # with its `@`; the anonymous map is just "@"
    keys: list[Expr]


@dataclass
class Call(Expr):
    name: str
    args: list[Expr]
    name_span: Span


@dataclass
class Binary(Expr):
    op: str  # C spelling: "+", "==", "&&", ...
    left: Expr
    right: Expr
    op_span: Span


@dataclass
class Unary(Expr):
    op: str  # "!", "-", "~"
    operand: Expr


@dataclass
class FieldAccess(Expr):
    base: Expr
    field_name: str
    arrow: bool  # `->` rather than `.`


# ---- statements ----------------------------------------------------------------------------


@dataclass
class Stmt(Node):
    pass


@dataclass
class ExprStmt(Stmt):
    expr: Expr


@dataclass
class MapAssign(Stmt):
    target: MapRef
    value: Expr


@dataclass
class VarAssign(Stmt):
    target: Var
    value: Expr


# ---- probes --------------------------------------------------------------------------------


@dataclass
class AttachPoint(Node):
    text: str  # as written, e.g. "tracepoint:syscalls:sys_enter_getppid" or "BEGIN"


@dataclass
class Probe(Node):
    attach_points: list[AttachPoint]
    predicate: Optional[Expr]
    body: list[Stmt]


@dataclass
class Program(Node):
    probes: list[Probe]


def walk(root: object) -> Iterator[Node]:
    """Every node under ``root`` (a node or a list of them), parents first, in source order."""
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, Node):
            yield item
            stack.extend(reversed([getattr(item, f.name) for f in fields(item)
                                   if isinstance(getattr(item, f.name), (Node, list))]))


def dump(node: object, indent: int = 0) -> str:
    """An indented rendering of a tree, for ``-d``: one node a line, types where known."""
    pad = "  " * indent
    if isinstance(node, list):
        return "\n".join(dump(item, indent) for item in node)
    if not isinstance(node, Node):
        return pad + repr(node)
    scalars, children = [], []
    for f in fields(node):
        if f.name in ("span", "name_span", "op_span", "type"):
            continue
        value = getattr(node, f.name)
        if isinstance(value, (Node, list)) and value != []:
            children.append((f.name, value))
        elif value is not None and value != []:
            scalars.append(f"{f.name}={value!r}")
    head = f"{pad}{type(node).__name__}"
    if scalars:
        head += " " + " ".join(scalars)
    typ = getattr(node, "type", None)
    if typ is not None:
        head += f" :: {typ}"
    lines = [head]
    for name, value in children:
        if isinstance(value, list):
            lines.append(f"{pad}  {name}:")
            lines.append(dump(value, indent + 2))
        else:
            lines.append(dump(value, indent + 1))
    return "\n".join(lines)
