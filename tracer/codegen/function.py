"""One probe site -> one C function (and one more per ``for`` loop in it).

``FunctionBuilder`` walks a typed site through two tables, one for statements (``statements``)
and one for expressions (``expressions``). Every expression becomes statements that compute it
into temporaries, plus a ``CValue`` naming the result: no C expression nests deeper than one
operator, so the depth of a program's expressions never reaches clang. Each statement is a C
block of its own, so its temporaries (and the memory they hold) end with it.

Variables come from the checker's symbols. In a probe without loops they are C locals; a probe
with a ``for`` loop keeps them in a frame struct in scratch memory, which the loop's callback
reaches through a link struct on the probe's stack.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Optional

from .. import ast
from ..check import ProgramFacts
from ..config import Config
from ..options import CompileOptions
from ..passes.attach import ProbeSite
from ..passes.resources import WARNING_EVENT_ID, WARNING_LAYOUT, Resources
from ..types import StringType, TupleType, Type, struct_layout
from . import markers
from .cdata import CDataGen
from .cdecl import CTypes
from .cstring import c_comment_safe, c_string_literal
from .expressions import ExpressionGen
from .maps import MapGen
from .memory import Memory
from .statements import StatementGen
from .store import StoreGen
from .values import CValue, c_scalar_type

MEMCPY_INLINE_MAX = 128  # bytes; larger copies go through a helper, not unrolled stores


class Emitter:
    """The C text of one function: declarations at its top, then its body."""

    def __init__(self, name: str, signature: str):
        self.name = name
        self.signature = signature
        self.entry: list[str] = []  # first of all: a callback reads its argument registers
        self.prologue: list[str] = []
        self.body: list[str] = []
        self.depth = 1
        self.uses_scratch = False
        self.uses_zeros = False

    def text(self, scratch_slot: int) -> str:
        head = [f"{self.signature} {{", *self.entry]
        if self.uses_scratch:
            head.append(f"  u32 tracer_slot = {scratch_slot}; char *S = (char *)"
                        f"tracer_scratch.lookup(&tracer_slot); if (!S) return 0;")
        if self.uses_zeros:
            head.append("  u32 tracer_zero_key = 0; char *Z = (char *)"
                        "tracer_zeros.lookup(&tracer_zero_key); if (!Z) return 0;")
        return "\n".join([*head, *self.prologue, *self.body, "}"])


class FunctionBuilder(ExpressionGen, CDataGen, MapGen, StatementGen, StoreGen):
    def __init__(self, site: ProbeSite, resources: Resources, facts: ProgramFacts,
                 options: CompileOptions, config: Config, ctypes: CTypes, warnings: list):
        self.site = site
        self.resources = resources
        self.facts = facts
        self.options = options
        self.config = config
        self.ctypes = ctypes
        self.warnings = warnings  # the program's warning sites (spans), by index
        self.requires: dict[str, None] = {}  # program-level declarations, in order
        self.memory = Memory(config.on_stack_limit)
        self._temps = 0
        self.variables = facts.variables.get(site.index, [])
        self.frame_mode = any(isinstance(n, (ast.ForRange, ast.ForMap))
                              for n in ast.walk(site.body))
        provider = site.target.provider
        self.main = Emitter(site.function_name,
                            f"int {site.function_name}({provider.context_type} *ctx)")
        self.out = self.main  # where lines go now: the probe, or a loop callback
        self.callbacks: list[Emitter] = []
        self.frame_declaration: Optional[str] = None
        self.frame_offset = 0
        self.zeros_needed = 0  # bytes of the zeroed map that large buffers are cleared from
        self.stmt_rules = self.statement_rules()
        self.expr_rules = self.expression_rules()

    # -- the API builtins, functions and providers use ---------------------------------------

    def line(self, text: str) -> None:
        self.out.body.append("  " * self.out.depth + text)

    def open_block(self, head: str = "{") -> None:
        self.line(head)
        self.out.depth += 1

    def close_block(self, tail: str = "}") -> None:
        self.out.depth -= 1
        self.line(tail)

    def fresh(self, prefix: str = "t") -> str:
        name = f"{prefix}{self._temps}"
        self._temps += 1
        return name

    def temp(self, declaration: str) -> str:
        """Declare a fresh local; ``declaration`` has ``{}`` where its name goes."""
        name = self.fresh()
        self.line(declaration.replace("{}", name, 1) + ";")
        return name

    def scalar(self, text: str, typ: Type) -> CValue:
        """A scalar computed once into a temporary of its C type."""
        return CValue(self.temp(f"{c_scalar_type(typ)} {{}} = {text}"), typ)

    def buffer(self, typ: Type, zeroed: bool = True) -> str:
        """A buffer for a value of ``typ`` that lives until the statement ends; returns a C
        pointer to it (``char *`` for a string)."""
        return self.place_buffer(typ, self.memory.place(typ.size), zeroed)

    def place_buffer(self, typ: Type, placement, zeroed: bool) -> str:
        pointer_type = self.ctypes.pointer(typ)
        if placement.on_stack:
            storage = self.fresh("b")
            self.line(f"{self.ctypes.member(typ, storage)};")
            ref = storage if isinstance(typ, StringType) else f"&{storage}"
            name = self.temp(f"{pointer_type}{{}} = {ref}")
        else:
            self.out.uses_scratch = True
            name = self.temp(f"{pointer_type}{{}} = ({pointer_type})(S + {placement.offset})")
        if zeroed:
            self.zero(name, typ.size)
        return name

    def zero(self, pointer: str, size: int) -> None:
        if size <= MEMCPY_INLINE_MAX:
            self.line(f"__builtin_memset({pointer}, 0, {size});")
        else:
            # Clang unrolls memset into stores; a large one is copied from a zeroed map instead.
            self.line(f"bpf_probe_read_kernel({pointer}, {size}, {self.zeroed_memory(size)});")

    def zeroed_memory(self, size: int) -> str:
        """A C pointer to ``size`` bytes of zeroes that nothing writes (a new map slot's
        value): the program's zeroed map."""
        self.out.uses_zeros = True
        self.zeros_needed = max(self.zeros_needed, size)
        return "Z"

    def require(self, declaration: str) -> None:
        """A declaration the program needs once, above its functions (a stack map ...)."""
        self.requires.setdefault(declaration)

    def send_event(self, call: ast.Call, values: list) -> None:
        """Send one event of ``call`` (a function with an ``Event``) carrying ``values``."""
        event = self.resources.event_for(call)
        record = CValue(self.buffer(event.layout_tuple), event.layout_tuple)
        self.line(f"{record.text}->f0 = {event.id};")
        for i, value in enumerate(values, start=1):
            self.store(self.element(record, i), value)
        self.line(f"tracer_emit({record.text}, {event.layout.size});")

    def runtime_warning(self, span, result: str, helper: str) -> None:
        """Tell user space that the BPF helper ``helper`` (its kernel name: map_update_elem ...)
        failed here; ``result`` holds its return value."""
        index = len(self.warnings)
        self.warnings.append((span, helper))
        record_type = TupleType(WARNING_LAYOUT.types)
        record = self.buffer(record_type, zeroed=False)
        # Member by member: a constant initializer would become .rodata, which BCC cannot load.
        self.line(f"{record}->f0 = {WARNING_EVENT_ID}; {record}->f1 = {index}; "
                  f"{record}->f2 = {result};")
        self.line(f"tracer_emit({record}, {WARNING_LAYOUT.size});")

    def copy(self, dst: str, src: str, size: int) -> None:
        if size <= MEMCPY_INLINE_MAX:
            self.line(f"__builtin_memcpy({dst}, {src}, {size});")
        else:
            self.line(f"bpf_probe_read_kernel({dst}, {size}, {src});")

    def expr(self, node: ast.Expr) -> CValue:
        """The value of an expression, read from wherever it is."""
        return self.fetch(self.location(node))

    def location(self, node: ast.Expr) -> CValue:
        """The value of an expression, or for C data not yet read, where it is: what member
        and element access start from (see ``cdata``)."""
        rule = self.expr_rules.get(type(node))
        if rule is None:
            raise AssertionError(f"the code generator has no rule for {type(node).__name__}")
        return rule(node)

    def stmt(self, stmt: ast.Stmt) -> None:
        rule = self.stmt_rules.get(type(stmt))
        if rule is None:
            raise AssertionError(f"the code generator has no rule for {type(stmt).__name__}")
        mark = self.memory.mark()
        self.open_block()
        try:
            rule(stmt)
        finally:
            self.close_block()
            self.memory.release(mark)

    def string_constant(self, data: bytes, capacity: int) -> CValue:
        typ = StringType(capacity)
        buf = self.buffer(typ)
        data = data[:capacity - 1]
        # In pieces that clang turns into immediate stores: a C string literal has no address
        # a BCC program can read from, so it is never copied with a helper.
        for start in range(0, len(data), MEMCPY_INLINE_MAX):
            piece = data[start:start + MEMCPY_INLINE_MAX]
            self.line(f"__builtin_memcpy({buf} + {start}, {c_string_literal(piece)}, "
                      f"{len(piece)});")
        return CValue(buf, typ)

    # -- variables ---------------------------------------------------------------------------

    def variable(self, symbol) -> CValue:
        """A variable: a scalar's lvalue, or a pointer to a buffer's storage."""
        name = f"v{symbol.index}"
        typ = symbol.type
        if self.frame_mode:
            if isinstance(typ, StringType):
                return CValue(f"F->{name}", typ)
            if isinstance(typ, TupleType):
                return CValue(f"(&F->{name})", typ)
            return CValue(f"F->{name}", typ)
        return CValue(name, typ)

    def _declare_variables(self) -> None:
        live = [v for v in self.variables if v.type is not None]
        with self._prologue():
            if self.frame_mode:
                tag = f"{self.site.function_name}_frame"
                types = [v.type for v in live]
                self.frame_declaration = self.ctypes.struct(tag, types,
                                                            [f"v{v.index}" for v in live])
                size = max(struct_layout(types)[1], 1)
                placement = self.memory.place(size, stack_allowed=False)
                self.out.uses_scratch = True
                self.frame_offset = placement.offset
                self.line(f"struct {tag} *F = (struct {tag} *)(S + {placement.offset});")
                self.zero("F", size)  # a variable declared with `let` and no value is 0
                return
            for v in live:
                name = f"v{v.index}"
                if v.type.is_scalar:
                    self.line(f"{c_scalar_type(v.type)} {name} = 0;")
                else:
                    pointer = self.place_buffer(v.type, self.memory.place(v.type.size), True)
                    self.line(f"{self.ctypes.pointer(v.type)}{name} = {pointer};")

    @contextmanager
    def _prologue(self):
        """Lines written inside go to the top of the probe function, before its body."""
        saved = self.out.body
        self.out.body = self.main.prologue
        try:
            yield
        finally:
            self.out.body = saved

    # -- the whole function ------------------------------------------------------------------

    def build(self) -> "BuiltSite":
        self._declare_variables()
        site = self.site
        if site.predicate is not None:
            cond = self.expr(site.predicate)
            self.line(f"if (!({cond.text})) return 0;")
        for stmt in site.body.stmts:
            self.stmt(stmt)
        self.line("return 0;")
        slot = site.index
        main = f"/* {c_comment_safe(site.target.name)} */\n" + self.main.text(slot)
        functions = [main, *(cb.text(slot) for cb in self.callbacks)]
        return BuiltSite(site, functions, [cb.name for cb in self.callbacks],
                         self.frame_declaration, self.memory.scratch_high, self.zeros_needed,
                         list(self.requires))

    # -- loop callbacks ----------------------------------------------------------------------

    def callback(self, kind: str) -> Emitter:
        """A new callback function for a ``for`` loop's body (see ``in_callback``); its index
        is its position among this site's callbacks."""
        name = f"{self.site.function_name}_loop{len(self.callbacks)}"
        # One parameter only: BCC rewrites the parameters of a function with more, as if it
        # were a kprobe. The others arrive in registers, read first thing (see ``entry``).
        emitter = Emitter(name, f"long {name}(u64 tracer_arg1)")
        self.callbacks.append(emitter)
        return emitter

    def callback_address(self, emitter: Emitter) -> str:
        return markers.callback_address(self.callbacks.index(emitter))

    @contextmanager
    def in_callback(self, emitter: Emitter, registers: list[str]):
        """Lines written inside go to the callback. Yields C names holding the callback's
        argument registers (R2, R3 ...); the last one is the loop's link struct."""
        saved = self.out
        self.out = emitter
        names = []
        for i, register in enumerate(registers):
            name = self.fresh("arg")
            c_type = "struct tracer_link *" if i == len(registers) - 1 else "void *"
            emitter.entry.append(f"  {c_type}{name}; asm volatile(\"%0 = {register}\" : "
                                 f"\"=r\"({name}));")
            names.append(name)
        context = self.site.target.provider.context_type
        emitter.prologue.append(f"  {context} *ctx = {names[-1]}->ctx;")
        if self.frame_declaration is not None:
            emitter.uses_scratch = True
            tag = f"{self.site.function_name}_frame"
            emitter.prologue.append(f"  struct {tag} *F = (struct {tag} *)(S + "
                                    f"{self.frame_offset});")
        try:
            yield names
        finally:
            self.out = saved


class BuiltSite:
    """A site's generated C and what the loader and the program need to know about it."""

    def __init__(self, site: ProbeSite, functions: list[str], callbacks: list[str],
                 frame: Optional[str], scratch: int, zeros: int, requires: list[str]):
        self.site = site
        self.functions = functions
        self.callbacks = callbacks
        self.frame = frame
        self.scratch = scratch
        self.zeros = zeros
        self.requires = requires


