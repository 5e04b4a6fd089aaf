"""``fentry:FUNCTION`` and ``fexit:FUNCTION`` (``f:``, ``fr:``; 0.17's ``kfunc:`` and
``kretfunc:``): a kernel function's entry and return through a BPF trampoline.

The function and its parameters come from the kernel's BTF (``host.btf``): ``args.NAME`` is a
parameter, typed as BTF declares it, and an fexit probe also has ``retval``. The program is a
tracing program loaded against the function's BTF id; its context is the array of the
function's arguments (then its return value, in fexit), one 64-bit word each. Attached with
BPF_RAW_TRACEPOINT_OPEN, as libbpf does for trampolines.
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Optional

from ..builtins import Builtin
from ..cdefs.catalog import kernel_pointer
from ..host import btf, features
from ..types import INT8, IntType, PointerType
from .base import ArgField, Provider, RawTracepoint, Target, Unsupported
from .registers import traced_function_builtin
from .listed import Listed, ListPattern, has_wildcard

BPF_TRACE_FENTRY, BPF_TRACE_FEXIT = 24, 25
CHAR_TYPES = {"char", "const char", "unsigned char", "const unsigned char", "signed char"}


def value_type(value: btf.ValueType):
    """The tracer type of a parameter or return value, or None where a probe cannot read it
    (a struct passed by value, a float)."""
    if value.kind == "int" and value.size in (1, 2, 4, 8):
        return IntType(value.size * 8, value.signed)
    if value.kind == "pointer":
        return kernel_pointer(value.pointee) or \
            PointerType(INT8 if value.pointee in CHAR_TYPES else None)
    return None


def word_arg_fields(function: btf.Function) -> dict[str, ArgField]:
    """``args`` of a probe whose context is the array of a function's arguments, one 64-bit
    word each (fentry, fexit, raw tracepoints): each parameter, typed as BTF declares it."""
    return {name: ArgField(name, value_type(value), 8 * i, 8, f"{value.c_name} {name}")
            for i, (name, value) in enumerate(function.params)}


def emit_word_arg(gen, field: ArgField) -> str:
    # Each argument is a 64-bit word of the context, whatever its C type.
    ctype = field.type.ctype if isinstance(field.type, IntType) else "u64"
    return f"(({ctype})*(u64 *)((char *)ctx + {field.offset}))"


class FentryProvider(Provider):
    name = "fentry"
    aliases = ("f", "kfunc")
    prog_type = "TRACING"
    attach_type = BPF_TRACE_FENTRY
    builtin_names = ("func",)

    def expand(self, parts, span, reporter, ctx):
        if len(parts) not in (1, 2) or not parts[-1]:
            reporter.error(span, f"{self.name} probes are written {self.name}:FUNCTION",
                           hint=f"for example {self.name}:vfs_read")
            return []
        kernel = btf.vmlinux()
        if kernel is None:
            reporter.error(span, f"{self.name} probes need the kernel's BTF "
                                 f"(/sys/kernel/btf/vmlinux), which this kernel lacks",
                           hint="use kprobe: or tracepoint: probes instead")
            return []
        wanted = parts[-1]
        names = kernel.function_names() if has_wildcard(wanted) else [wanted]
        targets = []
        for name in names:
            if not fnmatch.fnmatchcase(name, wanted):
                continue
            function = kernel.find_function(name)
            if function is not None:
                targets.append(Target(self, f"{self.name}:{name}", (function,)))
        if not targets:
            ctx.missing(reporter, span, f"{self.name}: no kernel function {wanted} in BTF",
                        hint=lambda: _nearest(wanted))
        return targets

    def arg_fields(self, target: Target) -> Optional[dict[str, ArgField]]:
        return word_arg_fields(target.parts[0])

    def emit_arg(self, gen, field: ArgField) -> str:
        return emit_word_arg(gen, field)

    def builtin(self, name, target):
        if name == "func":
            return traced_function_builtin()
        return super().builtin(name, target)

    def load_attributes(self, target: Target) -> dict[str, int]:
        return {"expected_attach_type": self.attach_type,
                "attach_btf_id": target.parts[0].btf_id}

    def attachment(self, target):
        return RawTracepoint(None)

    def unsupported(self, target):
        return Unsupported.unless(features.fentry())

    @property
    def list_group(self):
        # `tracer -l` lists fentry only where this kernel loads it, as bpftrace 0.17 lists
        # kfunc: only then (there are as many as kprobes); named, it is always listed.
        return "kernel" if features.fentry().ok else None

    def listing(self, pattern, verbose=False):
        # FUNCTION as expand names it; of MODULE:FUNCTION only FUNCTION is matched, since only
        # vmlinux's BTF is read. -lv shows the parameters (and fexit's retval) as BTF has them.
        kernel = btf.vmlinux()
        if kernel is None:
            return []
        if pattern.has_parts():
            pattern = ListPattern(pattern.parts[-1])
        return [Listed(f"{self.name}:{n}", self._listed_params(kernel, n) if verbose else ())
                for n in pattern.select(kernel.function_names())]

    def _listed_params(self, kernel, name: str) -> tuple[str, ...]:
        function = kernel.find_function(name)
        if function is None:
            return ()
        lines = [f"{value.c_name} {param}" for param, value in function.params]
        if self.attach_type == BPF_TRACE_FEXIT and function.returns.kind != "void":
            lines.append(f"{function.returns.c_name} retval")
        return tuple(lines)


class FexitProvider(FentryProvider):
    name = "fexit"
    aliases = ("fr", "kretfunc")
    attach_type = BPF_TRACE_FEXIT
    builtin_names = ("retval", "func")
    list_group = None  # listed only when named, as bpftrace does

    def builtin(self, name, target):
        function = target.parts[0]
        typ = value_type(function.returns)
        if name == "retval" and typ is not None:
            offset, ctype = 8 * len(function.params), typ.ctype if isinstance(typ, IntType) \
                else "u64"
            return Builtin("retval", typ,
                           lambda gen: f"(({ctype})*(u64 *)((char *)ctx + {offset}))",
                           "the value the function returned", in_loops=False)
        return super().builtin(name, target)


def _nearest(wanted: str) -> Optional[str]:
    if has_wildcard(wanted):
        return None
    names = [n for n in btf.vmlinux().function_names() if n[:3] == wanted[:3]]
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.8)
    return "did you mean " + " or ".join(close) + "?" if close else None
