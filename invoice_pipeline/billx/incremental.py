"""BillX incremental sync: as much as an API without modification times or filters allows.

``GET /invoices`` takes only ``page`` and ``per_page`` and lists newest first (by creation);
the list entry is the only change signal (its hash is kept as ``listing_hash``). So the
incremental sync lists from the newest page and stops at the first page that lies entirely
before the window (invoice dates older than ``WINDOW_DAYS`` before the newest stored one) and
holds only stored, unchanged entries. Details are fetched as in a full sync: new invoices,
changed entries, drafts on the pages read. It sees:

- every new invoice (new invoices are at the head of the list);
- every change that shows in the list entry (status: paid, overdue, cancelled; totals;
  dates; number) of an invoice dated within the window, where payments and overdue flips
  happen (payment terms run 8-30 days).

It cannot see, until the next full sync: changes to invoices dated before the window (a late
payment, a cancellation of an old invoice), drafts beyond the pages read, changes that show
only in the detail (a full sync does not see those either unless the invoice is a draft),
customers and products (their lists are not fetched), and deletions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import duckdb

from invoice_pipeline.billx.client import BillxClient
from invoice_pipeline.billx.pages import Planned
from invoice_pipeline.sync.increments import Increment
from invoice_pipeline.sync.pages import ValidatedPage

WINDOW_DAYS = 35


def plan(con: duckdb.DuckDBPyConnection, company_id: int) -> date | None:
    """The newest stored invoice date of the company (the window ends there)."""
    rows = con.execute(
        "SELECT max(invoice_date) FROM invoices "
        "WHERE source = 'billx' AND company_id = ? AND deleted_at IS NULL",
        [company_id],
    ).fetchall()
    return rows[0][0]  # type: ignore[no-any-return]


def pages(
    client: BillxClient, known: Mapping[int, str], increment: Increment
) -> Iterator[ValidatedPage]:
    """The invoice pages from the newest until the first quiet page past the window."""
    newest: date | None = increment.hints
    cutoff = (newest - timedelta(days=WINDOW_DAYS)).isoformat() if newest else None

    def past_window_and_quiet(entries: list[Any], planned: Planned) -> bool:
        if planned.rejected or any(known.get(i) != digest for i, digest in planned.fetch):
            return False  # something new or changed here: the next page may hold more
        dates = [e.get("invoice_date") for e in entries if isinstance(e, dict)]
        return cutoff is None or all(not isinstance(d, str) or d < cutoff for d in dates)

    yield from client.invoice_pages(known, stop=past_window_and_quiet)
