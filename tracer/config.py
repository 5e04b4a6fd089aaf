"""bpftrace's configuration variables: the script's ``config = { ... }`` block and the
``BPFTRACE_*`` environment variables, which win over the block (as in bpftrace).

Each variable is one table entry: its name, how a value is read, its default and what it is for.
A key may be written ``max_strlen``, ``MAX_STRLEN`` or ``BPFTRACE_MAX_STRLEN``; older names
(``strlen``, ``map_keys_max`` ...) still work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

from . import ast
from .diagnostics import Reporter
from .literals import LiteralError, parse_int
from .types import DEFAULT_STRLEN

Value = Union[int, str, bool]


class ConfigError(Exception):
    pass


def _positive_int(value: Value) -> int:
    if isinstance(value, bool):
        raise ConfigError("expects an integer")
    if isinstance(value, str):
        try:
            value = parse_int(value.strip())
        except LiteralError:
            raise ConfigError(f"expects an integer, not '{value}'") from None
    if value < 1:
        raise ConfigError("must be at least 1")
    return value


def _bool(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
        raise ConfigError("expects true or false (or 1 or 0)")
    word = value.strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"expects true or false, not '{value}'")


def _one_of(*choices: str) -> Callable[[Value], str]:
    def parse(value: Value) -> str:
        word = str(value).strip().lower()
        if word not in choices:
            raise ConfigError(f"expects one of {', '.join(choices)}, not '{value}'")
        return word
    return parse


def _text(value: Value) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        raise ConfigError("expects a string")
    return value


@dataclass(frozen=True)
class Variable:
    name: str
    parse: Callable[[Value], Any]
    default: Any
    doc: str


VARIABLES: dict[str, Variable] = {v.name: v for v in [
    Variable("max_strlen", _positive_int, DEFAULT_STRLEN,
             "bytes (NUL included) kept of a string read by str() and the like"),
    Variable("max_map_keys", _positive_int, 4096, "entries a map can hold"),
    Variable("missing_probes", _one_of("error", "warn", "ignore"), "error",
             "what to do when an attach point matches nothing"),
    Variable("print_maps_on_exit", _bool, True, "print every map when tracing ends"),
    # 0: sized by the memory available when the run starts (runtime.program.ring_buffer_size).
    Variable("perf_rb_pages", _positive_int, 0, "pages of the ring buffer for events"),
    Variable("stack_mode", _one_of("bpftrace", "perf", "raw", "build_id"), "bpftrace",
             "how kstack and ustack are printed"),
    Variable("str_trunc_trailer", _text, "..", "appended to a string that was cut short"),
    Variable("max_cat_bytes", _positive_int, 10240, "bytes cat() reads"),
    Variable("on_stack_limit", _positive_int, 32,
             "largest value kept on the BPF stack; larger ones go to per-CPU scratch memory"),
    Variable("license", _one_of("gpl", "gpl v2", "gpl and additional rights", "dual bsd/gpl",
                                "dual mit/gpl", "dual mpl/gpl"), "gpl", "the programs' license"),
    Variable("max_probes", _positive_int, 1024, "attach points a program may have"),
    Variable("max_bpf_progs", _positive_int, 1024, "BPF programs a program may make"),
    Variable("log_size", _positive_int, 1000000, "bytes of the verifier's log"),
    Variable("cpp_demangle", _bool, True, "demangle C++ names in user stacks"),
    Variable("lazy_symbolication", _bool, False, "resolve user symbols when printed"),
    Variable("cache_user_symbols", _one_of("per_program", "per_pid", "none"), "per_pid",
             "how user symbols are cached"),
    Variable("show_debug_info", _bool, True, "add file and line to stack frames"),
    Variable("use_blazesym", _bool, False, "symbolize with blazesym (not used by tracer)"),
    Variable("unstable_tseries", _one_of("error", "warn", "enable"), "warn",
             "whether tseries() may be used"),
    Variable("unstable_dw_ustack", _one_of("error", "warn", "enable"), "warn",
             "whether dw_ustack() may be used"),
    Variable("unstable_import", _one_of("error", "warn", "enable"), "warn",
             "whether import statements may be used"),
    Variable("unstable_typeinfo", _one_of("error", "warn", "enable"), "warn",
             "whether typeinfo() may be used"),
]}

# Older names scripts still use.
RENAMED = {"strlen": "max_strlen", "map_keys_max": "max_map_keys",
           "cat_bytes_max": "max_cat_bytes"}
ENV_PREFIX = "BPFTRACE_"


def canonical(key: str) -> Optional[str]:
    """The variable a key names, whatever its spelling; None when it names none."""
    name = key.lower()
    if name.startswith(ENV_PREFIX.lower()):
        name = name[len(ENV_PREFIX):]
    name = RENAMED.get(name, name)
    return name if name in VARIABLES else None


@dataclass
class Config:
    values: dict[str, Any] = field(
        default_factory=lambda: {name: v.default for name, v in VARIABLES.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


def resolve(block: Optional[ast.Config], environ: Mapping[str, str],
            reporter: Reporter) -> Config:
    """The settings of a run: defaults, then the script's block, then the environment."""
    config = Config()
    if block is not None:
        for item in block.items:
            name = canonical(item.name)
            if name is None:
                reporter.error(item.span, f"{item.name}: not a known configuration option",
                               hint="known options: " + ", ".join(sorted(VARIABLES)))
                continue
            try:
                config.values[name] = VARIABLES[name].parse(item.value)
            except ConfigError as err:
                reporter.error(item.span, f"{item.name}: {err}")
    for key, text in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = canonical(key)
        if name is None:
            continue  # bpftrace's other variables (BPFTRACE_BTF ...) are not ours to judge
        try:
            config.values[name] = VARIABLES[name].parse(text)
        except ConfigError as err:
            reporter.error(None, f"environment variable {key}: {err}")
    return config


def from_environment() -> Mapping[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
