"""The BillX emulator's JSON dialect: compact UTF-8, and money written from ``Decimal`` exactly.

Amounts are ``decimal.Decimal`` (or ``int``) end to end and go on the wire as the Decimal's own
text: an integer when whole (``105000``), else the shortest exact decimal (``3086.43``,
``12.5``). No float ever takes part, so ``0.30000000000000004`` cannot appear. ``loads`` reads
fractions back as ``Decimal`` (``parse_float=Decimal``), so ``dumps(loads(body)) == body``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

#: JSON string literal of ``s`` with non-ASCII kept (the C-accelerated stdlib escaper).
js: Callable[[str], str] = json.encoder.encode_basestring


def num(value: int | Decimal) -> str:
    """A number's JSON text: ``Decimal("12.50")`` -> ``12.5``, ``Decimal("100.00")`` -> ``100``."""
    if type(value) is int:
        return str(value)
    text = str(value)
    if "E" in text:  # exponent notation (e.g. Decimal("1E+2")): write it out in full
        text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _write(obj: Any, out: list[str]) -> None:
    if isinstance(obj, str):
        out.append(js(obj))
    elif obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int | Decimal):
        out.append(num(int(obj) if isinstance(obj, int) else obj))
    elif isinstance(obj, float):
        out.append(json.dumps(obj))  # only from a test's raw data; kept as given
    elif isinstance(obj, dict):
        out.append("{")
        first = True
        for key, value in obj.items():
            if not first:
                out.append(",")
            first = False
            out.append(js(str(key)))
            out.append(":")
            _write(value, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _write(value, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any) -> bytes:
    """Any JSON value (Decimals included) as compact UTF-8 bytes."""
    out: list[str] = []
    _write(obj, out)
    return "".join(out).encode()


def loads(raw: bytes | str) -> Any:
    """JSON with fractions as ``Decimal``; integers stay ``int``."""
    return json.loads(raw, parse_float=Decimal)
