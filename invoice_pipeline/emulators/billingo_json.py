"""The emulator's JSON dialect and the stored form of a served document.

Money is exact: integer minor units (cents), written as the shortest decimal text (``1234``,
``12.5``, ``-0.35``). ``json.loads(parse_float=Decimal)`` reads that back as the exact amount,
and ``float`` repr round-trips it unchanged, so ``encode(json.loads(body)) == body``: a document
re-encoded after a change looks exactly like a generated one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PAID_STATUSES = frozenset({"paid", "partially_paid"})

encode_str = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
).encode


def encode(obj: Any) -> bytes:
    """The one JSON dialect of the emulator: compact, UTF-8, non-ASCII kept."""
    return encode_str(obj).encode()


def money(cents: int) -> str:
    """Minor units as the shortest exact decimal text: 150000 -> "1500", 1250 -> "12.5"."""
    if cents % 100 == 0:
        return str(cents // 100)
    sign, a = ("-", -cents) if cents < 0 else ("", cents)
    return f"{sign}{a // 100}.{a % 100:02d}".rstrip("0")


def round_div(a: int, b: int) -> int:
    """``a / b`` rounded half away from zero (``b > 0``), like ``ROUND_HALF_UP`` on Decimal."""
    q = (abs(a) * 2 + b) // (2 * b)
    return -q if a < 0 else q


@dataclass(slots=True)
class DocRecord:
    """One served document: its bytes plus the fields filters and ordering need."""

    id: int
    body: bytes
    type: Any = None
    payment_status: Any = None
    payment_method: Any = None
    invoice_date: Any = None
    paid_date: Any = None  # the real payment date, None unless paid or partially paid
    block_id: Any = None
    partner_id: Any = None
    follows_today: bool = False  # served paid_date is "today" (the live quirk), moves with it
    modified: int = 0  # last modification, epoch seconds (the ``last_modified_date`` filter)

    @classmethod
    def from_dict(cls, doc_id: int, doc: Any, raw: bool = False) -> DocRecord:
        """Any JSON value (or ``bytes``, served verbatim) under the given id; ``raw`` ones
        (possibly invalid, put in place by a test) are served exactly as given, even when the
        emulator's today changes."""
        d = doc if isinstance(doc, dict) else {}
        partner = d.get("document_partner")
        status = d.get("payment_status")
        return cls(
            id=doc_id,
            body=doc if isinstance(doc, bytes) else encode(doc),
            type=d.get("type"),
            payment_status=status,
            payment_method=d.get("payment_method"),
            invoice_date=d.get("invoice_date"),
            paid_date=d.get("paid_date") if status in PAID_STATUSES else None,
            block_id=d.get("block_id"),
            partner_id=partner.get("id") if isinstance(partner, dict) else None,
            follows_today=not raw and status not in PAID_STATUSES,
        )

    def to_dict(self) -> Any:
        """The served document parsed; bytes that are not UTF-8 (put in place by a test) are
        read with U+FFFD in their place."""
        return json.loads(self.body.decode("utf-8", errors="replace"))
