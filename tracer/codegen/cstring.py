"""The one way user text enters generated C: as an escaped string literal.

Every byte that is not plain printable ASCII, and every quote, backslash, question mark
(trigraphs), `*` and `/` (so no comment marker appears even inside the literal) becomes a
three-digit octal escape: nothing the user writes can end the literal or be read as code.
"""

SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()+,-.:;<=>@[]^_`{|}~")


def c_string_literal(data: bytes) -> str:
    return '"' + "".join(chr(b) if b in SAFE else f"\\{b:03o}" for b in data) + '"'


def c_comment_safe(text: str) -> str:
    """Text for a C comment (attach point names, for people reading -d output): anything that
    could close the comment or is not printable ASCII is replaced."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text).replace("*/", "*?")
