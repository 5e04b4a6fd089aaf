"""The probe types tracer knows, by name and alias."""

from .base import ArgField, ExpandContext, Provider, Registry, Target
from .fentry import FentryProvider, FexitProvider
from .interval import IntervalProvider
from .kprobe import KprobeProvider, KretprobeProvider
from .perf_events import HardwareProvider, ProfileProvider, SoftwareProvider
from .special import BEGIN, END, SelfProvider
from .rawtracepoint import RawTracepointProvider
from .tracepoint import TracepointProvider
from .uprobe import UprobeProvider, UretprobeProvider
from .watchpoint import WatchpointProvider
from .usdt import UsdtProvider
from .unsupported import unsupported_probe_type

REGISTRY = Registry()
for _provider in (BEGIN, END, TracepointProvider(), IntervalProvider(), ProfileProvider(),
                  SoftwareProvider(), HardwareProvider(), KprobeProvider(), KretprobeProvider(),
                  UprobeProvider(), UretprobeProvider(), RawTracepointProvider(),
                  UsdtProvider(), FentryProvider(), FexitProvider(),
                  WatchpointProvider(), SelfProvider()):
    REGISTRY.add(_provider)

__all__ = ["ArgField", "ExpandContext", "Provider", "REGISTRY", "Target", "unsupported_probe_type"]
