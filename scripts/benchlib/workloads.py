"""The workload the traced runs trace: a small C program, built with gcc once per bench, that
makes a known number of system calls and times itself with CLOCK_MONOTONIC.

It writes its report to a file named on its command line, never to stdout: its stdout is the
tool's stdout (a -c child inherits it), and a line of its own could land in the middle of a line
the tool is printing and spoil both.
"""

from __future__ import annotations

import os
import subprocess

# The name matters: comm is the executable's name, and the printf-per-event program filters on it.
WORKLOAD_NAME = "bench-workload"

WORKLOAD_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* usage: bench-workload getppid N REPORT    N getppid() calls
 *        bench-workload close FIRST N REPORT close(fd) for fd = FIRST .. FIRST+N-1 (EBADF)
 * REPORT gets "key value" lines: start_ns, end_ns (CLOCK_MONOTONIC) and ns_per_call. */
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *report;
    long long start, end;
    long n;
    if (strcmp(argv[1], "getppid") == 0) {
        n = atol(argv[2]);
        report = argv[3];
        start = now_ns();
        for (long i = 0; i < n; i++) getppid();
        end = now_ns();
    } else if (strcmp(argv[1], "close") == 0 && argc >= 5) {
        long first = atol(argv[2]);
        n = atol(argv[3]);
        report = argv[4];
        start = now_ns();
        for (long fd = first; fd < first + n; fd++) close((int)fd);
        end = now_ns();
    } else {
        return 2;
    }
    FILE *f = fopen(report, "w");
    if (!f) return 3;
    fprintf(f, "start_ns %lld\nend_ns %lld\nns_per_call %.3f\n", start, end,
            n > 0 ? (double)(end - start) / n : 0.0);
    return fclose(f) == 0 ? 0 : 3;
}
"""


def build_workload(directory: str) -> str:
    """Compile the workload into ``directory``; its path."""
    source = os.path.join(directory, WORKLOAD_NAME + ".c")
    binary = os.path.join(directory, WORKLOAD_NAME)
    with open(source, "w") as f:
        f.write(WORKLOAD_SOURCE)
    subprocess.run(["gcc", "-O2", "-o", binary, source], check=True)
    return binary


def getppid_command(binary: str, calls: int, report: str) -> list:
    return [binary, "getppid", str(calls), report]


def close_command(binary: str, first_fd: int, count: int, report: str) -> list:
    return [binary, "close", str(first_fd), str(count), report]


def parse_report(text: str) -> dict:
    """The workload's report as {key: number}; keys it did not write are absent. Timestamps
    stay integers: nanoseconds since boot outgrow a float's exact range after about 104 days."""
    values = {}
    for line in text.splitlines():
        key, _, number = line.partition(" ")
        for kind in (int, float):
            try:
                values[key] = kind(number)
                break
            except ValueError:
                continue
    return values


def read_report(path: str) -> dict:
    """The report at ``path``, removed once read so the next run cannot be credited with it;
    {} when the workload never wrote one (it did not run, or was killed)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return {}
    os.unlink(path)
    return parse_report(text)
