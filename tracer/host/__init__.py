"""What the running kernel offers, read and never changed: tracefs's events and their formats,
the perf event sources (PMUs), kernel function names. Providers, passes, the runtime and
``tracer doctor`` all read the machine through here; changing it (mounting tracefs, building a
headers tree) belongs to ``tracer.runtime.kernel`` alone.
"""
