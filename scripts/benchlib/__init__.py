"""The parts of scripts/bench: tracer measured against bpftrace in one run.

  programs   the bpftrace programs both tools run (text only)
  workloads  the C workloads that make the events and time themselves
  runner     one tool invocation: wall time, peak memory, both streams, a timeout
  outputs    what a run printed: printf lines, lost events, map entries
  results    a measured row: medians, the ratio tracer / bpftrace (or of its own two columns),
             its target
  startup    start-up time and memory, first and cached runs; compile time
  events     printf throughput and loss, cost per event, printing a large map
  scrape     cost per event with a /metrics scrape every second, against without (tracer only)
  report     the terminal table and the JSON document
"""
