"""CEL literals of user values. Every value a person typed reaches CEL only through here.

A string becomes a double-quoted CEL string whose quote, backslash and every control or
non-printable character is escaped, so no value can end the literal or add syntax; a number
is formatted from a Python ``int``/``float``, never from the text the person typed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_SIMPLE_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _escape(character: str) -> str:
    simple = _SIMPLE_ESCAPES.get(character)
    if simple is not None:
        return simple
    if character.isprintable():
        return character
    code = ord(character)
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError("lone surrogate")
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def string(value: str) -> str:
    """``"..."`` with every character that could break out of the literal escaped."""
    if not isinstance(value, str):
        raise TypeError("string literal of a non-string")
    return '"' + "".join(_escape(character) for character in value) + '"'


def integer(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("integer literal of a non-integer")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("integer out of range")
    return str(value)


def double(value: float) -> str:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("number is not finite")
    text = repr(number)
    return text if any(c in text for c in ".en") else f"{text}.0"


def boolean(value: bool) -> str:
    return "true" if value is True else "false"


def timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamp literal needs an aware datetime")
    moment = value.astimezone(UTC)
    return f'timestamp("{moment.strftime("%Y-%m-%dT%H:%M:%SZ")}")'


def seconds(value: int) -> str:
    return f'duration("{integer(value)}s")'


def list_of(items: Iterable[str]) -> str:
    """A CEL list of literals already made by the functions above."""
    return "[" + ", ".join(items) + "]"
