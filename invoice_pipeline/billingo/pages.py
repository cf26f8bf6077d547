"""Validation of one Billingo ``GET /documents`` page into a ``ValidatedPage``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from invoice_pipeline.billingo.models import Document
from invoice_pipeline.sync.pages import ValidatedPage, format_validation_error


class _TypedPage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: list[Document]
    total: int | None = None
    last_page: int | None = None


class _LoosePage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: list[Any]
    total: int | None = None
    last_page: int | None = None


def validate_page(body: bytes) -> ValidatedPage:
    """Validate every document of a page; raise ValueError if the page itself is malformed.

    The fast path validates the whole page in pydantic-core. Only when a document fails are
    the failures located (by their error paths) and the page re-read loosely for the ids.
    """
    try:
        page = _TypedPage.model_validate_json(body)
    except ValidationError as exc:
        by_doc: dict[int, list[dict[str, Any]]] = defaultdict(list)
        envelope: list[dict[str, Any]] = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = err["loc"]
            if len(loc) >= 2 and loc[0] == "data" and isinstance(loc[1], int):
                by_doc[loc[1]].append({**err, "loc": loc[2:]})
            else:
                envelope.append(err)
        if envelope:
            raise ValueError(f"not a document page ({format_validation_error(envelope)})") from None
        return _partially_valid(body, by_doc)
    return ValidatedPage(
        body=body,
        ids=[d.id for d in page.data],
        volatile=[_volatile(d) for d in page.data],
        total=page.total,
        last_page=page.last_page,
    )


def _volatile(doc: Document) -> str | None:
    """``paid_date`` is today's date on every unpaid document (notes P5): not content."""
    if doc.paid_date and (doc.payment_status or "").lower() not in ("paid", "partially_paid"):
        return f'"paid_date":"{doc.paid_date}"'
    return None


def _partially_valid(body: bytes, by_doc: dict[int, list[dict[str, Any]]]) -> ValidatedPage:
    loose = _LoosePage.model_validate_json(body)
    raw = loose.data
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
        body=body, ids=ids, rejected=rejected, total=loose.total, last_page=loose.last_page
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
