"""Compile generated C with BCC in a process of its own: ``python -m tracer.runtime.compile_worker
CFLAG...`` reads the C on stdin and writes the program's image (``image.ProgramImage``) on stdout.

Loading BCC maps LLVM and clang into the process (about 60 MB) and compiling takes as much
again, none of it given back to the system afterwards. Done here, it all goes when the worker
exits: a run that lasts hours holds only what tracing needs, and the peak of the run is the
worker's alone rather than the worker's on top of tracer's own.

Exit statuses: 0 with the image; 2 when BCC refused the C (clang's messages on stderr); 3 when
BCC cannot be imported.
"""

from __future__ import annotations

import sys

COMPILE_FAILED, NO_BCC = 2, 3


def main() -> int:
    c_text = sys.stdin.read()
    try:
        import bcc
    except ImportError as err:
        print(err, file=sys.stderr)
        return NO_BCC
    from .image import from_bcc
    try:
        bpf = bcc.BPF(text=c_text, debug=0, cflags=sys.argv[1:])
    except Exception as err:  # BCC raises a bare Exception (clang's messages are on stderr)
        print(err, file=sys.stderr)
        return COMPILE_FAILED
    try:
        image = from_bcc(bpf.module, bcc.lib)
    finally:
        bpf.cleanup()
    sys.stdout.buffer.write(image.to_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
