"""The value types of the language, as the checker infers them, and bpftrace's rules for them.

Integers have a width (8 to 64 bits) and a sign; a non-negative integer literal is *flexible*:
it takes the sign of whatever it meets, as in bpftrace 0.26. Every type knows its size and
alignment as C lays it out, because map keys, map values, tuples and events are C structs shared
by the kernel side and user space. A string has a fixed capacity in bytes, NUL included.

``promote`` is bpftrace's rule for the type that can hold two others (a variable assigned twice,
a map written in two places); ``binary_result`` its rule for what an operator yields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional


class Type:
    """A type. Subclasses are frozen dataclasses, so types compare and hash by value."""

    size = 0  # bytes as C lays the value out
    align = 1

    @property
    def is_int(self) -> bool:
        return isinstance(self, IntType)

    @property
    def is_bool(self) -> bool:
        return isinstance(self, BoolType)

    @property
    def is_integral(self) -> bool:
        """An integer or a bool: what arithmetic, conditions and printf's %d accept."""
        return isinstance(self, (IntType, BoolType))

    @property
    def is_string(self) -> bool:
        return isinstance(self, StringType)

    @property
    def is_pointer(self) -> bool:
        return isinstance(self, PointerType)

    @property
    def is_tuple(self) -> bool:
        return isinstance(self, TupleType)

    @property
    def is_scalar(self) -> bool:
        """Held in a register in the generated C (rather than in a buffer in memory)."""
        return isinstance(self, (IntType, BoolType, PointerType))

    @property
    def storable(self) -> bool:
        """Can live in a variable, a map key or value, or a tuple."""
        return isinstance(self, (IntType, BoolType, StringType, PointerType, TupleType,
                                 SymbolicType, StructType, ArrayType))

    @property
    def is_struct(self) -> bool:
        return isinstance(self, StructType)

    @property
    def is_array(self) -> bool:
        return isinstance(self, ArrayType)

    @property
    def is_c_aggregate(self) -> bool:
        """A C struct, union or array: read from memory piece by piece, only as far as used."""
        return isinstance(self, (StructType, ArrayType))

    @property
    def signed(self) -> bool:
        return False


@dataclass(frozen=True)
class IntType(Type):
    bits: int = 64
    is_signed: bool = True
    # A non-negative literal, or a value only ever made of them: it adopts the sign of the
    # other operand (bpftrace's "sign flexible"). Not part of the type's identity.
    flexible: bool = field(default=False, compare=False)

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.bits // 8

    @property
    def align(self) -> int:  # type: ignore[override]
        return self.bits // 8

    @property
    def signed(self) -> bool:  # type: ignore[override]
        return self.is_signed

    @property
    def ctype(self) -> str:
        return f"{'s' if self.is_signed else 'u'}{self.bits}"

    def with_sign(self, signed: bool, flexible: bool = False) -> "IntType":
        return IntType(self.bits, signed, flexible)

    def __str__(self) -> str:
        return f"{'' if self.is_signed else 'u'}int{self.bits}"


@dataclass(frozen=True)
class BoolType(Type):
    size = 1
    align = 1

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class StringType(Type):
    capacity: int = 64

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.capacity

    def __str__(self) -> str:
        return f"string[{self.capacity}]"


@dataclass(frozen=True)
class PointerType(Type):
    """A pointer. ``target`` is what it points to (None: unknown, as for ``void *``); ``user``
    says which address space it points into, which decides the probe-read helper."""

    target: Optional[Type] = None
    user: Optional[bool] = None  # True: user memory, False: kernel, None: unknown
    size = 8
    align = 8

    def __str__(self) -> str:
        return f"{self.target if self.target is not None else 'void'} *"


