"""Programs at the extremes of size: nesting hundreds to thousands of levels deep, literals of
thousands of digits, strings of tens of kilobytes, names of thousands of characters, thousands
of probes or statements.

Why: recursive walks (the checker, the code generator, the macro expander) overflow the stack,
quadratic passes blow the time limit, and fixed-size buffers overflow only at these sizes --
none of which a program of ordinary size reaches. Sizes are drawn so that most cases stay
cheap (the fuzzer runs thousands of programs a minute) and a few go to the limits bpftrace
itself accepts (5,000 levels of nesting) and past tracer's own (10,000).
"""

from __future__ import annotations

import random

from .vocab import weighted


def _depth(rng: random.Random) -> int:
    return weighted(rng, [(6, rng.randint(100, 600)), (3, rng.randint(600, 2500)),
                          (1.5, rng.randint(4000, 5000)), (0.5, rng.randint(10_000, 10_100))])


def _wrap(body: str) -> str:
    return f"BEGIN {{ {body} }}"


# Nesting: an opener, the innermost text, a closer, and the statement around the whole.
NESTINGS = [
    ("-(", "1", ")", "@x = {};"),
    ("(", "pid", ")", "@x = {};"),
    ("!", "pid", "", "@x = {};"),
    ("~", "1", "", "$a = {};"),
    ("- ", "1", "", "$a = {};"),
    ("str(", '"s"', ")", "@s = {};"),
    ("strlen(str(", "comm", "))", "@x = {};"),
    ("(uint8)", "1", "", "@x = {};"),
    ("1 + ", "1", "", "@x = {};"),
    ("(1, ", "2", ")", "@t = {};"),
    ("pid ? ", "1", " : 2", "@x = {};"),
    ("(0 ? 1 : ", "2", ")", "@x = {};"),
    ("if (1) { ", "@x = 1;", " }", "{}"),
    ("{ ", "@x = 1;", " }", "{}"),
    ("while (0) { ", "@x = 1;", " }", "{}"),
    ("unroll(1) { ", "@x = 1;", " }", "{}"),
    ("for ($i{n} : 0..1) { ", "@x = 1;", " }", "{}"),
    ("@m[", "1", "]", "@m[0] = 0; @x = {};"),
    ("$a++ + ", "1", "", "$a = 1; @x = {};"),
    ("sizeof(", "1", ")", "@x = {};"),
    ("(bool)", "1", "", "@x = {};"),
    ("((", "1", ", 2).0)", "@x = {};"),
    ("{n} + ", "1", "", "@x = {};"),
]


def nesting(rng: random.Random) -> str:
    opener, inner, closer, stmt = rng.choice(NESTINGS)
    depth = _depth(rng)
    if "{n}" in opener:  # a name or number per level (loop variables must not shadow)
        head = "".join(opener.replace("{n}", str(i)) for i in range(depth))
    else:
        head = opener * depth
    expr = head + inner + closer * depth
    if rng.random() < 0.1:
        expr = head + inner  # unbalanced: the parser's error path at depth
    return _wrap(stmt.replace("{}", expr, 1) if "{}" in stmt else expr)


def nested_macros(rng: random.Random) -> str:
    """Macros calling macros: a chain of expansions, or one that calls itself."""
    n = rng.choice([5, 50, 99, 100, 101, 300])
    defs = [f"macro m{i}(x) {{ m{i + 1}(x) + 1 }}" for i in range(n)]
    defs.append(f"macro m{n}(x) {{ x }}" if rng.random() < 0.7 else f"macro m{n}(x) {{ m0(x) }}")
    return "\n".join(defs) + "\n" + _wrap("@x = m0(1);")


