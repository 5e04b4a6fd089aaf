"""The whole BCC C program: prelude, structs, maps, one function per probe site."""

from __future__ import annotations

from ..options import CompileOptions
from ..passes.attach import ProbeSite
from ..passes.resources import Resources
from .function import FunctionBuilder

RINGBUF_PAGES = 256  # 1 MiB shared by all CPUs; printf events are small

# No #include here: BCC's own prelude has what this needs, and every header costs clang time
# on every run (uapi/linux/bpf_perf_event.h alone adds about 0.9 s).
PRELUDE = f"""\
BPF_RINGBUF_OUTPUT(tracer_events, {RINGBUF_PAGES});
BPF_PERCPU_ARRAY(tracer_lost, u64, 1);

/* Send an event to user space; count it as lost when the ring buffer is full. */
static __always_inline void tracer_emit(void *data, u64 size)
{{
  if (tracer_events.ringbuf_output(data, size, 0) != 0) {{
    u32 zero = 0;
    u64 *lost = tracer_lost.lookup(&zero);
    if (lost) *lost += 1;
  }}
}}
"""


def generate_c(sites: list[ProbeSite], resources: Resources, options: CompileOptions,
               variables: dict[int, list]) -> str:
    parts = [PRELUDE]
    for event in resources.printfs.values():
        parts.append(event.layout.c_struct(event.struct_tag))
    for m in resources.maps.values():
        parts.append(m.key_layout.c_struct(f"{m.c_name}_key"))
        parts.append(m.value_layout.c_struct(f"{m.c_name}_value"))
        parts.append(f"{m.c_declaration} /* {m.name.replace('*/', '')} */")
    for site in sites:
        parts.append(FunctionBuilder(site, resources, options, variables[site.index]).build())
    return "\n\n".join(parts) + "\n"
