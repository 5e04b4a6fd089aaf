"""The parts of scripts/fuzz, one job each:

cases       which program is tried at each index (the mix of sources), from (seed, index)
vocab       the words both generators use: attach points, builtins, functions, literals
generator   plausible programs, hand-written and weighted (statements; ``expressions`` writes
            the expressions of each kind)
grammar     programs made by expanding grammar/tracer.lark rule by rule
mutator     byte- and word-level mutations of generated programs
stress      extreme sizes: deep nesting, huge literals, long strings and names, many probes
runner      worker processes with time limits; outcomes classified, failures grouped by cause
targets     what a case is run through: tracer's compiler, then optionally BCC
reduce      shrinks a failing program to a small one that fails alike
report      the failure files and the summary
"""
