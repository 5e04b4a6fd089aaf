"""The compiled form of a program for this run: from the compiled-program cache, or from BCC.

BCC (with clang inside) is only a compiler here, run in a worker process: it turns the
generated C into instructions, which ``image.from_bcc`` takes out before BCC's module is freed.
Loading is the same either way (``program.LoadedProgram``), so a cached run behaves exactly as a
fresh one.
"""

from __future__ import annotations

import subprocess
import sys

from ..diagnostics import TracerError
from ..options import CompileOptions
from . import kernel
from .cache import ProgramCache, disabled_by_environment
from .compile_worker import NO_BCC
from .image import ImageError, ProgramImage

# -w: clang's warnings are about C that tracer wrote, not about the user's program.
CFLAGS = ["-w"]


def program_image(c_text: str, options: CompileOptions) -> ProgramImage:
    cache = None
    if options.use_cache and not disabled_by_environment():
        cache = ProgramCache.open(options.notice, options.verbose)
    key = None
    if cache is not None:
        key = cache.key(c_text, CFLAGS, kernel.headers_identity())
        image = cache.get(key)
        if image is not None:
            if options.verbose:
                options.notice("loaded the compiled program from the cache")
            return image
    image = compile_with_bcc(c_text, options)
    if cache is not None:
        cache.put(key, image)
    return image


def compile_with_bcc(c_text: str, options: CompileOptions) -> ProgramImage:
    """The C compiled by BCC, in a worker process (``compile_worker``: why is told there)."""
    kernel.ensure_kernel_headers(options.notice, options.verbose)  # BCC_KERNEL_SOURCE, inherited
    worker = subprocess.run([sys.executable, "-m", "tracer.runtime.compile_worker", *CFLAGS],
                            input=c_text.encode("utf-8", "surrogateescape"), capture_output=True)
    said = worker.stderr.decode(errors="replace").strip()
    if worker.returncode == NO_BCC:
        raise TracerError(f"BCC's Python module (bcc) cannot be imported by {sys.executable}",
                          hint="run scripts/setup, which installs python3-bpfcc and makes it "
                               "visible to tracer's virtual environment")
    if worker.returncode != 0:
        last = said.splitlines()[-1] if said else f"the compiler exited with {worker.returncode}"
        whole = f"\n{said}" if options.verbose and said else ""
        raise TracerError(f"BCC could not compile the generated program: {last}{whole}",
                          hint="this is a tracer bug: run with -d to see the C and report it")
    try:
        return ProgramImage.from_bytes(worker.stdout)
    except ImageError as err:
        raise TracerError(f"the compiler's worker sent a damaged program: {err}",
                          hint="this is a tracer bug: run with -v and report it") from None
