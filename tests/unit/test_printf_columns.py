"""printf of many events at once (render_columns) prints exactly what render prints of each."""

from __future__ import annotations

import random

import pytest

from tracer import types as T
from tracer.printf import bind_types, parse_format, render, render_columns

INT_TYPES = [T.IntType(bits, signed) for bits in (8, 16, 32, 64) for signed in (True, False)]
FORMATS = ["%d %d\n", "%u|%i|%x\n", "%5d %-5u %05d\n", "%hhd %hu %ld %llu\n", "%+d %#x\n",
           "100%% %d\n", "%s=%d\n", "[%-8s] [%8s]\n", "%c%d\n", "no conversions\n", "%p %lx\n"]


def _value(typ, rng: random.Random):
    if isinstance(typ, T.StringType):
        return rng.choice(["", "a", "tk_loop", "héllo", "x" * 12])
    bits, signed = typ.bits, typ.signed
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    # Mostly small values (the str() fast path), some at and past the edges of narrower casts.
    return rng.choice([rng.randint(0, 1000), rng.randint(low, high), low, high, 0, -1 if signed
                       else 1, 1 << 31, (1 << 31) - 1]) if bits > 32 or not signed and bits == 32 \
        else max(low, min(high, rng.choice([rng.randint(0, 1000), rng.randint(low, high), low,
                                            high, 0])))


@pytest.mark.parametrize("fmt", FORMATS)
def test_columns_render_like_one_event_at_a_time(fmt):
    rng = random.Random(fmt)
    parts = parse_format(fmt)
    count = sum(1 for p in parts if not isinstance(p, str))
    for _ in range(40):
        types = [T.StringType(16) if "s" in p.conv else rng.choice(INT_TYPES)
                 for p in parts if not isinstance(p, str)]
        bound = bind_types(parts, types)
        rows = [[_value(t, rng) for t in types] for _ in range(rng.randint(1, 30))]
        columns = list(zip(*rows)) if count else []
        assert render_columns(bound, columns, len(rows)) == [render(bound, r) for r in rows]


def test_a_value_past_the_cast_is_not_printed_as_is():
    # %d is a 32-bit int: 2**32 + 5 prints 5, so the str() shortcut must not take this column.
    bound = bind_types(parse_format("%d\n"), [T.IntType(64, False)])
    assert render_columns(bound, [(1, 2**32 + 5)], 2) == ["1\n", "5\n"]
