"""``kprobe:FUNCTION`` and ``kretprobe:FUNCTION`` (``k:``, ``kr:``): a kernel function's entry
and return.

Written ``kprobe:FN``, ``kprobe:FN+OFFSET`` or ``kprobe:MODULE:FN``, with wildcards in FN
(``kprobe:vfs_*``), expanded against the kernel's function list at compile time, one probe
function per match. The program is a kprobe program on the kprobe PMU's perf event
(perf_event_open with the function's name), which leaves nothing behind in tracefs. ``argN``
and ``retval`` are registers (``registers.py``); ``func`` is the function's name, known when
the probe is compiled.

A kernel built without CONFIG_KPROBES has no kprobe PMU: such a probe is refused before
anything is attached, with the tracepoint that covers the same event where one exists.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Optional

from ..host import features, kfuncs, pmu, tracefs
from .base import PerfEvent, Provider, Target, Unsupported
from .listed import has_wildcard, simple_listing
from .registers import function_builtin, traced_function_builtin

OFFSET_RE = re.compile(r"^(?P<name>[^+]+)(?:\+(?P<offset>0[xX][0-9a-fA-F]+|\d+))?$")
# Prefixes the kernel puts on a system call's functions: what is left is the call's name.
SYSCALL_PREFIXES = ("__x64_sys_", "__ia32_sys_", "__arm64_sys_", "__se_sys_", "__do_sys_",
                    "__sys_", "do_sys_", "ksys_", "sys_")


class KprobeProvider(Provider):
    name = "kprobe"
    aliases = ("k",)
    prog_type = "KPROBE"
    returns = False
    builtin_names = ("argN", "sargN", "func")
    list_group = "kernel"

    def expand(self, parts, span, reporter, ctx):
        if len(parts) == 2 and parts[0]:
            module, text = parts
        elif len(parts) == 1:
            module, text = None, parts[0]
        else:
            reporter.error(span, f"{self.name} probes are written {self.name}:FUNCTION or "
                                 f"{self.name}:MODULE:FUNCTION",
                           hint=f"for example {self.name}:vfs_read")
            return []
        m = OFFSET_RE.match(text)
        if not m:
            reporter.error(span, f"{self.name}: '{text}' is not a function name")
            return []
        name, offset = m.group("name"), int(m.group("offset") or "0", 0)
        if offset and (self.returns or has_wildcard(name)):
            reporter.error(span, f"{self.name}: an offset needs one function, at its entry",
                           hint="kprobe:FUNCTION+OFFSET, without wildcards")
            return []
        functions = kfuncs.kernel_functions()
        if has_wildcard(name) or (module is not None and has_wildcard(module)):
            # Wildcards expand over the functions that can be traced.
            matches = sorted({n for n, mod in functions
                              if fnmatch.fnmatchcase(n, name) and (module is None or
                                                                   fnmatch.fnmatchcase(mod or "",
                                                                                       module))})
        else:
            matches = [name] if kfuncs.exists(name, module) else []
        if not matches:
            ctx.missing(reporter, span, f"{self.name}: no kernel function {name}"
                        + (f" in module {module}" if module else ""),
                        hint=lambda: _nearest(name, functions))
            return []
        where = f"+{offset}" if offset else ""
        return [Target(self, f"{self.name}:{m}{where}", (m, offset)) for m in matches]

    def builtin(self, name, target):
        if name == "func":
            return traced_function_builtin()
        return function_builtin(name, entry=not self.returns, user=False) or \
            super().builtin(name, target)

    def attachment(self, target):
        function, offset = target.parts
        retprobe = pmu.format_bits("kprobe", "retprobe")
        config = 1 << retprobe[1] if self.returns and retprobe else 0
        return PerfEvent(pmu.pmu_type("kprobe") or 0, config, target=function, config2=offset)

    def unsupported(self, target):
        support = features.kprobes()
        return Unsupported.unless(support, None if support.ok
                                  else alternatives(target.parts[0], self.returns))

    def listing(self, pattern, verbose=False):
        # FUNCTION, or MODULE:FUNCTION for the functions of modules (as kprobe:MODULE:FN
        # names them). The .part.N pieces of split functions are left out, as bpftrace
        # leaves them out: they are not functions anyone calls.
        functions = kfuncs.kernel_functions()
        if pattern.has_parts():
            names = (f"{m}:{n}" for n, m in functions if m)
        else:
            names = (n for n, _ in functions)
        return simple_listing(self.name, pattern, (n for n in names if ".part." not in n))


class KretprobeProvider(KprobeProvider):
    name = "kretprobe"
    aliases = ("kr",)
    returns = True
    builtin_names = ("retval", "func")
    list_group = None  # listed only when named, as bpftrace does


def alternatives(function: str, returns: bool) -> str:
    """What to trace instead of a kernel function: the tracepoint of the same event where there
    is one (a system call's, or one named after the function)."""
    events = tracefs.available_events() if tracefs.mounted() else ()
    found = []
    for prefix in SYSCALL_PREFIXES:
        if function.startswith(prefix):
            call = function[len(prefix):]
            event = f"syscalls:sys_{'exit' if returns else 'enter'}_{call}"
            if event in events:
                found.append(f"tracepoint:{event}")
            break
    # A tracepoint named after the function (tcp_retransmit_skb has tcp:tcp_retransmit_skb).
    found += [f"tracepoint:{e}" for e in events if e.split(":", 1)[1] == function]
    instead = f"use {' or '.join(dict.fromkeys(found))}, or " if found else ""
    return (f"{instead}run it on a kernel with CONFIG_KPROBES=y (tracer doctor lists what "
            f"this one supports)")


def _nearest(name: str, functions) -> Optional[str]:
    if has_wildcard(name):
        return f"list them with: tracer -l 'kprobe:{name}'"
    # Only names that start alike: difflib over every kernel function would take seconds.
    close = difflib.get_close_matches(name, [n for n, _ in functions if n[:3] == name[:3]],
                                      n=3, cutoff=0.8)
    return "did you mean " + " or ".join(close) + "?" if close else None