@dataclass(frozen=True)
class TupleType(Type):
    """A tuple, or a record when its elements have names: `(a=1, b="x")` (bpftrace 0.26)."""

    elements: tuple[Type, ...] = ()
    names: Optional[tuple[str, ...]] = None

    @property
    def is_record(self) -> bool:
        return self.names is not None

    def index_of(self, name: str) -> Optional[int]:
        return self.names.index(name) if self.names and name in self.names else None

    # Worked out once per type: a tuple nested thousands deep would otherwise lay out its
    # inner tuples again at every level.
    @cached_property
    def _layout(self) -> tuple[tuple[int, ...], int]:
        return struct_layout(self.elements)

    @property
    def offsets(self) -> tuple[int, ...]:
        return self._layout[0]

    @property
    def size(self) -> int:  # type: ignore[override]
        return self._layout[1]

    @cached_property
    def align(self) -> int:  # type: ignore[override]
        return max((e.align for e in self.elements), default=1)

    @cached_property
    def _hash(self) -> int:
        return hash((self.elements, self.names))

    def __hash__(self) -> int:  # tuple types key the C declarations; nesting makes hashing deep
        return self._hash

    def __str__(self) -> str:
        if self.names:
            return "record(" + ", ".join(f"{n}={e}" for n, e in zip(self.names, self.elements)) + ")"
        return "(" + ", ".join(str(e) for e in self.elements) + ")"


@dataclass(frozen=True)
class StructRef(Type):
    """A struct, union or enum known only by name: declared but never defined (a forward
    declaration in BTF), so a pointer to one can be kept and compared but not read through."""

    name: str  # "struct task_struct"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class OpaqueType(Type):
    """A C type the language has no values for (a float, a function): it still has a size, so
    the structs holding it lay out right, but it cannot be read."""

    name: str
    size_bytes: int = 0
    align_bytes: int = 1

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.size_bytes

    @property
    def align(self) -> int:  # type: ignore[override]
        return self.align_bytes

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Member:
    """A member of a struct or union. ``offset`` is in bytes from the start of the struct; a
    bitfield also has ``bit_size`` bits starting ``bit_shift`` bits into the byte at
    ``offset`` (little-endian: bit 0 is the byte's lowest bit). An unnamed member (an
    anonymous struct or union inside another) has the name ""."""

    name: str
    type: Type
    offset: int
    bit_size: int = 0
    bit_shift: int = 0

    @property
    def is_bitfield(self) -> bool:
        return self.bit_size != 0


class StructType(Type):
    """A C struct or union, from the kernel's BTF or from a definition in the script.

    Its members are only worked out when first asked for (``members_of`` is called once): a
    kernel struct refers to hundreds of others, and a program reads a handful of them. Two
    struct types are the same type when they have the same kind, name and size; an anonymous
    one is only equal to itself."""

    def __init__(self, kind: str, name: str, size: int, align: int, members_of, origin: str = ""):
        self.kind = kind  # "struct" or "union"
        self.name = name  # "" when anonymous
        self._size, self._align = size, align
        self._members_of = members_of  # () -> Sequence[Member], or a sequence itself
        self._members: Optional[tuple[Member, ...]] = None
        self.origin = origin  # where it was defined, for messages: "BTF", "the script"

    @property
    def size(self) -> int:  # type: ignore[override]
        return self._size

    @property
    def align(self) -> int:  # type: ignore[override]
        return self._align

    @property
    def members(self) -> tuple[Member, ...]:
        if self._members is None:
            source = self._members_of
            self._members = tuple(source() if callable(source) else source)
        return self._members

    def find(self, name: str) -> Optional[Member]:
        """The member called ``name``, looking into unnamed members as C does; its offset is
        from the start of this struct."""
        for member in self.members:
            if member.name == name:
                return member
            if member.name == "" and isinstance(member.type, StructType):
                inner = member.type.find(name)
                if inner is not None:
                    return Member(inner.name, inner.type, member.offset + inner.offset,
                                  inner.bit_size, inner.bit_shift)
        return None

    def member_names(self) -> list[str]:
        """Every name ``find`` knows, unnamed members' own members included."""
        names = []
        for member in self.members:
            if member.name:
                names.append(member.name)
            elif isinstance(member.type, StructType):
                names.extend(member.type.member_names())
        return names

    @property
    def _identity(self):
        return (self.kind, self.name, self._size) if self.name else id(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, StructType) and self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __repr__(self) -> str:
        return f"StructType({self})"

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" if self.name else f"{self.kind} <anonymous>"