def huge_literal(rng: random.Random) -> str:
    digits = "9" * rng.choice([21, 23, 100, 1000, 5000, 20000])
    places = [f"@x = {digits};", f"@x = 0x{'f' * len(digits)};", f"@x = -{digits};",
              f"@x = {digits}ms;", f"@x = 1e{digits};", f"@x = 0{'7' * len(digits)};",
              f"unroll({digits}) {{ @x = 1; }}", f"@x = str(comm, {digits});",
              f"$t = (1, 2); @x = $t.{digits};", f"@x = ${digits};",
              f"for ($i : 0..{digits}) {{ @x = 1; }}", f"@x[{digits}] = 1;",
              f'printf("%{digits}d", 1);', f'printf("%.{digits}s", "a");',
              f"@x = sizeof(string[{digits}]);", f"let $s: string[{digits}] = \"a\";"]
    if rng.random() < 0.15:
        return f"config = {{ max_strlen = {digits} }} " + _wrap('@s = "a";')
    if rng.random() < 0.1:
        return f"interval:s:{digits} {{ exit(); }}"
    return _wrap(rng.choice(places))


def long_string(rng: random.Random) -> str:
    size = rng.choice([1000, 5000, 20_000, 60_000])
    piece = rng.choice(["a", "\\n", "\\x41", "%d", "%%", "\u00e9", "\\377", "%s"])
    body = piece * (size // len(piece))
    places = [f'@s = "{body}";', f'printf("{body}");', f'@m["{body}"] = 1;',
              f'$s = "{body}"; @x = strlen($s);', f'@x = strcontains(comm, "{body}");',
              f'if ("{body}" == comm) {{ exit(); }}', f'@x = strncmp("{body}", comm, 5);',
              f'@x = ("{body}", 1);', f'@s = str("{body}", 1000000);']
    if rng.random() < 0.1:
        return f'config = {{ max_strlen = {size} }} ' + _wrap(rng.choice(places))
    return _wrap(rng.choice(places))


def many(rng: random.Random) -> str:
    n = weighted(rng, [(5, rng.randint(200, 1000)), (2, rng.randint(1000, 3000))])
    shape = rng.randrange(7)
    if shape == 0:  # probes
        return "\n".join(f"BEGIN {{ @a[{i}] = {i}; }}" for i in range(n))
    if shape == 1:  # attach points in one probe
        return ", ".join(["BEGIN", "END"] * (n // 2)) + " { @x = count(); }"
    if shape == 2:  # statements
        return _wrap(" ".join(f"$a{i % 50} = {i}; @m{i % 20}[{i}] = $a{i % 50};" for i in range(n)))
    if shape == 3:  # maps
        return _wrap(" ".join(f"@m{i} = {i};" for i in range(n)))
    if shape == 4:  # variables
        return _wrap(" ".join(f"$v{i} = {i};" for i in range(n)))
    if shape == 5:  # printf arguments
        return _wrap(f'printf("{"%d " * n}", {", ".join(["1"] * n)});')
    return _wrap(" ".join(f'printf("%d %s\\n", {i}, comm);' for i in range(n)))


def long_names(rng: random.Random) -> str:
    """Names of thousands of characters, where names go: variables, maps, macros, fields,
    attach points, config keys, types, and comments."""
    name = "a" * rng.choice([100, 5000, 50_000])
    places = [_wrap(f"${name} = 1; @x = ${name};"), _wrap(f"@{name}[1] = 1;"),
              f"macro {name}(x) {{ x }} " + _wrap(f"@x = {name}(1);"),
              f"tracepoint:syscalls:{name} {{ exit(); }}", f"interval:s:1{name} {{ exit(); }}",
              f"tracepoint:raw_syscalls:sys_enter {{ @x = args.{name}; }}",
              f"config = {{ {name} = 1 }} " + _wrap("exit();"), _wrap(f"@x = (uint{name})1;"),
              _wrap(f"@x = (struct {name} *)0;"), _wrap(f"/* {name} */ exit(); // {name}"),
              _wrap(f"@x = {name};"), _wrap(f"{name}();"), _wrap(f"$t = (1, 2); @x = $t.{name};"),
              _wrap(f"@x = ({name} = 1).{name};")]
    return rng.choice(places)


KINDS = [(4, nesting), (1, nested_macros), (2, huge_literal), (2, long_string), (2, many),
         (1, long_names)]


def generate(rng: random.Random) -> str:
    return weighted(rng, KINDS)(rng)
