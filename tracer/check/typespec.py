"""Types written in the program (casts, ``let $x: T``, ``sizeof(T)``) -> ``tracer.types``."""

from __future__ import annotations

from typing import Optional

from .. import ast
from ..types import ArrayType, BOOL, INT_TYPE_NAMES, PointerType, StringType, Type, VOID

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
        base = ck.catalog.find(spec.name)
        if base is None:
            ck.error(spec.span, f"Cannot resolve unknown type \"{spec.name}\"",
                     hint=_unknown_hint(ck, spec.name))
            return None
    else:
        ck.error(spec.span, f"Cannot resolve unknown type \"{spec.name}\"")
        return None
    if spec.array_given:
        if spec.array is None or spec.array < 1 or base == VOID:
            ck.error(spec.span, "an array type needs a length of at least 1, as in int8[4]")
            return None
        base = ArrayType(base, spec.array)
    for _ in range(spec.pointers):
        base = PointerType(base if base != VOID else None)
    if base == VOID:
        ck.error(spec.span, "void is only a pointer's target (void *)")
        return None
    return base


def _unknown_hint(ck, name: str) -> str:
    if ck.catalog.kernel is None:
        return ("this kernel has no BTF (/sys/kernel/btf/vmlinux), so only the types the "
                "script defines are known")
    return f"neither the script nor the kernel's BTF defines {name}"