@dataclass(frozen=True)
class ArrayType(Type):
    """A C array of ``count`` elements (a char array is a ``StringType`` instead, as bpftrace
    has it)."""

    element: Type
    count: int

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.element.size * self.count

    @property
    def align(self) -> int:  # type: ignore[override]
        return self.element.align

    def __str__(self) -> str:
        return f"{self.element}[{self.count}]"


@dataclass(frozen=True)
class VoidType(Type):
    """What a statement-only function such as printf() yields: no value at all."""

    def __str__(self) -> str:
        return "none"


@dataclass(frozen=True)
class SymbolicType(Type):
    """A value the probe records as raw words and user space turns into something to print: a
    stack's frames, a symbol, a user name, a formatted time, an address. ``kind`` names its
    entry in ``functions.symbolic.RESOLVERS``; ``params`` are compile-time facts (a stack's mode
    and depth, a time format). In C it is a struct of ``words`` 64-bit words."""

    kind: str
    words: int = 1
    params: tuple = ()

    align = 8

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.words * 8

    def __str__(self) -> str:
        return self.kind

    @property
    def printf_kind(self) -> str:
        """What printf's checker takes it for: buf()'s bytes are a buffer (for %r)."""
        return "buffer" if self.kind == "buffer" else "symbolic"


@dataclass(frozen=True)
class AggregateType(Type):
    """The value of an aggregation (``count()``, ``hist(v)`` ...): only ever kept in a map, one
    slot per CPU, merged when read. ``params`` are the call's constant arguments that shape the
    slot (hist's bits, lhist's min, max and step); ``signed`` is the sign of the values folded
    in, which decides how sum, min, max, avg and stats read them back."""

    name: str
    params: tuple = ()
    signed: bool = False

    size = 8
    align = 8

    def __str__(self) -> str:
        return f"{self.name}_t"


@dataclass(frozen=True)
class ArgsType(Type):
    """``args`` in a tracepoint probe: a record whose fields come from the event's format file."""

    event: str

    def __str__(self) -> str:
        return f"args of {self.event}"


def struct_layout(members) -> tuple[tuple[int, ...], int]:
    """C's layout of a struct of these member types: (offsets, size)."""
    offsets, offset, align = [], 0, 1
    for member in members:
        offset = (offset + member.align - 1) // member.align * member.align
        offsets.append(offset)
        offset += member.size
        align = max(align, member.align)
    return tuple(offsets), (offset + align - 1) // align * align


INT8, INT16, INT32, INT64 = (IntType(b, True) for b in (8, 16, 32, 64))
UINT8, UINT16, UINT32, UINT64 = (IntType(b, False) for b in (8, 16, 32, 64))
BOOL = BoolType()
VOID = VoidType()
COUNT = AggregateType("count")
COMM = StringType(16)  # TASK_COMM_LEN
DEFAULT_STRLEN = 1024  # bpftrace 0.26's max_strlen

# The integer type names of the language, and the C spellings scripts use in casts.
INT_TYPE_NAMES = {
    **{f"int{b}": IntType(b, True) for b in (8, 16, 32, 64)},
    **{f"uint{b}": IntType(b, False) for b in (8, 16, 32, 64)},
    **{f"int{b}_t": IntType(b, True) for b in (8, 16, 32, 64)},
    **{f"uint{b}_t": IntType(b, False) for b in (8, 16, 32, 64)},
    **{f"s{b}": IntType(b, True) for b in (8, 16, 32, 64)},
    **{f"u{b}": IntType(b, False) for b in (8, 16, 32, 64)},
    **{f"__s{b}": IntType(b, True) for b in (8, 16, 32, 64)},
    **{f"__u{b}": IntType(b, False) for b in (8, 16, 32, 64)},
    "char": INT8, "short": INT16, "int": INT32, "long": INT64,
    "unsigned char": UINT8, "unsigned short": UINT16, "unsigned int": UINT32,
    "unsigned long": UINT64, "unsigned": UINT32, "signed char": INT8,
    "long long": INT64, "unsigned long long": UINT64,
    "size_t": UINT64, "ssize_t": INT64, "pid_t": INT32, "uid_t": UINT32, "gid_t": UINT32,
}


