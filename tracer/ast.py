"""The syntax tree: plain dataclasses, each carrying the span of source it came from.

The checker fills in ``Expr.type`` (and ``Var.symbol``, ``Call.fn``); nothing else about a node
changes after parsing, except that the macro pass replaces macro calls with their bodies.
``dump`` prints a tree for ``-d``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Optional, Union

from .diagnostics import Span
from .types import Type


@dataclass
class Node:
    span: Span


# ---- types as written (casts, sizeof, let annotations) ---------------------------------------


@dataclass
class TypeSpec(Node):
    """A type written in the program: ``uint8``, ``string[32]``, ``struct task_struct *``,
    ``int8[4]``. ``name`` is the base name (``struct`` and friends keep their keyword)."""

    name: str
    pointers: int = 0
    array: Optional[int] = None  # ``[N]``: a string's capacity, or an array's length
    array_given: bool = False  # ``[]`` (length left to the cast) or ``[N]``


# ---- expressions ---------------------------------------------------------------------------


@dataclass
class Expr(Node):
    # Filled by the checker; excluded from comparisons so tests can build trees by hand.
    type: Optional[Type] = field(default=None, init=False, compare=False)


@dataclass
class IntLit(Expr):
    value: int  # negative for a literal written with a leading minus


@dataclass
class BoolLit(Expr):
    value: bool


@dataclass
class StrLit(Expr):
    value: bytes  # escapes already decoded; no terminating NUL


@dataclass
class Ident(Expr):
    """A bare name: a builtin such as ``pid`` or ``args``, a macro, or an unknown name."""

    name: str
    # The value of a name that is an integer constant (an enumerator, an included macro),
    # set by the checker.
    constant: Optional[int] = field(default=None, init=False, compare=False)


@dataclass
class Positional(Expr):
    index: int  # $1 is 1
    # Its value as a number, set by the checker (from the parameter's text).
    value: Optional[int] = field(default=None, init=False, compare=False)


@dataclass
class ParamCount(Expr):
    pass


@dataclass
class Var(Expr):
    name: str  # with its `$`
    # The variable this names, set by the checker (a check.scopes.Variable).
    symbol: Optional[object] = field(default=None, init=False, compare=False)


@dataclass
class MapRef(Expr):
    name: str  # with its `@`; the anonymous map is just "@"
    keys: list[Expr]  # none for a scalar map; several are one tuple key


@dataclass
class Call(Expr):
    name: str
    args: list[Expr]
    name_span: Span
    # What the function's type rule worked out for its code (a constant string, a count),
    # set by the checker and read by the function's emitter.
    info: dict = field(default_factory=dict, init=False, compare=False)


@dataclass
class Binary(Expr):
    op: str  # C spelling: "+", "==", "&&", ...
    left: Expr
    right: Expr
    op_span: Span


@dataclass
class Unary(Expr):
    op: str  # "!", "-", "~", "*" (dereference), "&" (address of)
    operand: Expr


@dataclass
class IncDec(Expr):
    """``$x++``, ``--@m[k]``: the target changes by one; the value is before or after."""

    op: str  # "++" or "--"
    target: Expr  # a Var or a MapRef
    prefix: bool


@dataclass
class Cast(Expr):
    target_type: TypeSpec
    operand: Expr


@dataclass
class Ternary(Expr):
    cond: Expr
    then: Optional[Expr]  # None for `a ?: b`, where the condition is also the value
    otherwise: Expr


@dataclass
class TupleLit(Expr):
    elements: list[Expr]


@dataclass
class RecordLit(Expr):
    """``(name=value, ...)``: a tuple whose elements have names (bpftrace 0.26)."""

    names: list[str]
    elements: list[Expr]


@dataclass
class FieldAccess(Expr):
    base: Expr
    field_name: str
    arrow: bool  # `->` rather than `.`
    # For a member of a C struct: the member (its offset and bits), set by the checker.
    member: Optional[Any] = field(default=None, init=False, compare=False)


@dataclass
class TupleIndex(Expr):
    """``$t.0``"""

    base: Expr
    index: int


@dataclass
class Index(Expr):
    """``base[index]``: an element of a tuple (constant index), an array or a pointer."""

    base: Expr
    index: Expr
    # For a tuple: the element's position, set by the checker (the index is a constant).
    position: Optional[int] = field(default=None, init=False, compare=False)


@dataclass
class Sizeof(Expr):
    subject: Union[TypeSpec, Expr]
    # The size in bytes, set by the checker: sizeof is a constant.
    size: Optional[int] = field(default=None, init=False, compare=False)


@dataclass
class Offsetof(Expr):
    subject: Union[TypeSpec, Expr]
    fields: list[str]
    # The offset in bytes, set by the checker: offsetof is a constant.
    offset: Optional[int] = field(default=None, init=False, compare=False)


@dataclass
class BlockExpr(Expr):
    """``{ statements; value }``: runs the statements, then is the value of the last one."""

    body: "Block"
    value: Expr


# ---- statements ----------------------------------------------------------------------------


@dataclass
class Stmt(Node):
    pass


@dataclass
class Block(Stmt):
    stmts: list[Stmt]


@dataclass
class ExprStmt(Stmt):
    expr: Expr


@dataclass
class Assign(Stmt):
    """``target = value``, or ``target op= value`` when ``op`` is set (``+`` for ``+=``)."""

    target: Expr  # a Var or a MapRef
    value: Expr
    op: Optional[str] = None


@dataclass
class Let(Stmt):
    """``let $x [: type] [= value];``: declares a variable in the current block."""

    target: Var
    type_spec: Optional[TypeSpec]
    value: Optional[Expr]


@dataclass
class If(Stmt):
    cond: Expr
    then: Block
    otherwise: Optional[Union[Block, "If"]]


@dataclass
class While(Stmt):
    cond: Expr
    body: Block


@dataclass
class Unroll(Stmt):
    count: Expr
    body: Block
    # How many times, set by the checker (the count is a constant).
    times: int = field(default=0, init=False, compare=False)


@dataclass
class ForRange(Stmt):
    """``for ($i : start..end) { }``: end excluded, both evaluated once."""

    var: Var
    start: Expr
    end: Expr
    body: Block


@dataclass
class ForMap(Stmt):
    """``for ($kv : @map) { }``: ``$kv`` is (key, value) for each entry."""

    var: Var
    map: MapRef
    body: Block


@dataclass
class Jump(Stmt):
    kind: str  # "break", "continue" or "return"
    value: Optional[Expr] = None


@dataclass
class Discard(Stmt):
    """``_ = expr;``: evaluate and drop, without the discarded-value warning."""

    expr: Expr


# ---- the program ---------------------------------------------------------------------------


@dataclass
class AttachPoint(Node):
    text: str  # as written, e.g. "tracepoint:syscalls:sys_enter_getppid" or "BEGIN"


@dataclass
class Probe(Node):
    attach_points: list[AttachPoint]
    predicate: Optional[Expr]
    body: Block


@dataclass
class ConfigItem(Node):
    name: str
    value: Union[int, str, bool]
    is_word: bool = False  # written as a bare word (warn), not a "string"


@dataclass
class Config(Node):
    items: list[ConfigItem]


@dataclass
class MacroParam(Node):
    name: str  # "$x" (a variable), "@m" (a map) or "x" (an expression)


@dataclass
class MacroDef(Node):
    name: str
    params: list[MacroParam]
    body: Block
    value: Optional[Expr]  # the body's last expression, when it ends with one (no `;`)
    name_span: Span


@dataclass
class Program(Node):
    probes: list[Probe]
    config: Optional[Config] = None
    macros: list[MacroDef] = field(default_factory=list)


def children(node: Node) -> Iterator[Node]:
    """The nodes directly under ``node``, in source order."""
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Node):
                    yield item


def walk(root: object) -> Iterator[Node]:
    """Every node under ``root`` (a node or a list of them), parents first, in source order."""
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, Node):
            yield item
            stack.extend(reversed(list(children(item))))


SPANS = frozenset({"span", "name_span", "op_span"})


def dump(root: object, indent: int = 0) -> str:
    """An indented rendering of a tree, for ``-d``: one node a line, types where known. It
    walks with a stack of its own, so a tree thousands of levels deep prints like any other."""
    lines: list[str] = []
    stack: list[tuple[object, int]] = [(root, indent)]
    while stack:
        node, depth = stack.pop()
        pad = "  " * depth
        if isinstance(node, _Label):
            lines.append(f"{pad}{node.name}:")
            continue
        if isinstance(node, list):
            stack.extend((item, depth) for item in reversed(node))
            continue
        if not isinstance(node, Node):
            lines.append(pad + repr(node))
            continue
        scalars, kids = [], []
        for f in fields(node):
            if f.name in SPANS or not f.compare:  # facts the checker added are shown as types
                continue
            value = getattr(node, f.name)
            if isinstance(value, (Node, list)) and value != []:
                kids.append((f.name, value))
            elif value is not None and value != [] and value is not False and \
                    not (f.default == value and f.name in ("pointers", "array_given")):
                scalars.append(f"{f.name}={value!r}")
        head = f"{pad}{type(node).__name__}"
        if scalars:
            head += " " + " ".join(scalars)
        typ = getattr(node, "type", None)
        if typ is not None:
            head += f" :: {typ}"
        lines.append(head)
        for name, value in reversed(kids):
            if isinstance(value, list):
                stack.append((value, depth + 2))
                stack.append((_Label(name), depth + 1))
            else:
                stack.append((value, depth + 1))
    return "\n".join(lines)


class _Label:
    """A field name heading a list in ``dump``'s output."""

    def __init__(self, name: str):
        self.name = name
