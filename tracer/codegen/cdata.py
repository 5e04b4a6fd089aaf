"""Reading C data: struct members, array elements and what pointers point to.

A struct or an array the program reaches through a pointer stays where it is: its value is a
*remote* ``CValue``, the address of its first byte and the memory it is in. A member or an
element of it is again remote, at an offset the checker took from BTF or from the script's
definitions, so ``curtask->real_parent->tgid`` reads two pointers and one integer, never a
whole ``task_struct``. Only a value used as a whole (printed, stored, compared) is fetched, with
the probe-read helper of its address space. A struct already in the program's memory (a
variable holding one) is read in place.
"""

from __future__ import annotations

from ..types import Member, Type
from .values import CValue, c_scalar_type

# The helper that reads each address space; "any" is for addresses of unknown origin, which
# the kernel's generic helper reads as kernel, then user memory.
READ_HELPERS = {"kernel": "bpf_probe_read_kernel", "user": "bpf_probe_read_user",
                "any": "bpf_probe_read"}


def address_space(user) -> str:
    """Where a pointer points, from ``PointerType.user``."""
    return {True: "user", False: "kernel"}.get(user, "any")


class CDataGen:
    """Mixed into ``FunctionBuilder``."""

    def fetch(self, value: CValue) -> CValue:
        """A remote value, read: into a temporary (a scalar) or a buffer (anything else).
        The helpers zero what they could not read, so a bad address reads as zeros."""
        if not value.remote:
            return value
        typ = value.type
        helper = READ_HELPERS[value.remote]
        if typ.is_scalar:
            result = self.temp(f"{c_scalar_type(typ)} {{}} = 0")
            self.line(f"{helper}(&{result}, {typ.size}, (void *)({value.text}));")
            return CValue(result, typ)
        if typ.is_string:
            # A char array: read as a string, so that the buffer is clean after the NUL (what
            # follows it in the kernel's array may be anything, and map keys compare bytes).
            buf = self.buffer(typ)
            self.line(f"{helper}_str({buf}, {typ.size}, (void *)({value.text}));")
            return CValue(buf, typ)
        buf = self.buffer(typ, zeroed=False)
        self.line(f"{helper}({buf}, {typ.size}, (void *)({value.text}));")
        return CValue(buf, typ)

    def pointee(self, pointer: CValue, typ: Type, index: str = "0") -> CValue:
        """``*p`` or ``p[i]``, not yet read."""
        space = address_space(pointer.type.user) if pointer.type.is_pointer else "any"
        address = f"({pointer.as_u64} + ({index}) * {typ.size})"
        return CValue(address, typ, space)

    def member(self, base: CValue, member: Member, typ: Type) -> CValue:
        """A member of a struct value: remote if the struct is, read if it is a scalar."""
        if base.remote:
            located = CValue(f"({base.text} + {member.offset})", typ, base.remote)
            if member.is_bitfield:
                return self._bitfield(located, member, typ)
            return located if not typ.is_scalar else self.fetch(located)
        address = f"((u8 *)({base.text}) + {member.offset})"
        if member.is_bitfield:
            word = self.temp("u64 {} = 0")
            self.line(f"__builtin_memcpy(&{word}, {address}, {_bitfield_bytes(member)});")
            return self._bits(word, member, typ)
        return self._in_place(address, typ)

    def array_element(self, base: CValue, index: CValue) -> CValue:
        """An element of an array value (the checker made sure it is an array)."""
        typ = base.type.element
        if base.remote:
            located = CValue(f"({base.text} + {index.as_u64} * {typ.size})", typ, base.remote)
            return located if not typ.is_scalar else self.fetch(located)
        # An array in the program's own memory: an index past its end reads 0, which also
        # shows the verifier every access is in bounds.
        count = base.type.count
        result = self.temp(f"{c_scalar_type(typ)} {{}} = 0") if typ.is_scalar else \
            self.buffer(typ)
        position = self.scalar(index.as_u64, index.type)
        self.open_block(f"if ({position.as_u64} < {count}) {{")
        address = f"((u8 *)({base.text}) + {position.as_u64} * {typ.size})"
        if typ.is_scalar:
            self.line(f"__builtin_memcpy(&{result}, {address}, {typ.size});")
        else:
            self.copy(result, address, typ.size)
        self.close_block()
        return CValue(result, typ)

    def _in_place(self, address: str, typ: Type) -> CValue:
        if typ.is_scalar:
            value = self.temp(f"{c_scalar_type(typ)} {{}} = 0")
            self.line(f"__builtin_memcpy(&{value}, {address}, {typ.size});")
            return CValue(value, typ)
        return CValue(f"(({self.ctypes.pointer(typ)})({address}))", typ)

    def _bitfield(self, located: CValue, member: Member, typ: Type) -> CValue:
        word = self.temp("u64 {} = 0")
        self.line(f"{READ_HELPERS[located.remote]}(&{word}, {_bitfield_bytes(member)}, "
                  f"(void *)({located.text}));")
        return self._bits(word, member, typ)

    def _bits(self, word: str, member: Member, typ: Type) -> CValue:
        """The bitfield's value out of the little-endian word that holds it."""
        if typ.signed:
            left = 64 - member.bit_shift - member.bit_size
            text = f"(((s64)({word} << {left})) >> {64 - member.bit_size})"
        else:
            text = f"(({word} >> {member.bit_shift}) & {hex((1 << member.bit_size) - 1)}ULL)"
        return self.scalar(text, typ)


def _bitfield_bytes(member: Member) -> int:
    return (member.bit_shift + member.bit_size + 7) // 8
