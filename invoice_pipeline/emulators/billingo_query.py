"""Validation of Billingo list query parameters, Laravel style: every bad field reported at once
as ``{"field", "message"}`` for a 422, otherwise a normalized, hashable filter key."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from invoice_pipeline.emulators.billingo_clock import parse_local
from invoice_pipeline.emulators.billingo_json import DocRecord

PAYMENT_STATUSES = frozenset({"expired", "none", "outstanding", "paid", "partially_paid"})
DOCUMENT_TYPES = frozenset(
    {"advance", "cancellation", "cert_of_completion", "d_cert_of_completion", "dossier", "draft",
     "draft_offer", "draft_order_form", "draft_waybill", "invoice", "modification", "offer",
     "order_form", "proforma", "receipt", "receipt_cancellation", "waybill"}
)  # fmt: skip
_DATE_FILTERS = ("start_date", "end_date", "paid_start_date", "paid_end_date")
_ID_FILTERS = ("block_id", "partner_id")
_DIGITS = re.compile(r"\d{1,18}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Filters = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class ListQuery:
    page: int
    per_page: int
    filters: Filters  # sorted (name, normalized value) pairs, the cache key


def _label(name: str) -> str:
    return name.replace("_", " ")


def parse_list_query(
    pairs: list[tuple[str, str]], with_filters: bool
) -> ListQuery | list[dict[str, str]]:
    """The normalized query, or the validation errors. Unknown parameters are ignored (the
    live API has more filters, e.g. ``query``; ignoring one only returns a superset).
    ``last_modified_date`` (``"YYYY-MM-DD HH:MM:SS"`` or ``"YYYY-MM-DD"``, server-local time)
    keeps documents modified at or after it; it is normalized to epoch seconds."""
    params = dict(pairs)  # the last value of a repeated parameter wins, as in PHP
    errors: list[dict[str, str]] = []

    def error(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    page = per_page = 0
    for name, default, low, high in (("page", 1, 1, None), ("per_page", 25, 1, 100)):
        raw = params.get(name)
        value = default
        if raw is not None:
            if not _DIGITS.fullmatch(raw):
                error(name, f"The {_label(name)} must be an integer.")
                continue
            value = int(raw)
            if value < low or (high is not None and value > high):
                bounds = f"between {low} and {high}" if high else f"at least {low}"
                error(name, f"The {_label(name)} must be {bounds}.")
        if name == "page":
            page = value
        else:
            per_page = value
    filters: list[tuple[str, Any]] = []
    if with_filters:
        for name in _DATE_FILTERS:
            raw = params.get(name)
            if raw is not None:
                if _valid_date(raw):
                    filters.append((name, raw))
                else:
                    error(name, f"The {_label(name)} does not match the format Y-m-d.")
        for name in _ID_FILTERS:
            raw = params.get(name)
            if raw is not None:
                if _DIGITS.fullmatch(raw):
                    filters.append((name, int(raw)))
                else:
                    error(name, f"The {_label(name)} must be an integer.")
        for name, allowed in (("payment_status", PAYMENT_STATUSES), ("type", DOCUMENT_TYPES)):
            raw = params.get(name)
            if raw is not None:
                if raw in allowed:
                    filters.append((name, raw))
                else:
                    error(name, f"The selected {_label(name)} is invalid.")
        raw = params.get("last_modified_date")
        if raw is not None:
            since = parse_local(raw)
            if since is not None:
                filters.append(("last_modified_date", since))
            else:
                error(
                    "last_modified_date",
                    "The last modified date does not match the format Y-m-d H:i:s.",
                )
        if params.get("payment_method"):
            filters.append(("payment_method", params["payment_method"]))
    if errors:
        return errors
    return ListQuery(page, per_page, tuple(sorted(filters)))


def _valid_date(raw: str) -> bool:
    if not _ISO_DATE.fullmatch(raw):
        return False
    try:
        date.fromisoformat(raw)
    except ValueError:
        return False
    return True


def predicate(filters: Filters) -> Callable[[DocRecord], bool]:
    """A test on the record's indexed fields. ``paid_*_date`` only match documents that are
    paid or partially paid: the served ``paid_date`` of the others is just today's date.
    ``last_modified_date`` (epoch seconds here) keeps records modified at or after it."""
    tests: list[Callable[[DocRecord], bool]] = []
    for name, value in filters:
        if name == "start_date":
            tests.append(lambda r, v=value: isinstance(r.invoice_date, str) and r.invoice_date >= v)
        elif name == "end_date":
            tests.append(lambda r, v=value: isinstance(r.invoice_date, str) and r.invoice_date <= v)
        elif name == "paid_start_date":
            tests.append(lambda r, v=value: isinstance(r.paid_date, str) and r.paid_date >= v)
        elif name == "paid_end_date":
            tests.append(lambda r, v=value: isinstance(r.paid_date, str) and r.paid_date <= v)
        elif name == "last_modified_date":
            tests.append(lambda r, v=value: r.modified >= v)
        else:
            tests.append(lambda r, n=name, v=value: getattr(r, n) == v)
    return lambda record: all(test(record) for test in tests)
