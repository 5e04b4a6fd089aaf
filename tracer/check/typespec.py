"""Types written in the program (casts, ``let $x: T``, ``sizeof(T)``) -> ``tracer.types``."""

from __future__ import annotations

from typing import Optional

from .. import ast
from ..types import BOOL, INT_TYPE_NAMES, PointerType, StringType, StructRef, Type, VOID

STRUCT_KEYWORDS = ("struct ", "union ", "enum ")


def resolve_type_spec(ck, spec: ast.TypeSpec) -> Optional[Type]:
    """The type ``spec`` names, or None (reported) when tracer cannot give it one."""
    base: Optional[Type]
    if spec.name in INT_TYPE_NAMES:
        base = INT_TYPE_NAMES[spec.name]
    elif spec.name == "bool":
        base = BOOL
    elif spec.name == "void":
        base = VOID
    elif spec.name == "string":
        if spec.pointers:
            ck.error(spec.span, "a pointer to a string is written as a pointer to int8 "
                                "(int8 *); str() reads the string it points to")
            return None
        capacity = spec.array if spec.array is not None else ck.config.max_strlen
        if capacity < 1:
            ck.error(spec.span, "a string type needs a capacity of at least 1")
            return None
        return StringType(capacity)
    elif spec.name.startswith(STRUCT_KEYWORDS):
        base = StructRef(spec.name)
    else:
        ck.error(spec.span, f"Cannot resolve unknown type \"{spec.name}\"")
        return None
    if spec.array_given:
        ck.error(spec.span, f"array types ({spec.name}[...]) are not supported yet",
                 hint="arrays come with kernel types (BTF); strings are string[N]")
        return None
    for _ in range(spec.pointers):
        base = PointerType(base if base != VOID else None)
    if isinstance(base, StructRef):
        ck.error(spec.span, f"{base} is a kernel type; tracer cannot read kernel types yet",
                 hint="casting to a pointer (struct ... *) works; reading fields needs BTF "
                      "support, which is not here yet")
        return None
    if base == VOID:
        ck.error(spec.span, "void is only a pointer's target (void *)")
        return None
    return base
