"""tracer: bpftrace programs compiled to eBPF through BCC."""

__version__ = "0.1.0"
