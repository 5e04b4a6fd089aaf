"""C type definitions as scripts write them: ``struct``/``union``/``enum`` definitions and
``typedef``s, turned into the language's types (``tracer.types``).

What a member may be: the integer types in any of their C spellings (``unsigned long long``,
``u32``, ``__s16``, ``uint8_t``, ``size_t``), ``bool``/``_Bool``, pointers, arrays (several
dimensions, lengths that are constant expressions, macros included), bitfields, function
pointers (opaque 8-byte pointers), structs, unions and enums defined earlier in the script,
nested in place or anonymous, and any type the script does not define that ``resolve`` knows
(the kernel's, from BTF). As in bpftrace, an array of plain ``char`` is a string; an array of
``signed char``, ``unsigned char`` or ``u8`` stays an array of integers.

A struct may point to itself or to one defined later: pointers are sized before their target is
known, and the target is filled in once every definition has been read. Only a struct used by
value must be complete where it is used, as in C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional

from ..diagnostics import CompileError, Span
from ..types import (BOOL, INT_TYPE_NAMES, ArrayType, IntType, Member, OpaqueType,
                     PointerType, StructRef, StructType, Type)
from .cexpr import evaluate
from .clayout import FieldDecl, lay_out
from .ctokens import IDENT, PUNCT, Token, tokenize
from .macros import expand, table
from .cbase import INT_WORDS, QUALIFIERS, VOID, Pending, base_type, is_integral, make_array

Resolve = Callable[[str], Optional[Type]]
ORIGIN = "the script"
_FUNCTION = OpaqueType("function", 1, 1)


@dataclass
class Definitions:
    types: dict[str, Type] = field(default_factory=dict)  # "struct foo", "enum e", "u_int" ...
    constants: dict[str, int] = field(default_factory=dict)  # enumerators


def parse_definitions(pieces: Iterable[tuple[str, Span]],
                      macros: Mapping[str, object] = {},
                      resolve: Optional[Resolve] = None) -> Definitions:
    """The types and enum constants that ``pieces`` (C text and where it starts in the user's
    file, as ``preprocess`` gives them) define. ``macros`` apply to their text (a macro used
    as an array length); ``resolve`` gives the types they name but do not define. Raises a
    located CompileError for a type it does not know or text that is not a definition."""
    parser = _Parser(table(macros), resolve or (lambda name: None))
    for text, span in pieces:
        tokens = tokenize(text, span.line, span.col)
        parser.run(expand(tokens, parser.macros), span)
    return parser.result()


class _Parser:
    def __init__(self, macros, resolve: Resolve):
        self.macros, self.resolve = macros, resolve
        self.types: dict[str, Type] = {}  # complete script types and typedefs
        self.declared: set[str] = set()  # tags a top-level `struct foo;` declares
        self.defining: set[str] = set()  # tags whose body is being read
        self.nesting = 0  # struct bodies open
        self.constants: dict[str, int] = {}
        self._resolved: dict[str, Optional[Type]] = {}
        self.tokens: list[Token] = []
        self.pos = 0
        self.end_span = Span(1, 1, 1, 2)

    # -- the result ---------------------------------------------------------------------------

    def result(self) -> Definitions:
        types = {name: self.finish(t) for name, t in self.types.items()}
        for tag in self.declared:
            if tag not in types:
                types[tag] = self.finish(Pending(tag))
        return Definitions(types, dict(self.constants))

    def finish(self, typ: Optional[Type]) -> Optional[Type]:
        """A type with every struct it points to filled in."""
        if isinstance(typ, Pending):
            found = self.types.get(typ.name)
            if found is None:
                found = self.lookup_outside(typ.name) or StructRef(typ.name)
            return found
        if isinstance(typ, PointerType) and typ.target is not None:
            return PointerType(self.finish(typ.target), typ.user)
        if isinstance(typ, ArrayType):
            return ArrayType(self.finish(typ.element), typ.count)
        return typ

    def lookup_outside(self, name: str) -> Optional[Type]:
        if name not in self._resolved:
            self._resolved[name] = self.resolve(name)
        return self._resolved[name]

    # -- tokens -------------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Optional[Token]:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def at(self, text: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok is not None and tok.text == text and tok.kind in (PUNCT, IDENT)

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise CompileError.at(self.end_span, "unexpected end of the definition")
        self.pos += 1
        return tok

    def expect(self, text: str) -> Token:
        tok = self.peek()
        if tok is None or tok.text != text:
            where = tok.span if tok is not None else self.end_span
            found = f"'{tok.text}'" if tok is not None else "the end of the definition"
            raise CompileError.at(where, f"expected '{text}', found {found}")
        self.pos += 1
        return tok

    def until(self, stops: tuple[str, ...]) -> list[Token]:
        """The tokens up to (not including) one of ``stops`` outside parentheses."""
        out, depth = [], 0
        while (tok := self.peek()) is not None:
            if tok.kind == PUNCT:
                if depth == 0 and tok.text in stops:
                    break
                depth += tok.text in "([{"
                depth -= tok.text in ")]}"
            out.append(tok)
            self.pos += 1
        return out

    def constant(self, tokens: list[Token], where: Token) -> int:
        return evaluate(tokens, where.span, self.enumerator, casts=True)

    def enumerator(self, tok: Token) -> Optional[int]:
        return self.constants.get(tok.text)

    # -- declarations -------------------------------------------------------------------------

    def run(self, tokens: list[Token], span: Span) -> None:
        self.tokens, self.pos = tokens, 0
        self.end_span = Span(span.end_line, max(span.end_col - 1, 1), span.end_line,
                             max(span.end_col, 2))
        while self.peek() is not None:
            if self.at(";"):
                self.pos += 1
                continue
            self.declaration()

    def declaration(self) -> None:
        first = self.peek()
        if first.text == "typedef":
            self.pos += 1
            base, _ = self.specifiers()
            while True:
                name, typ = self.declarator(base)
                if name is None:
                    raise CompileError.at(self.here(), "expected a name for the typedef")
                old = self.types.get(name.text)
                if old is not None and old != typ:
                    raise CompileError.at(name.span, f"typedef '{name.text}' redefined as "
                                                     "another type")
                self.types[name.text] = typ
                if not self.at(","):
                    break
                self.pos += 1
        else:
            base, _ = self.specifiers()
            if not self.at(";") and self.peek() is not None:
                raise CompileError.at(self.peek().span, "only types can be defined here "
                                                        "(struct, union, enum or typedef)")
        if self.peek() is not None:
            self.expect(";")

    def here(self) -> Span:
        tok = self.peek()
        return tok.span if tok is not None else self.end_span

    def specifiers(self) -> tuple[Type, dict]:
        """Type specifiers and qualifiers: the base type of the declarators that follow."""
        words: list[Token] = []
        base: Optional[Type] = None
        attrs: dict = {}
        start = self.peek()
        while (tok := self.peek()) is not None and tok.kind == IDENT:
            word = tok.text
            if word in QUALIFIERS:
                self.pos += 1
            elif word in ("__attribute__", "__attribute", "__packed", "__aligned"):
                attrs.update(self.attributes())
            elif word in INT_WORDS:
                words.append(tok)
                self.pos += 1
            elif word in ("struct", "union") and base is None and not words:
                base = self.struct_spec()
            elif word == "enum" and base is None and not words:
                base = self.enum_spec()
            elif base is None and not words:
                base = self.type_name(tok)
                self.pos += 1
            else:
                break
        if base is not None:
            if words:
                raise CompileError.at(words[0].span, f"'{words[0].text}' cannot be combined "
                                                     f"with '{base}'")
            return base, attrs
        if not words:
            raise CompileError.at(start.span if start is not None else self.end_span,
                                  f"expected a type, found '{start.text}'" if start is not None
                                  else "expected a type")
        return base_type(words), attrs

    def type_name(self, tok: Token) -> Type:
        name = tok.text
        if name in self.types:
            return self.types[name]
        named = INT_TYPE_NAMES.get(name)
        if named is None and name == "bool":
            named = BOOL
        if named is None:
            named = self.lookup_outside(name)
        if named is None:
            raise CompileError.at(tok.span, f"unknown type name '{name}'")
        return named

    def attributes(self) -> dict:
        """``__attribute__((packed, aligned(8)))``, and the kernel's ``__packed`` and
        ``__aligned(N)``: what they say about layout."""
        tok = self.next()
        if tok.text == "__packed":
            return {"packed": True}
        if tok.text == "__aligned":
            self.expect("(")
            value = self.constant(self.until((")",)), tok)
            self.expect(")")
            return {"aligned": value}
        self.expect("(")
        self.expect("(")
        attrs: dict = {}
        while not self.at(")"):
            item = self.next()
            word = item.text.strip("_")
            args: list[Token] = []
            if self.at("("):
                self.pos += 1
                args = self.until((")",))
                self.expect(")")
            if word == "packed":
                attrs["packed"] = True
            elif word == "aligned":
                attrs["aligned"] = self.constant(args, item) if args else 16
            if self.at(","):
                self.pos += 1
        self.expect(")")
        self.expect(")")
        return attrs

    # -- struct, union, enum ------------------------------------------------------------------

    def struct_spec(self) -> Type:
        kind_tok = self.next()
        kind = kind_tok.text
        attrs = self.attributes() if self.at("__attribute__") else {}
        name_tok = self.next() if self.peek() is not None and self.peek().kind == IDENT \
            else None
        tag = f"{kind} {name_tok.text}" if name_tok is not None else ""
        if not self.at("{"):
            if name_tok is None:
                raise CompileError.at(self.here(), f"expected a name or '{{' after '{kind}'")
            return self.tag_type(tag)
        if tag and (isinstance(self.types.get(tag), StructType) or tag in self.defining):
            raise CompileError.at(name_tok.span, f"redefinition of '{tag}'")
        self.defining.add(tag)
        self.nesting += 1
        self.expect("{")
        fields = self.members()
        self.expect("}")
        self.nesting -= 1
        self.defining.discard(tag)
        while self.at("__attribute__") or self.at("__packed") or self.at("__aligned"):
            attrs.update(self.attributes())
        layout = lay_out(kind, fields, attrs.get("packed", False), attrs.get("aligned"))
        members = [(n, t, off, bits, shift) for n, t, off, bits, shift in layout.members]

        def members_of(members=members):
            return [Member(n, self.finish(t), off, bits, shift)
                    for n, t, off, bits, shift in members]
        struct = StructType(kind, name_tok.text if name_tok is not None else "", layout.size,
                            layout.align, members_of, origin=ORIGIN)
        if tag:
            self.types[tag] = struct
        return struct

    def tag_type(self, tag: str) -> Type:
        """``struct foo`` named without a body: the script's if it is defined by now, else
        pending, settled when it is used by value or once everything is read (a later
        definition in the script, else the kernel's)."""
        found = self.types.get(tag)
        if found is not None:
            return found
        if self.nesting == 0 and self.at(";"):
            self.declared.add(tag)  # `struct foo;`
        return Pending(tag)

    def members(self) -> list[FieldDecl]:
        fields: list[FieldDecl] = []
        names: set[str] = set()
        while self.peek() is not None and not self.at("}"):
            if self.at(";"):
                self.pos += 1
                continue
            start = self.peek()
            base, attrs = self.specifiers()
            if self.at(";"):
                if isinstance(base, StructType) and not base.name:
                    fields.append(FieldDecl("", base, start.span))  # anonymous member
                self.pos += 1
                continue
            while True:
                fields.append(self.member(base, attrs, names))
                if not self.at(","):
                    break
                self.pos += 1
            self.expect(";")
        return fields

    def member(self, base: Type, attrs: dict, names: set[str]) -> FieldDecl:
        start = self.peek()
        name, typ = (None, base) if self.at(":") else self.declarator(base)
        bits = None
        if self.at(":"):
            colon = self.next()
            bits = self.constant(self.until((",", ";", "__attribute__")), colon)
            self.check_bitfield(name, typ, bits, colon)
        attrs = dict(attrs)
        while self.at("__attribute__") or self.at("__packed") or self.at("__aligned"):
            attrs.update(self.attributes())
        where = name or start
        if name is None and bits is None:
            raise CompileError.at(where.span, "expected a member name")
        typ = self.complete(typ, where)
        if name is not None:
            if name.text in names:
                raise CompileError.at(name.span, f"duplicate member '{name.text}'")
            names.add(name.text)
        return FieldDecl(name.text if name is not None else "", typ, where.span, bits,
                         attrs.get("aligned"), attrs.get("packed", False))

    def check_bitfield(self, name: Optional[Token], typ: Type, bits: int, at: Token) -> None:
        what = f"bit-field '{name.text}'" if name is not None else "bit-field"
        if not is_integral(typ):
            raise CompileError.at(at.span, f"{what} has type '{typ}': it must be an integer")
        if bits < 0 or bits > typ.size * 8:
            raise CompileError.at(at.span, f"width of {what} ({bits} bits) does not fit its "
                                           f"type ({typ.size * 8} bits)")
        if bits == 0 and name is not None:
            raise CompileError.at(name.span, f"{what} has zero width")

    def complete(self, typ: Type, where: Token) -> Type:
        """A member's type, which C wants complete: a struct it holds by value must be defined
        by now, in the script or outside it."""
        if isinstance(typ, ArrayType):
            return ArrayType(self.complete(typ.element, where), typ.count)
        if isinstance(typ, Pending):
            found = self.types.get(typ.name)
            if found is None and typ.name not in self.defining:
                found = self.lookup_outside(typ.name)
            if found is None or isinstance(found, StructRef):
                raise CompileError.at(where.span, f"member '{where.text}' has incomplete type "
                                                  f"'{typ.name}'",
                                      hint=f"define {typ.name} before it is used by value")
            return found
        if typ is VOID or typ is _FUNCTION:
            raise CompileError.at(where.span, f"member '{where.text}' cannot have type '{typ}'")
        return typ

    def enum_spec(self) -> Type:
        self.next()
        name_tok = self.next() if self.peek() is not None and self.peek().kind == IDENT \
            else None
        tag = f"enum {name_tok.text}" if name_tok is not None else ""
        if not self.at("{"):
            if name_tok is None:
                raise CompileError.at(self.here(), "expected a name or '{' after 'enum'")
            return self.tag_type(tag)
        if tag and tag in self.types:
            raise CompileError.at(name_tok.span, f"redefinition of '{tag}'")
        self.expect("{")
        value, values = 0, []
        while not self.at("}"):
            ident = self.next()
            if ident.kind != IDENT:
                raise CompileError.at(ident.span, f"expected an enumerator, found "
                                                  f"'{ident.text}'")
            if self.at("="):
                equals = self.next()
                value = self.constant(self.until((",", "}")), equals)
            if ident.text in self.constants:
                raise CompileError.at(ident.span, f"redefinition of enumerator '{ident.text}'")
            self.constants[ident.text] = value
            values.append(value)
            value += 1
            if not self.at(","):
                break
            self.pos += 1
        self.expect("}")
        while self.at("__attribute__"):
            self.attributes()
        # gcc: unsigned int unless a value is negative; 64 bits when 32 do not hold them all.
        signed = any(v < 0 for v in values)
        low, high = (-(1 << 31), (1 << 31) - 1) if signed else (0, (1 << 32) - 1)
        bits = 32 if all(low <= v <= high for v in values) else 64
        enum = IntType(bits, signed)
        if tag:
            self.types[tag] = enum
        return enum

    # -- declarators --------------------------------------------------------------------------

    def declarator(self, base: Type) -> tuple[Optional[Token], Type]:
        """``*name[2][3]``, ``(*fn)(int)``: the declared name (None if abstract) and type."""
        while self.at("*"):
            self.pos += 1
            while self.peek() is not None and self.peek().text in QUALIFIERS:
                self.pos += 1
            base = PointerType(None if base is VOID else base)
        if self.at("(") and self.peek(1) is not None and self.peek(1).text in ("*", "(", "^"):
            # A declarator in parentheses: what follows it applies first. `(*f)(int)` is a
            # pointer to a function, `(*a)[3]` a pointer to an array.
            self.pos += 1
            inner = self.pos
            self.until((")",))
            self.expect(")")
            outer = self.suffixes(base)
            after = self.pos
            self.pos = inner
            name, typ = self.declarator(outer)
            self.expect(")")
            self.pos = after
            return name, typ
        name = None
        if self.peek() is not None and self.peek().kind == IDENT and \
                self.peek().text not in ("__attribute__", "__packed", "__aligned"):
            name = self.next()
        return name, self.suffixes(base)

    def suffixes(self, base: Type) -> Type:
        lengths: list[int] = []
        function = False
        while True:
            if self.at("["):
                bracket = self.next()
                tokens = self.until(("]",))
                self.expect("]")
                lengths.append(self.constant(tokens, bracket) if tokens else 0)
                if lengths[-1] < 0:
                    raise CompileError.at(bracket.span, "array length is negative")
            elif self.at("("):
                self.next()
                self.until((")",))  # the parameters: a function is opaque
                self.expect(")")
                function = True
            else:
                break
        if function:
            return _FUNCTION
        for length in reversed(lengths):
            if base is VOID:
                raise CompileError.at(self.here(), "array of void")
            base = make_array(base, length)
        return base
