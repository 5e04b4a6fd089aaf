"""The code generator's map operations: keys, reads, updates, and aggregations' slots.

A plain map holds one value per key. An aggregation's map holds a slot of 64-bit words per key
and per CPU; its entry in ``functions.aggregations`` writes the C that folds a value into the
slot and the C that merges the CPUs' slots when a probe reads the value. A slot is created from
zeroed memory the first time a key is seen on a CPU. An update the kernel refuses because the
map is full is reported to user space, located at the statement, never dropped silently.
"""

from __future__ import annotations

from .. import ast
from ..machine import possible_cpus
from ..types import INT64, UINT64
from . import markers
from .values import CValue

EEXIST = 17


class MapGen:
    """Mixed into ``FunctionBuilder``."""

    def map_key(self, m, ref: ast.MapRef) -> str:
        """A pointer to the key a map reference names, built and zeroed (keys compare as
        bytes, padding included)."""
        if m.is_array:
            return "&" + self.temp("u32 {} = 0")  # the array's one slot
        key = CValue(self.buffer(m.key_struct), m.key_struct)
        if not ref.keys:
            return key.text
        slot = self.element(key, 0)
        if len(ref.keys) == 1:
            self.store(slot, self.expr(ref.keys[0]))
        else:
            for i, node in enumerate(ref.keys):
                self.store(self.element(slot, i), self.expr(node))
        return key.text

    def map_lookup_value(self, m, key: str) -> CValue:
        """A map's value under ``key``, or zero where it has none."""
        entry = self.temp(f"{self.ctypes.pointer(m.value_struct)}{{}} = {m.c_name}.lookup({key})")
        typ = m.value_type
        if typ.is_scalar:
            return self.scalar(f"{entry} ? {entry}->f0 : 0", typ)
        buf = self.buffer(typ, zeroed=False)
        self.open_block(f"if ({entry}) {{")
        self.copy(buf, self.element(CValue(entry, m.value_struct), 0).text, typ.size)
        self.close_block("} else {")
        self.out.depth += 1
        self.zero(buf, typ.size)
        self.close_block()
        return CValue(buf, typ)

    def map_update(self, m, key: str, value: CValue, span) -> None:
        slot = self.buffer(m.value_struct, zeroed=False)
        self.store(self.element(CValue(slot, m.value_struct), 0), value)
        self.check_update(f"{m.c_name}.update({key}, {slot})", span)

    def check_update(self, call: str, span, insert: bool = False) -> None:
        """Run a map update; if it fails, tell user space where and why (as bpftrace 0.26 does
        for every failed update: a full map, no memory for a new entry ...). An insert that
        finds the key already there lost a race to another CPU: that is not a failure."""
        result = self.temp(f"long {{}} = {call}")
        failed = f"{result} < 0 && {result} != -{EEXIST}" if insert else f"{result} < 0"
        self.line(f"if ({failed}) {{")
        self.out.depth += 1
        self.runtime_warning(span, result, "map_update_elem")
        self.close_block()

    def _map_read(self, node: ast.MapRef) -> CValue:
        m = self.resources.maps[node.name]
        if m.per_cpu:
            return self.read_aggregation(m, self.map_key(m, node))
        return self.map_lookup_value(m, self.map_key(m, node))

    # -- aggregations ------------------------------------------------------------------------

    def fold_aggregation(self, m, target: ast.MapRef, call: ast.Call) -> None:
        """`@m[key] = f(value)`: fold the value into this CPU's slot for the key."""
        key = self.map_key(m, target)
        value = self.expr(call.args[0]) if call.args else None
        slot_type = self.ctypes.words(m.words)
        slot = self.temp(f"{slot_type} *{{}} = {m.c_name}.lookup({key})")
        if not m.is_array:  # an array's one slot always exists
            self.open_block(f"if (!{slot}) {{")
            zeros = self.zeroed_memory(m.value_size)
            self.check_update(f"{m.c_name}.insert({key}, ({slot_type} *){zeros})", target.span,
                              insert=True)
            self.line(f"{slot} = {m.c_name}.lookup({key});")
            self.close_block()
        self.open_block(f"if ({slot}) {{")
        m.aggregation.fold(self, slot, value, m.aggregate)
        self.close_block()

    def read_aggregation(self, m, key: str) -> CValue:
        """An aggregation's value read in a probe: every CPU's slot merged, there and then."""
        reader = m.aggregation.reader
        typ = m.aggregate
        c_type = "s64" if typ.signed else "u64"
        acc = [self.temp(f"{c_type} {{}} = {start}") for start in reader.start]
        slot_type = self.ctypes.words(m.words)
        cpu = self.fresh("cpu")
        self.open_block(f"for (u32 {cpu} = 0; {cpu} < {possible_cpus()}; {cpu}++) {{")
        slot = self.temp(f"{slot_type} *{{}} = bpf_map_lookup_percpu_elem("
                         f"{markers.map_address(m.index)}, {key}, {cpu})")
        self.line(f"if ({slot}) {{ {reader.combine(acc, slot, typ)} }}")
        self.close_block()
        return self.scalar(reader.value(acc, typ), INT64 if typ.signed else UINT64)

