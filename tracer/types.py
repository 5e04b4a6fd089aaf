"""The value types of the language, as the semantic pass infers them.

Every integer is carried as 64 bits in the generated C (as bpftrace does); ``signed`` decides
comparisons, printing and sorting. A string has a fixed capacity in bytes, NUL included, because
it lives in a fixed-size C array on the BPF stack, in a map or in an event.
"""

from __future__ import annotations

from dataclasses import dataclass


class Type:
    size = 0  # bytes in a map key, map value or event

    @property
    def is_int(self) -> bool:
        return isinstance(self, IntType)

    @property
    def is_string(self) -> bool:
        return isinstance(self, StringType)

    @property
    def is_scalar(self) -> bool:
        """Held in a register in the generated C (rather than in a buffer in memory)."""
        return isinstance(self, (IntType, CountType))

    @property
    def signed(self) -> bool:
        return False


@dataclass(frozen=True)
class IntType(Type):
    signed: bool = True  # type: ignore[assignment]
    size = 8

    @property
    def ctype(self) -> str:
        return "s64" if self.signed else "u64"

    def __str__(self) -> str:
        return "int64" if self.signed else "uint64"


@dataclass(frozen=True)
class StringType(Type):
    capacity: int = 64

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.capacity

    def __str__(self) -> str:
        return f"string[{self.capacity}]"


@dataclass(frozen=True)
class VoidType(Type):
    def __str__(self) -> str:
        return "none"


@dataclass(frozen=True)
class CountType(Type):
    """The value of ``count()``: only ever stored into a map, summed across CPUs when read."""

    size = 8

    def __str__(self) -> str:
        return "count"


@dataclass(frozen=True)
class ArgsType(Type):
    """``args`` in a tracepoint probe: a record whose fields come from the event's format file."""

    event: str

    def __str__(self) -> str:
        return f"args of {self.event}"


INT64 = IntType(signed=True)
UINT64 = IntType(signed=False)
VOID = VoidType()
COUNT = CountType()
COMM = StringType(16)  # TASK_COMM_LEN
DEFAULT_STRING = StringType(64)  # bpftrace's default string size (BPFTRACE_STRLEN)
