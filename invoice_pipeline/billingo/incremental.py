"""Billingo incremental sync: what changed since the last COMPLETED sync, in a few filtered
crawls. Documents carry no modification time; only the list filter ``last_modified_date``
knows one, and its live semantics are unverified (notes §6), so cheap safety nets back it up.

In order, each crawl held to its own filtered ``total`` (a short crawl ends PARTIAL):

1. ``GET /utils/time``: the server's clock and zone. The watermark (when the last COMPLETED
   sync started, this machine's clock) moves onto the server's clock by the skew measured
   now, less ``OVERLAP`` (clock drift, the daylight-saving hour the wall-clock text cannot
   tell apart), and is written as the server's wall time.
2. ``last_modified_date=<watermark>``: every document the server stamped since: new ones,
   payments, cancellations (the flipped original and the new cancellation document), status
   and any other edits. The main signal.
3. ``start_date=<newest stored invoice date - 3 days>``: new documents even if the filter
   missed them (invoice dates only move forward in a block under NAV rules; notes §6).
4. ``paid_start_date=<watermark's server date - 3 days>``: payments registered since, dated
   up to 3 days before the last sync, even unstamped.
5. ``payment_status=expired&start_date=<oldest stored outstanding invoice now past due>``:
   outstanding -> expired happens by the calendar, not by an edit, so a server may not stamp
   it. Only when such invoices are stored (within ``EXPIRY_WINDOW_DAYS``).
6. ``GET /documents/{id}`` of the original of every cancellation document seen, unless this
   sync listed it or it is stored as cancelled already: the ``cancelled`` flip, even unstamped.

What it cannot see (the periodic full sync reconciles it): unstamped edits of documents
outside those windows (an old document's NAV status, a payment dated more than 3 days
before the last sync and not stamped), and deletions (``sync/deletions.py``, full syncs only).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from invoice_pipeline.billingo.client import BillingoClient
from invoice_pipeline.sync.increments import Increment
from invoice_pipeline.sync.pages import ValidatedPage

OVERLAP = timedelta(hours=1)
NEW_DOCUMENT_DAYS = 3
PAID_DAYS = 3
EXPIRY_WINDOW_DAYS = 60
CANCELLATION_TYPES = frozenset({"cancellation", "receipt_cancellation"})


@dataclass(frozen=True)
class Hints:
    """What the warehouse tells an incremental sync before it asks the API."""

    newest_invoice_date: date | None
    open_invoices: list[tuple[date, date]]  # (due date, invoice date) of stored outstanding
    cancelled: frozenset[int]  # stored documents already cancelled


def plan(con: duckdb.DuckDBPyConnection, company_id: int) -> Hints:
    """Read the hints of one company (documents marked deleted do not count)."""
    params = {"company": company_id}
    stored = "source = 'billingo' AND company_id = $company AND deleted_at IS NULL"
    newest = con.execute(f"SELECT max(invoice_date) FROM invoices WHERE {stored}", params)
    row = newest.fetchall()[0]
    open_rows = con.execute(
        f"SELECT due_date, invoice_date FROM invoices WHERE {stored} "
        "AND payment_status = 'outstanding' AND due_date IS NOT NULL AND invoice_date IS NOT NULL",
        params,
    ).fetchall()  # the server's date, not this machine's, decides which are past due
    cancelled = con.execute(f"SELECT invoice_id FROM invoices WHERE {stored} AND cancelled", params)
    return Hints(
        newest_invoice_date=row[0],
        open_invoices=[(due, issued) for due, issued in open_rows],
        cancelled=frozenset(r[0] for r in cancelled.fetchall()),
    )


def crawls(client: BillingoClient, increment: Increment) -> list[dict[str, str]]:
    """The filters of crawls 2-5 (module docstring); asks the server's clock (1 call) and
    sets ``increment.changes_since``."""
    hints: Hints = increment.hints
    clock = client.server_clock()
    skew = timedelta(seconds=clock.epoch - time.time())
    since = increment.since + skew - OVERLAP
    increment.changes_since = since
    today = clock.now.astimezone(clock.zone).date()
    newest = min(hints.newest_invoice_date or today, today)
    new_from = newest - timedelta(days=NEW_DOCUMENT_DAYS)
    paid_from = since.astimezone(clock.zone).date() - timedelta(days=PAID_DAYS)
    found: list[dict[str, str]] = [
        {"last_modified_date": clock.local_text(since)},
        {"start_date": new_from.isoformat()},
        {"paid_start_date": paid_from.isoformat()},
    ]
    oldest = today - timedelta(days=EXPIRY_WINDOW_DAYS)
    due = [issued for due, issued in hints.open_invoices if due < today and issued >= oldest]
    if due:
        found.append({"payment_status": "expired", "start_date": min(due).isoformat()})
    return found


def pages(
    client: BillingoClient, known: Mapping[int, str], increment: Increment
) -> Iterator[ValidatedPage]:
    """Every page of the incremental crawls, then the one-document pages of the originals of
    cancellations (module docstring). ``known`` is unused: Billingo lists whole documents."""
    seen: set[int] = set()
    originals: dict[int, None] = {}  # in the order found
    for filters in crawls(client, increment):
        for page in client.document_pages(filters):
            seen.update(i for i in page.ids if i is not None)
            originals.update(dict.fromkeys(cancelled_originals(page)))
            yield page
    hints: Hints = increment.hints
    for doc_id in originals:
        if doc_id in seen or doc_id in hints.cancelled:
            continue
        page = client.document_page(doc_id)
        if page is not None:
            seen.add(doc_id)
            yield page


def cancelled_originals(page: ValidatedPage) -> list[int]:
    """The ids the page's cancellation documents cancel (``related_documents``)."""
    if b'"related_documents"' not in page.body:
        return []
    try:
        body = json.loads(page.body.decode("utf-8", errors="replace"))
    except ValueError:
        return []
    data = body.get("data") if isinstance(body, dict) else None
    found: list[int] = []
    for doc in data if isinstance(data, list) else []:
        if not isinstance(doc, dict) or doc.get("type") not in CANCELLATION_TYPES:
            continue
        related = doc.get("related_documents")
        for ancestor in related if isinstance(related, list) else []:
            doc_id = ancestor.get("id") if isinstance(ancestor, dict) else None
            if isinstance(doc_id, int) and not isinstance(doc_id, bool) and doc_id > 0:
                found.append(doc_id)
    return found
