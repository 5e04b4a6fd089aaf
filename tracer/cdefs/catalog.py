"""Where the C types and constants a program names come from.

A name is looked up in the program's own C first (struct definitions, enums and ``#define``s in
the script, macro constants of its ``#include``s), then in the running kernel's BTF. The kernel's
types are read only when a program names one, and only as far as it names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Mapping, Optional

from ..types import PointerType, Type, literal_type, signed_literal_type


def _kernel_types():
    from .btf_types import kernel_types
    return kernel_types()


@dataclass
class TypeCatalog:
    # The script's own definitions: "struct foo", "enum bar", typedef names -> types.
    types: Mapping[str, Type] = field(default_factory=dict)
    # Integer constants the script defines (its enums) or includes (macro constants).
    constants: Mapping[str, int] = field(default_factory=dict)
    # Why a constant the program's #includes should give may be missing (headers not
    # installed, no C preprocessor), for the message about an unknown name; None: no gap.
    headers_note: Optional[str] = None
    # The kernel's types: () -> BtfTypes or None. Called at most once, when first needed.
    kernel_source: Callable = _kernel_types

    @cached_property
    def kernel(self):
        """The kernel's BTF types, or None where the kernel has no BTF."""
        return self.kernel_source()

    def find(self, name: str) -> Optional[Type]:
        """The type called ``name`` ("struct task_struct", "enum pid_type", "u64")."""
        found = self.types.get(name)
        if found is None and self.kernel is not None:
            found = self.kernel.find(name)
        return found

    def constant(self, name: str) -> Optional[tuple[int, Type]]:
        """The value and type of an integer constant: an enumerator or a macro."""
        if name in self.constants:
            value = self.constants[name]
            return value, literal_type(value) if value >= 0 else signed_literal_type(value)
        if self.kernel is not None:
            return self.kernel.enum_constant(name)
        return None


def kernel_pointer(pointee: str, user: Optional[bool] = False) -> Optional[Type]:
    """A pointer to a kernel struct or union named as C writes it ("const struct file"), as
    a typed pointer when the kernel's BTF defines it (so that its members can be read), else
    None."""
    words = [w for w in pointee.replace("*", " ").split() if w not in ("const", "volatile")]
    if len(words) != 2 or words[0] not in ("struct", "union") or pointee.count("*"):
        return None
    kernel = _kernel_types()
    found = kernel.find(" ".join(words)) if kernel is not None else None
    return PointerType(found, user) if found is not None else None
