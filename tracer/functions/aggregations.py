"""Aggregations: functions whose value only ever lives in a map, folded event by event.

Each entry is everything about one aggregation:
  type rule  the ``AggregateType`` a call makes: its constant arguments, the sign of its values
  words      how many 64-bit words one CPU's slot of the map holds
  fold       the C that folds one event into this CPU's slot
  reader     how a probe reads the merged value (`if (@n > 10)`), where bpftrace allows it
  merge      the slots of every CPU, as user space reads them -> the value output renders
A map of aggregations is per CPU, so the fold needs no atomics; each aggregation merges the CPUs'
slots by its own rule (a sum adds them, a max takes the largest). The code generator, the
resource pass and the runtime look entries up in ``AGGREGATIONS``; none names one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from operator import add
from typing import Any, Callable, Optional

from .. import ast
from ..histograms import (linear_bucket_count, linear_histogram, log2_bucket_count,
                          log2_histogram)
from ..values import Bucket, Histogram, Stats
from ..types import INT64, UINT64, AggregateType, Type
from .base import Function, Kind, MAP_VALUE_ONLY, Param, Signature

MASK64 = (1 << 64) - 1
MAX_HIST_BITS = 5
MAX_LHIST_BUCKETS = 1000


@dataclass(frozen=True)
class Reader:
    """How a probe reads an aggregation's merged value: accumulators start at ``start``,
    ``combine`` folds one CPU's slot (a C pointer) into them, ``value`` is the result."""

    start: tuple[str, ...]
    combine: Callable[[list[str], str, AggregateType], str]
    value: Callable[[list[str], AggregateType], str]


@dataclass(frozen=True)
class Aggregation:
    name: str
    words: Callable[[AggregateType], int]
    fold: Callable  # (gen, slot pointer, value CValue or None, AggregateType) -> None
    merge: Callable[[list[tuple[int, ...]], AggregateType], Any]
    reader: Optional[Reader] = None
    # C functions the fold calls, put once above the program's functions.
    support: str = ""


def _c_type(typ: AggregateType) -> str:
    return "s64" if typ.signed else "u64"


def _as_value(word: int, signed: bool) -> int:
    """A slot word (decoded as signed) as the aggregation's own sign reads it."""
    word &= MASK64
    return word - (1 << 64) if signed and word >> 63 else word


# -- count, sum --------------------------------------------------------------------------------

def _fold_count(gen, slot: str, value, typ) -> None:
    gen.line(f"{slot}->w[0] += 1;")


def _fold_sum(gen, slot: str, value, typ) -> None:
    gen.line(f"{slot}->w[0] += (s64)({value.text});")


def _merge_total(slots, typ) -> int:
    return _as_value(sum(s[0] for s in slots), typ.signed)


_TOTAL = Reader(("0",), lambda acc, p, typ: f"{acc[0]} += {p}->w[0];",
                lambda acc, typ: acc[0])


# -- min, max: a value and whether this CPU has one yet ------------------------------------------

def _fold_extreme(better: str):
    def fold(gen, slot: str, value, typ) -> None:
        t = _c_type(typ)
        v = gen.scalar(f"({t})({value.text})", _int64(typ))
        gen.line(f"if (!{slot}->w[1] || {v.text} {better} ({t}){slot}->w[0]) "
                 f"{{ {slot}->w[0] = (s64){v.text}; {slot}->w[1] = 1; }}")
    return fold


def _merge_extreme(pick):
    def merge(slots, typ) -> int:
        values = [_as_value(s[0], typ.signed) for s in slots if s[1]]
        return pick(values) if values else 0
    return merge


def _extreme_reader(better: str) -> Reader:
    def combine(acc, p, typ) -> str:
        t = _c_type(typ)
        return (f"if ({p}->w[1] && (!{acc[1]} || ({t}){p}->w[0] {better} ({t}){acc[0]})) "
                f"{{ {acc[0]} = {p}->w[0]; {acc[1]} = 1; }}")
    return Reader(("0", "0"), combine, lambda acc, typ: acc[0])


# -- avg, stats: a total and a count ---------------------------------------------------------

def _fold_mean(gen, slot: str, value, typ) -> None:
    gen.line(f"{slot}->w[0] += (s64)({value.text}); {slot}->w[1] += 1;")


def _merge_stats(slots, typ) -> Stats:
    count = sum(s[1] for s in slots) & MASK64
    return Stats(count, _as_value(sum(s[0] for s in slots), typ.signed))


def _merge_avg(slots, typ) -> int:
    return _merge_stats(slots, typ).average