def literal_type(value: int) -> IntType:
    """The type of a non-negative literal: the smallest signed type that holds it, flexible;
    past int64 it is uint64 (bpftrace 0.26)."""
    for bits in (8, 16, 32, 64):
        if value < 1 << (bits - 1):
            return IntType(bits, True, flexible=True)
    return IntType(64, False)


def signed_literal_type(value: int) -> IntType:
    """The type of a negative literal: the smallest signed type that holds it."""
    for bits in (8, 16, 32, 64):
        if -(1 << (bits - 1)) <= value:
            return IntType(bits, True)
    return INT64


def fits(value: int, typ: IntType) -> bool:
    if typ.is_signed:
        return -(1 << (typ.bits - 1)) <= value < 1 << (typ.bits - 1)
    return 0 <= value < 1 << typ.bits


def promote_int(current: IntType, new: IntType) -> IntType:
    """The integer type that holds values of both (bpftrace's get_promoted_int)."""
    both_flexible = current.flexible and new.flexible
    if current.is_signed != new.is_signed:
        if current.flexible or new.flexible:
            signed = (not current.flexible and current.is_signed) or \
                     (not new.flexible and new.is_signed)
            return IntType(max(current.bits, new.bits), signed, both_flexible)
        if current.is_signed and current.bits > new.bits:
            return IntType(current.bits, True)
        if new.is_signed and new.bits > current.bits:
            return IntType(new.bits, True)
        bits = max(current.bits, new.bits) * 2
        return INT64 if bits > 64 else IntType(bits, True)
    return IntType(max(current.bits, new.bits), current.is_signed, both_flexible)


def promote(current: Optional[Type], new: Type) -> Optional[Type]:
    """The type a variable, map key or map value takes when it holds ``current`` and is now
    given ``new``; None when the two cannot share a slot."""
    if current is None:
        return new
    if isinstance(current, IntType) and isinstance(new, IntType):
        return promote_int(current, new)
    if isinstance(current, StringType) and isinstance(new, StringType):
        return StringType(max(current.capacity, new.capacity))
    if isinstance(current, TupleType) and isinstance(new, TupleType):
        if len(current.elements) != len(new.elements) or current.is_record != new.is_record:
            return None
        if current.is_record:
            # Fields match by name; the first order seen is kept.
            if set(current.names) != set(new.names):
                return None
            pairs = [(t, new.elements[new.names.index(n)])
                     for n, t in zip(current.names, current.elements)]
        else:
            pairs = list(zip(current.elements, new.elements))
        merged = [promote(a, b) for a, b in pairs]
        return None if None in merged else TupleType(tuple(merged), current.names)
    if isinstance(current, PointerType) and isinstance(new, PointerType):
        if current.target is None or new.target is None or current.target == new.target:
            return current if current.target is not None else new
        return None
    if type(current) is type(new) and current == new:
        return current
    return None


ARITHMETIC_OPS = frozenset({"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"})
COMPARISON_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
LOGICAL_OPS = frozenset({"&&", "||"})


def settle_signs(left: IntType, right: IntType) -> tuple[IntType, IntType]:
    """A flexible side adopts the other side's sign."""
    if left.flexible and not right.flexible:
        left = left.with_sign(right.is_signed)
    elif right.flexible and not left.flexible:
        right = right.with_sign(left.is_signed)
    return left, right


def arithmetic_result(op: str, left: Type, right: Type) -> IntType:
    """bpftrace 0.26: arithmetic is done in 64 bits, signed if either side is (after flexible
    sides adopt the other's sign), and always signed for subtraction. A shift keeps the left
    side's sign."""
    lt = left if isinstance(left, IntType) else UINT8
    rt = right if isinstance(right, IntType) else UINT8
    lt, rt = settle_signs(lt, rt)
    if op in ("<<", ">>"):
        signed = lt.is_signed
    else:
        signed = lt.is_signed or rt.is_signed or op == "-"
    flexible = lt.flexible and rt.flexible and op != "-"
    return IntType(64, signed, flexible)


def comparison_signed(left: Type, right: Type) -> bool:
    """Whether two integers compare as signed: they are converted to the type that holds both."""
    lt = left if isinstance(left, IntType) else UINT8
    rt = right if isinstance(right, IntType) else UINT8
    lt, rt = settle_signs(lt, rt)
    return promote_int(lt, rt).is_signed
