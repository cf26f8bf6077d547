"""Validation of one Billingo ``GET /documents`` page into a ``ValidatedPage``."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from typing import Any

from pydantic import ValidationError

from invoice_pipeline.billingo.models import DOCUMENT_PAGE, LOOSE_PAGE, Document
from invoice_pipeline.sync.gc_pause import gc_paused
from invoice_pipeline.sync.pages import ValidatedPage, format_validation_error


def validate_page(body: bytes) -> ValidatedPage:
    """Validate every document of a page; raise ValueError if the page itself is malformed.

    The fast path validates the whole page in pydantic-core. Only when a document fails are
    the failures located (by their error paths) and the page re-read loosely for the ids.
    The cyclic garbage collector is paused meanwhile (``gc_paused``).
    """
    with gc_paused():
        return _validate_page(body)


def _validate_page(body: bytes) -> ValidatedPage:
    try:
        page = DOCUMENT_PAGE.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors) and not _is_utf8(body):
            return _with_invalid_utf8(body)
        by_doc: dict[int, list[dict[str, Any]]] = defaultdict(list)
        envelope: list[dict[str, Any]] = []
        for err in errors:
            loc = err["loc"]
            if len(loc) >= 2 and loc[0] == "data" and isinstance(loc[1], int):
                by_doc[loc[1]].append({**err, "loc": loc[2:]})
            else:
                envelope.append(err)
        if envelope:
            raise ValueError(f"not a document page ({format_validation_error(envelope)})") from None
        return _partially_valid(body, by_doc)
    docs = page["data"]
    paid_dates = [_paid_date(d) for d in docs]
    return ValidatedPage(
        body=body,
        ids=[d["id"] for d in docs],
        volatile=[volatile for volatile, _ in paid_dates],
        settled=[settled for _, settled in paid_dates],
        total=page.get("total"),
        last_page=page.get("last_page"),
        current_page=page.get("current_page"),
    )


def _paid_date(doc: Document) -> tuple[str | None, str | None]:
    """The ``paid_date`` member's text as (volatile, settled): volatile on an unpaid
    document, where it is today's date (notes P5), not content; content on a paid one."""
    paid = doc.get("paid_date")
    if not paid:
        return None, None
    text = f'"paid_date":"{paid}"'
    if (doc.get("payment_status") or "").lower() in ("paid", "partially_paid"):
        return None, text
    return text, None


_PAID_DATE = re.compile(rb'"paid_date":"(\d{4}-\d{2}-\d{2})"')


def still_volatile(fragments: list[bytes]) -> bool:
    """Whether the bytes found where a page's volatile fragments were (``_paid_date``: the
    ``paid_date`` of unpaid documents) are such fragments still: a valid date each."""
    for fragment in fragments:
        found = _PAID_DATE.fullmatch(fragment)
        if found is None:
            return False
        try:
            date.fromisoformat(found.group(1).decode())
        except ValueError:
            return False
    return True


def _partially_valid(body: bytes, by_doc: dict[int, list[dict[str, Any]]]) -> ValidatedPage:
    loose = LOOSE_PAGE.validate_json(body)
    raw = loose["data"]
    ids = [_int_or_none(d.get("id")) if isinstance(d, dict) else None for d in raw]
    rejected = {}
    for index, errors in by_doc.items():
        doc = raw[index] if isinstance(raw[index], dict) else {}
        number = doc.get("invoice_number")
        rejected[index] = {
            "invoice_id": ids[index],
            "invoice_number": number if isinstance(number, str) else None,
            "error": format_validation_error(errors),
        }
    return ValidatedPage(
        body=body,
        ids=ids,
        rejected=rejected,
        total=loose.get("total"),
        last_page=loose.get("last_page"),
        current_page=loose.get("current_page"),
    )


def _int_or_none(value: object) -> int | None:
    """An id the warehouse can hold (BIGINT), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _with_invalid_utf8(body: bytes) -> ValidatedPage:
    """A page whose bytes are not all UTF-8: the documents with a bad byte are rejected
    (their true text is unknowable), the others are validated and loaded as usual.

    The page is validated and stored with U+FFFD in place of each bad byte; only the
    rejected documents' bytes differ from what was received.
    """
    text = body.decode("utf-8", errors="surrogateescape")  # bad bytes -> lone surrogates
    try:
        raw = json.loads(text)
    except ValueError:
        raise ValueError("not a document page (invalid JSON and not UTF-8)") from None
    page = validate_page(body.decode("utf-8", errors="replace").encode())
    data = raw.get("data") if isinstance(raw, dict) else None
    for index, doc in enumerate(data if isinstance(data, list) else []):
        where = _bad_text(doc)
        if where is not None and index < len(page.ids):
            number = doc.get("invoice_number") if isinstance(doc, dict) else None
            page.rejected.setdefault(
                index,
                {
                    "invoice_id": page.ids[index],
                    "invoice_number": _clean(number) if isinstance(number, str) else None,
                    "error": f"{where}: not valid UTF-8",
                },
            )
    return page


def _bad_text(value: object, path: str = "") -> str | None:
    """The path of the first key or string holding a byte that was not UTF-8, or None."""
    if isinstance(value, str):
        return path or "document" if _has_bad_byte(value) else None
    items: Any = ()
    if isinstance(value, dict):
        for key in value:
            if _has_bad_byte(key):
                return f"{path}.{_clean(key)}".lstrip(".")
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _bad_text(item, f"{path}.{key}".lstrip("."))
        if found is not None:
            return found
    return None


def _has_bad_byte(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _clean(text: str) -> str:
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