def _mean_value(acc, typ) -> str:
    total, count = acc
    if not typ.signed:
        return f"({count} ? (u64){total} / (u64){count} : 0)"
    # BPF divides unsigned only: divide the magnitude and put the sign back (C truncates).
    return (f"({count} ? ({total} < 0 ? -(s64)((u64)-{total} / (u64){count}) : "
            f"(s64)((u64){total} / (u64){count})) : 0)")


_MEAN = Reader(("0", "0"), lambda acc, p, typ: f"{acc[0]} += {p}->w[0]; {acc[1]} += {p}->w[1];",
               _mean_value)


# -- hist: log2 buckets, 2^k of them per power of two --------------------------------------------

# The C of ``histograms.log2_index``: bpftrace's numbering of log2 buckets.
LOG2_C = """\
static __always_inline u64 tracer_log2(s64 value, u64 k)
{
  if (value < 0) return 0;
  u64 n = (u64)value, mask = (1ULL << k) - 1;
  if (n <= mask) return n + 1;
  /* The leading 1's position by halving (BPF has no count-leading-zeros instruction). */
  u64 rest = n, top = 0;
  if (rest >> 32) { rest >>= 32; top += 32; }
  if (rest >> 16) { rest >>= 16; top += 16; }
  if (rest >> 8) { rest >>= 8; top += 8; }
  if (rest >> 4) { rest >>= 4; top += 4; }
  if (rest >> 2) { rest >>= 2; top += 2; }
  if (rest >> 1) { top += 1; }
  u64 shift = top - k;
  return ((shift + 1) << k) + ((n >> shift) & mask) + 1;
}"""


def _hist_buckets(typ: AggregateType) -> int:
    return log2_bucket_count(typ.params[0])


def _fold_bucket(gen, slot: str, index: str, buckets: int) -> None:
    i = gen.scalar(index, UINT64)
    # Hidden from clang, so that the bound checked is the register used to index: the verifier
    # must see both on the same value.
    gen.line(f'asm volatile("" : "+r"({i.text}));')
    gen.line(f"if ({i.text} < {buckets}) {slot}->w[{i.text}] += 1;")


def _fold_hist(gen, slot: str, value, typ) -> None:
    _fold_bucket(gen, slot, f"tracer_log2((s64)({value.text}), {typ.params[0]})",
                 _hist_buckets(typ))


def _add_slots(a, b) -> list[int]:
    return list(map(add, a, b))


def _merge_buckets(slots) -> list[int]:
    # Slot by slot, each added whole in C (zip and a sum per bucket is several times slower).
    counts = list(functools.reduce(_add_slots, slots)) if slots else []
    if counts and (min(counts) < 0 or max(counts) > MASK64):
        counts = [count & MASK64 for count in counts]
    return counts


# A map of thousands of histograms is merged at exit: most of each one's buckets are empty, and
# an empty bucket (immutable) is the same object in all of them, so only the buckets that have
# counts are made anew.

@functools.lru_cache(maxsize=None)
def _empty_log2(bits: int) -> Histogram:
    return log2_histogram([], bits)


@functools.lru_cache(maxsize=None)
def _empty_linear(low: int, high: int, step: int) -> Histogram:
    return linear_histogram([], low, high, step)


def _filled(empty: Histogram, counts: list[int]) -> Optional[Histogram]:
    """``empty`` with these counts in its buckets; None if they do not fit it one to one."""
    if len(counts) != len(empty.buckets):
        return None
    buckets = list(empty.buckets)
    for index in [i for i, count in enumerate(counts) if count]:
        bucket = buckets[index]
        buckets[index] = Bucket(bucket.lo, bucket.hi, counts[index])
    return Histogram(empty.kind, tuple(buckets), empty.bits)


def _merge_hist(slots, typ) -> Histogram:
    counts = _merge_buckets(slots)
    bits = typ.params[0]
    filled = _filled(_empty_log2(bits), counts)
    return filled if filled is not None else log2_histogram(counts, bits)


# -- lhist: linear buckets of `step` between min and max, and one each side ----------------------

# The C of ``histograms.linear_index``.
LINEAR_C = """\
static __always_inline u64 tracer_linear(s64 value, s64 min, s64 max, u64 step)
{
  if (value < min) return 0;
  if (value > max) return 1 + (u64)(max - min) / step;
  return 1 + (u64)(value - min) / step;
}"""


def _lhist_buckets(typ: AggregateType) -> int:
    return linear_bucket_count(*typ.params)


def _fold_lhist(gen, slot: str, value, typ) -> None:
    low, high, step = typ.params
    _fold_bucket(gen, slot, f"tracer_linear((s64)({value.text}), {low}LL, {high}LL, {step}ULL)",
                 _lhist_buckets(typ))


