"""tracer: bpftrace programs compiled to eBPF through BCC.

The command line is ``tracer``; the same stages are a Python library (``tracer.api``):

    import tracer
    compiled = tracer.compile('BEGIN { printf("hi\\n"); exit(); }')   # parse, check, generate C
    print(compiled.c_text)
    result = tracer.run('tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @ = count(); }',
                        command="./workload 250")                     # as root: trace, collect
    result.maps["@"]                                                  # 250
    with tracer.trace('tracepoint:raw_syscalls:sys_enter /pid == $1/ { @ = count(); }',
                      params=[os.getpid()]) as t:
        ...                                                            # traced meanwhile
    t.result.maps["@"]

Imports are deferred so that ``import tracer`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

# The public names, each imported from tracer.api when first used.
_API = ("compile", "run", "trace", "Result", "Event", "CompileError", "TracerError")


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'tracer' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
