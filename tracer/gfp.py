"""The kernel's GFP allocation flags by name, as printf's %gr prints them (bpftrace 0.26)."""

from __future__ import annotations

MASK64 = (1 << 64) - 1


def _bits(*positions: int) -> int:
    return sum(1 << p for p in positions)


# Bit positions of the kernel's GFP flags (linux/gfp_types.h), as bpftrace 0.26 knows them.
DMA, HIGHMEM, DMA32, MOVABLE, HIGH, IO, FS, ZERO = 0, 1, 2, 3, 5, 6, 7, 8
DIRECT_RECLAIM, KSWAPD_RECLAIM, WRITE, NOWARN, RETRY_MAYFAIL, NOFAIL, NORETRY = range(10, 17)
MEMALLOC, COMP, NOMEMALLOC, HARDWALL, THISNODE, ACCOUNT = range(17, 23)
ZEROTAGS, SKIP_ZERO, SKIP_KASAN, NO_OBJ_EXT = range(23, 27)
_GFP_KERNEL = _bits(DIRECT_RECLAIM, KSWAPD_RECLAIM, IO, FS)
_GFP_USER = _GFP_KERNEL | _bits(HARDWALL)
_GFP_HIGHUSER_MOVABLE = _GFP_USER | _bits(HIGHMEM, MOVABLE, SKIP_KASAN)
_GFP_TRANSHUGE_LIGHT = ((_GFP_HIGHUSER_MOVABLE | _bits(COMP, NOMEMALLOC, NOWARN))
                        & ~_bits(DIRECT_RECLAIM, KSWAPD_RECLAIM))
# Compound names first, in the kernel's order: a value is named by the first masks it contains,
# and the bits left over are named one by one.
GFP_NAMES = (
    (_GFP_TRANSHUGE_LIGHT | _bits(DIRECT_RECLAIM), "GFP_TRANSHUGE"),
    (_GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"),
    (_GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (_GFP_USER | _bits(HIGHMEM), "GFP_HIGHUSER"),
    (_GFP_USER, "GFP_USER"),
    (_GFP_KERNEL | _bits(ACCOUNT), "GFP_KERNEL_ACCOUNT"),
    (_GFP_KERNEL, "GFP_KERNEL"),
    (_bits(DIRECT_RECLAIM, KSWAPD_RECLAIM, IO), "GFP_NOFS"),
    (_bits(HIGH, KSWAPD_RECLAIM), "GFP_ATOMIC"),
    (_bits(DIRECT_RECLAIM, KSWAPD_RECLAIM), "GFP_NOIO"),
    (_bits(KSWAPD_RECLAIM, NOWARN), "GFP_NOWAIT"),
    (_bits(DMA), "GFP_DMA"), (_bits(HIGHMEM), "__GFP_HIGHMEM"), (_bits(DMA32), "GFP_DMA32"),
    *((_bits(bit), name) for bit, name in (
        (HIGH, "__GFP_HIGH"), (IO, "__GFP_IO"), (FS, "__GFP_FS"), (ZERO, "__GFP_ZERO"),
        (DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"), (KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
        (WRITE, "__GFP_WRITE"), (NOWARN, "__GFP_NOWARN"),
        (RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"), (NOFAIL, "__GFP_NOFAIL"),
        (NORETRY, "__GFP_NORETRY"), (MEMALLOC, "__GFP_MEMALLOC"), (COMP, "__GFP_COMP"),
        (NOMEMALLOC, "__GFP_NOMEMALLOC"), (HARDWALL, "__GFP_HARDWALL"),
        (THISNODE, "__GFP_THISNODE"), (ACCOUNT, "__GFP_ACCOUNT"), (ZEROTAGS, "__GFP_ZEROTAGS"),
        (SKIP_ZERO, "__GFP_SKIP_ZERO"), (SKIP_KASAN, "__GFP_SKIP_KASAN"),
        (NO_OBJ_EXT, "__GFP_NO_OBJ_EXT"))),
)


def gfp_text(flags: int) -> str:
    """GFP flags by name, ``|``-separated, unnamed bits last in hex; 0 is ``0``."""
    remaining = flags & MASK64
    if not remaining:
        return "0"
    names = []
    for mask, name in GFP_NAMES:
        if remaining & mask == mask:
            names.append(name)
            remaining &= ~mask
    if remaining:
        names.append("0x%x" % remaining)
    return "|".join(names)