def _merge_lhist(slots, typ) -> Histogram:
    counts = _merge_buckets(slots)
    filled = _filled(_empty_linear(*typ.params), counts)
    return filled if filled is not None else linear_histogram(counts, *typ.params)


AGGREGATIONS: dict[str, Aggregation] = {a.name: a for a in [
    Aggregation("count", lambda t: 1, _fold_count, _merge_total, _TOTAL),
    Aggregation("sum", lambda t: 1, _fold_sum, _merge_total, _TOTAL),
    Aggregation("min", lambda t: 2, _fold_extreme("<"), _merge_extreme(min), _extreme_reader("<")),
    Aggregation("max", lambda t: 2, _fold_extreme(">"), _merge_extreme(max), _extreme_reader(">")),
    Aggregation("avg", lambda t: 2, _fold_mean, _merge_avg, _MEAN),
    Aggregation("stats", lambda t: 2, _fold_mean, _merge_stats),
    Aggregation("hist", _hist_buckets, _fold_hist, _merge_hist, support=LOG2_C),
    Aggregation("lhist", _lhist_buckets, _fold_lhist, _merge_lhist, support=LINEAR_C),
]}


# -- type rules: the call -> its AggregateType ---------------------------------------------------

def _integer_value(ck, call: ast.Call, typ: Optional[Type]) -> bool:
    if typ is not None and not typ.is_integral:
        ck.error(call.args[0].span, f"{call.name}() only supports integer arguments "
                                    f"({typ} provided)")
        return False
    return typ is not None


def _count_type(ck, call, arg_types) -> AggregateType:
    return AggregateType("count")


def _value_type(ck, call, arg_types) -> Optional[AggregateType]:
    if not _integer_value(ck, call, arg_types[0]):
        return None
    signed = arg_types[0].is_int and arg_types[0].signed
    return AggregateType(call.name, (), signed)


def _hist_type(ck, call, arg_types) -> Optional[AggregateType]:
    bits = 0
    if len(call.args) > 1:
        bits = ck.constant_int(call.args[1])
        if not 0 <= bits <= MAX_HIST_BITS:
            ck.error(call.args[1].span, f"hist: bits {bits} must be 0..{MAX_HIST_BITS}")
            return None
    if not _integer_value(ck, call, arg_types[0]):
        return None
    return AggregateType("hist", (bits,), True)


def _lhist_type(ck, call, arg_types) -> Optional[AggregateType]:
    low, high, step = (ck.constant_int(a) for a in call.args[1:4])
    problem = None
    if step <= 0:
        problem = f"lhist() step must be >= 1 ({step} provided)"
    elif low > high:
        problem = f"lhist() min must be less than max (provided min {low} and max {high})"
    elif high - low < step:
        problem = (f"lhist() step is too large for the given range (provided step {step} "
                   f"for range {high - low})")
    elif (high - low) // step > MAX_LHIST_BUCKETS:
        problem = (f"lhist() too many buckets, must be <= {MAX_LHIST_BUCKETS} (would need "
                   f"{(high - low) // step})")
    if problem is not None:
        ck.error(call.span, problem)
        return None
    if not _integer_value(ck, call, arg_types[0]):
        return None
    return AggregateType("lhist", (low, high, step), True)


def _not_a_value(gen, call: ast.Call):
    raise AssertionError(f"{call.name}() is an aggregation: its map assignment emits it")


def _aggregation(name: str, doc: str, params: tuple, rule) -> Function:
    return Function(name, doc, Signature(params, places=MAP_VALUE_ONLY), rule, _not_a_value,
                    aggregation=AGGREGATIONS[name])


_VALUE = (Param("value", Kind.INT),)

FUNCTIONS = [
    _aggregation("count", "count how often the map entry is reached", (), _count_type),
    _aggregation("sum", "add up the values", _VALUE, _value_type),
    _aggregation("min", "keep the smallest value", _VALUE, _value_type),
    _aggregation("max", "keep the largest value", _VALUE, _value_type),
    _aggregation("avg", "average the values", _VALUE, _value_type),
    _aggregation("stats", "count, average and total of the values", _VALUE, _value_type),
    _aggregation("hist", "a log2 histogram of the values (k: 2^k buckets per power of 2)",
                 (Param("value", Kind.INT), Param("k", Kind.INT_LITERAL, optional=True)),
                 _hist_type),
    _aggregation("lhist", "a linear histogram of the values",
                 (Param("value", Kind.INT), Param("min", Kind.INT_LITERAL),
                  Param("max", Kind.INT_LITERAL), Param("step", Kind.INT_LITERAL)),
                 _lhist_type),
]


def _int64(typ: AggregateType) -> Type:
    return INT64 if typ.signed else UINT64
