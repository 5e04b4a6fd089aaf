"""C's base types as the language has them: which words make a type (``unsigned long long``,
``short int``, ``_Bool``), the type they make, and the few types C has that the language does
not (floats, ``void``, a struct named before it is defined)."""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import CompileError
from ..types import BOOL, ArrayType, BoolType, IntType, OpaqueType, StringType, Type

# Plain `char`, kept apart from `signed char` (equal as a value, told apart by identity):
# bpftrace reads an array of plain char as a string, any other array as an array.
CHAR = IntType(8, True)
VOID = OpaqueType("void", 0, 1)

INT_WORDS = frozenset({"signed", "__signed", "__signed__", "unsigned", "char", "short", "int",
                       "long", "_Bool", "void", "float", "double", "__int128"})
# Words that say nothing about layout: qualifiers, storage classes, the kernel's annotations.
QUALIFIERS = frozenset({
    "const", "volatile", "restrict", "__restrict", "__restrict__", "__volatile__", "__const",
    "__const__", "static", "extern", "register", "inline", "__inline", "__inline__",
    "__extension__", "_Atomic", "__user", "__kernel", "__iomem", "__rcu", "__percpu",
    "__force", "__randomize_layout", "__private",
})

# (base word, number of `long`s) -> the type; the sign words are applied after.
_BASES: dict[tuple[str, int], Type] = {
    ("char", 0): CHAR, ("short", 0): IntType(16, True), ("int", 0): IntType(32, True),
    ("int", 1): IntType(64, True), ("int", 2): IntType(64, True),
    ("_Bool", 0): BOOL, ("void", 0): VOID,
    ("float", 0): OpaqueType("float", 4, 4), ("double", 0): OpaqueType("double", 8, 8),
    ("double", 1): OpaqueType("long double", 16, 16),
    ("__int128", 0): OpaqueType("__int128", 16, 16),
}
_SIGNED = {"signed": True, "__signed": True, "__signed__": True, "unsigned": False}


@dataclass(frozen=True)
class Pending(Type):
    """A struct, union or enum named before the script defines it (or not at all): only ever
    behind a pointer, and replaced once every definition has been read."""

    name: str
    size = 0
    align = 1

    def __str__(self) -> str:
        return self.name


def base_type(words: list) -> Type:
    """The type C's specifier words make (``words``: their tokens, in the order written)."""
    sign, base, longs, has_int = None, None, 0, False
    for tok in words:
        word = tok.text
        if word in _SIGNED:
            if sign is not None:
                raise CompileError.at(tok.span, f"'{word}' given twice")
            sign = _SIGNED[word]
        elif word == "long":
            longs += 1
        elif word == "int":
            has_int = True
        elif base is not None:
            raise CompileError.at(tok.span, f"'{word}' cannot be combined with '{base}'")
        else:
            base = word
    if has_int and base not in (None, "short"):
        raise CompileError.at(words[0].span, f"'int' cannot be combined with '{base}'")
    typ = _BASES.get((base or "int", longs))
    if typ is None or (longs and base == "short"):
        raise CompileError.at(words[0].span, "not a C type: " +
                              " ".join(tok.text for tok in words))
    if sign is None:
        return typ
    if not isinstance(typ, IntType):
        raise CompileError.at(words[0].span, f"'{typ}' cannot be signed or unsigned")
    return IntType(typ.bits, sign)


def make_array(element: Type, length: int) -> Type:
    if element is CHAR and length > 0:
        return StringType(length)
    return ArrayType(element, length)


def is_integral(typ: Type) -> bool:
    return isinstance(typ, (IntType, BoolType))
