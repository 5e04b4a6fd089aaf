"""The whole BCC C program: prelude, types, maps, then each probe site's functions.

The functions are generated first, because they decide which tuple structs, scratch memory and
zeroed memory the program needs; the declarations then go above them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..check import ProgramFacts
from ..config import Config
from ..diagnostics import CompileError
from ..options import CompileOptions
from ..passes.attach import ProbeSite
from ..passes.resources import MapResource, Resources
from .cdecl import CTypes
from .function import BuiltSite, FunctionBuilder
from .memory import SCRATCH_LIMIT
from .statements import LINK_STRUCT

# No #include here: BCC's own prelude has what this needs, and every header costs clang time
# on every run (uapi/linux/bpf_perf_event.h alone adds about 0.9 s).
EMIT = """\
/* Send an event to user space; count it as lost when the ring buffer is full. */
static __always_inline void tracer_emit(void *data, u64 size)
{
  if (tracer_events.ringbuf_output(data, size, 0) != 0) {
    u32 zero = 0;
    u64 *lost = tracer_lost.lookup(&zero);
    if (lost) *lost += 1;
  }
}"""


@dataclass
class GeneratedProgram:
    c_text: str
    sites: list[BuiltSite]  # in site order: what the loader needs (callbacks)
    warnings: list  # where each runtime warning the program may send comes from (spans)


def generate_c(sites: list[ProbeSite], resources: Resources, facts: ProgramFacts,
               options: CompileOptions, config: Config) -> GeneratedProgram:
    ctypes = CTypes()
    warnings: list = []
    built = [FunctionBuilder(site, resources, facts, options, config, ctypes, warnings).build()
             for site in sites]
    too_big = [b for b in built if b.scratch > SCRATCH_LIMIT]
    if too_big:
        raise CompileError.at(too_big[0].site.probe.span,
                              f"this probe needs {too_big[0].scratch} bytes for its values at "
                              f"once, more than the {SCRATCH_LIMIT} a probe can have",
                              hint="lower max_strlen (config = { max_strlen = 256 }) or split "
                                   "the probe")
    # Map structs first, so their tuple structs are declared with the rest.
    map_types = {name: (ctypes.name(m.key_struct),
                        ctypes.words(m.words) if m.per_cpu else ctypes.name(m.value_struct))
                 for name, m in resources.maps.items()}
    for event in resources.events.values():
        ctypes.name(event.layout_tuple)
    # One page here: the loader creates the buffer at the size the run asks for (perf_rb_pages),
    # so that the compiled program does not depend on it.
    parts = ["BPF_RINGBUF_OUTPUT(tracer_events, 1);",
             "BPF_PERCPU_ARRAY(tracer_lost, u64, 1);"]
    scratch = max((b.scratch for b in built), default=0)
    if scratch:
        parts.append(f"struct tracer_scratch_t {{ char bytes[{(scratch + 7) // 8 * 8}]; }};\n"
                     f"BPF_PERCPU_ARRAY(tracer_scratch, struct tracer_scratch_t, {len(sites)});")
    zeros = max((b.zeros for b in built), default=0)
    if zeros:
        parts.append(f"struct tracer_zeros_t {{ char bytes[{(zeros + 7) // 8 * 8}]; }};\n"
                     f"BPF_ARRAY(tracer_zeros, struct tracer_zeros_t, 1);")
    parts.extend(dict.fromkeys(declaration for b in built for declaration in b.requires))
    parts.append(EMIT)
    # The C functions aggregations fold with (log2 buckets ...), each once.
    parts.extend(dict.fromkeys(m.aggregation.support for m in resources.maps.values()
                               if m.per_cpu and m.aggregation.support))
    parts.extend(ctypes.declarations)
    for name, m in resources.maps.items():
        key, value = map_types[name]
        parts.append(f"{map_declaration(m, key, value)} /* {m.name.replace('*/', '')} */")
    if any(b.callbacks for b in built):
        parts.append(LINK_STRUCT)
    for b in built:
        if b.frame:
            parts.append(b.frame)
        parts.extend(b.functions)
    return GeneratedProgram("\n\n".join(parts) + "\n", built, warnings)


# Above this slot size a keyed aggregation's map allocates entries as keys arrive instead of
# all of them up front: 4096 keys of a 2,000-bucket histogram on every CPU would take 64 MB each.
PREALLOC_SLOT_MAX = 64
BPF_F_NO_PREALLOC = 1


def map_declaration(m: MapResource, key: str, value: str) -> str:
    if m.is_array:
        # An array always has its one slot, so an unset count prints 0, as in bpftrace.
        return f"BPF_PERCPU_ARRAY({m.c_name}, {value}, 1);"
    if m.per_cpu and m.value_size > PREALLOC_SLOT_MAX:
        return (f'BPF_F_TABLE("percpu_hash", {key}, {value}, {m.c_name}, {m.max_entries}, '
                f'{BPF_F_NO_PREALLOC});')
    kind = "BPF_PERCPU_HASH" if m.per_cpu else "BPF_HASH"
    return f"{kind}({m.c_name}, {key}, {value}, {m.max_entries});"
