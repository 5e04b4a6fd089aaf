"""The compiled form of a program for this run: from the compiled-program cache, or from BCC.

BCC (with clang inside) is only a compiler here: it turns the generated C into instructions,
which ``image.from_bcc`` takes out before BCC's module is freed. Loading is the same either way
(``program.LoadedProgram``), so a cached run behaves exactly as a fresh one.
"""

from __future__ import annotations

from ..diagnostics import TracerError
from ..options import CompileOptions
from . import kernel
from .cache import ProgramCache, disabled_by_environment
from .image import ProgramImage, from_bcc

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


def import_bcc():
    try:
        import bcc
    except ImportError:
        raise TracerError("BCC's Python module (bcc) cannot be imported by this Python",
                          hint="run scripts/setup, which installs python3-bpfcc and makes it "
                               "visible to tracer's virtual environment") from None
    return bcc


def compile_with_bcc(c_text: str, options: CompileOptions) -> ProgramImage:
    kernel.ensure_kernel_headers(options.notice, options.verbose)
    bcc = import_bcc()
    try:
        bpf = bcc.BPF(text=c_text, debug=0, cflags=CFLAGS)
    except Exception as err:  # BCC raises a bare Exception and prints clang's messages
        raise TracerError(f"BCC could not compile the generated program: {err}",
                          hint="this is a tracer bug: run with -d to see the C and report "
                               "it") from None
    try:
        return from_bcc(bpf.module, bcc.lib)
    finally:
        bpf.cleanup()  # its maps go too: the loader creates the run's own
