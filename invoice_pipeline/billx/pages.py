"""BillX list entries and invoice details -> ``ValidatedPage``s for the shared loader.

An invoice's lines are only in its detail (``GET /invoices/{id}``), so a list page is first
planned (``plan_invoices``): each entry is validated and hashed, and only invoices that are
new, whose entry changed since their stored detail was fetched, or that are drafts (still
editable) are fetched. The page handed to the loader holds those details exactly as received.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from invoice_pipeline.billx.models import Detail, Summary
from invoice_pipeline.sync.pages import ValidatedPage, format_validation_error

MUTABLE_TYPES = frozenset({"draft"})  # type or status: fetched on every sync (editable)


def listing_hash(entry: object) -> str:
    """MD5 of a list entry's canonical JSON (sorted keys, exact amounts)."""
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.md5(text.encode()).hexdigest()


def validation_error(exc: ValidationError) -> str:
    """``format_validation_error`` without pydantic's internal union and validator tags."""
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "is_instance_of":
            msg = "Input should be a number"
        errors.append({**err, "loc": loc, "msg": msg})
    return format_validation_error(errors)


def error_entry(entry: object, error: str) -> dict[str, Any]:
    """The sync-log error of one invoice, with its id and number when it has usable ones."""
    doc = entry if isinstance(entry, dict) else {}
    number = doc.get("invoice_number")
    return {
        "invoice_id": entry_id(entry),
        "invoice_number": number if isinstance(number, str) else None,
        "error": error,
    }


def entry_id(entry: object) -> int | None:
    """A list entry's id if the warehouse can hold it (a positive BIGINT), else None."""
    value = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    return None


@dataclass
class Planned:
    """One invoice list page, decided: ``fetch`` (id, list entry hash) need their detail."""

    fetch: list[tuple[int, str]] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    numbers: dict[int, str | None] = field(default_factory=dict)


def plan_invoices(entries: list[Any], known: Mapping[int, str]) -> Planned:
    """Validate and hash every entry; ``known`` maps invoice id -> the stored entry hash."""
    plan = Planned()
    for entry in entries:
        try:
            summary = Summary.model_validate(entry)
        except ValidationError as exc:
            plan.rejected.append(error_entry(entry, validation_error(exc)))
            continue
        digest = listing_hash(entry)
        kinds = {(summary.invoice_type or "").lower(), (summary.status or "").lower()}
        mutable = not kinds.isdisjoint(MUTABLE_TYPES)
        if not mutable and known.get(summary.id) == digest:
            plan.unchanged.append(summary.id)
        else:
            plan.fetch.append((summary.id, digest))
            plan.numbers[summary.id] = summary.invoice_number
    return plan


@dataclass(frozen=True)
class FetchedDetail:
    """``GET /invoices/{id}``: the body as received and parsed, or why there is none."""

    body: bytes | None
    parsed: object = None
    error: str | None = None


def invoice_page(plan: Planned, details: list[FetchedDetail]) -> ValidatedPage:
    """The loader's page: the fetched details (as received) in list order, then a ``null``
    placeholder per rejected invoice so that its error reaches the sync log."""
    bodies: list[bytes] = []
    ids: list[int | None] = []
    hashes: list[str | None] = []
    rejected: dict[int, dict[str, Any]] = {}
    for (invoice_id, digest), detail in zip(plan.fetch, details, strict=True):
        error = detail.error or _detail_error(invoice_id, detail.parsed)
        if error is not None:
            number = plan.numbers.get(invoice_id)
            rejected[len(ids)] = {
                "invoice_id": invoice_id,
                "invoice_number": number,
                "error": error,
            }
        bodies.append(detail.body if error is None and detail.body is not None else b"null")
        ids.append(invoice_id)
        hashes.append(digest)
    for entry in plan.rejected:
        rejected[len(ids)] = entry
        bodies.append(b"null")
        ids.append(entry["invoice_id"])
        hashes.append(None)
    return ValidatedPage(
        body=b'{"data":[' + b",".join(bodies) + b"]}",
        ids=ids,
        rejected=rejected,
        listing_hashes=hashes,
        unchanged=plan.unchanged,
    )


def _detail_error(invoice_id: int, parsed: object) -> str | None:
    try:
        detail = Detail.model_validate(parsed)
    except ValidationError as exc:
        return validation_error(exc)
    if detail.id != invoice_id:
        return f"id: the detail of invoice {invoice_id} has id {detail.id}"
    return None


def catalog_page(
    body: bytes, entries: list[Any], repeated: set[int], model: type[BaseModel], what: str
) -> ValidatedPage:
    """One ``/customers`` or ``/products`` page; a rejected entry's error names it by id.
    Entries already seen on an earlier page get no id (the loader skips them)."""
    ids = [None if i in repeated else entry_id(e) for i, e in enumerate(entries)]
    rejected: dict[int, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        if index in repeated:
            continue
        try:
            model.model_validate(entry)
        except ValidationError as exc:
            label = f"{what} {ids[index]}" if ids[index] is not None else what
            error = f"{label}: {validation_error(exc)}"
            rejected[index] = {"invoice_id": None, "invoice_number": None, "error": error}
    return ValidatedPage(body=body, ids=ids, rejected=rejected)
