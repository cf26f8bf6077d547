"""The BillX v1.0 client: page-numbered lists and per-invoice details over the shared HTTP layer.

A sync walks ``GET /invoices`` (newest first, 100 a page) and fetches ``GET /invoices/{id}``
only for invoices that are new, changed in the list or drafts (``pages.plan_invoices``), then
lists ``/customers`` and ``/products``. BillX offers no modification time and no filters, so
the list entry is the only change signal there is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from invoice_pipeline.billingo.client import CrawlError, pacing_key
from invoice_pipeline.billx.models import ListedCustomer, Product, loads
from invoice_pipeline.billx.pages import (
    FetchedDetail,
    Planned,
    catalog_page,
    entry_id,
    invoice_page,
    plan_invoices,
)
from invoice_pipeline.http import ApiClient, ClientError, MalformedResponseError, RetryPolicy
from invoice_pipeline.sync.id_set import IdSet
from invoice_pipeline.sync.pages import ValidatedPage

PER_PAGE = 100  # the API's maximum
DETAIL_WORKERS = 4  # details in flight at once; pacing per key still applies to each
EMPTY_PAGE = b'{"data":[]}'


@dataclass
class Listing:
    """One list page: the body as received, its entries, and what the crawl saw in it."""

    body: bytes
    entries: list[Any]
    total: int | None
    per_page: int
    repeated: set[int] = field(default_factory=set)  # entries already on an earlier page
    problems: list[dict[str, Any]] = field(default_factory=list)


def _meta_count(meta: dict[str, Any], name: str, least: int) -> int | None:
    value = meta.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"meta.{name} is not a whole number >= {least}")
    return value


def _checked_listing(page: int) -> Callable[[bytes], Listing]:
    """Parse a list page and hold it to the envelope's promises: it is the page asked for
    and holds as many entries as ``total`` leaves for it. A page that breaks them is
    malformed, so the HTTP layer retries it like any malformed body."""

    def parse(body: bytes) -> Listing:
        doc = loads(body.decode("utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
            raise ValueError("not a list page (no data list)")
        meta = doc.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise ValueError("meta is not an object")
        meta = meta or {}
        total = _meta_count(meta, "total", 0)
        number = _meta_count(meta, "page", 1)
        per_page = _meta_count(meta, "per_page", 1) or PER_PAGE
        data = doc["data"]
        if number is not None and number != page:
            raise ValueError(f"asked for page {page}, got page {number}")
        if total is not None:
            expected = min(per_page, max(0, total - (page - 1) * per_page))
            if len(data) < expected:
                raise ValueError(
                    f"page {page} holds {len(data)} entries, {expected} expected (total {total})"
                )
        return Listing(body, data, total, per_page)

    return parse


def _detail_body(body: bytes) -> tuple[bytes, object]:
    """The detail as received and parsed; text that is not UTF-8 JSON is malformed (retried)."""
    return body, loads(body.decode("utf-8"))


@dataclass
class Catalog:
    """The customers and products pages of one sync (``catalog.store`` writes them)."""

    customers: list[ValidatedPage] = field(default_factory=list)
    products: list[ValidatedPage] = field(default_factory=list)

    @property
    def problems(self) -> list[dict[str, Any]]:
        pages = [*self.customers, *self.products]
        return [e for p in pages for e in (*p.rejected.values(), *p.problems)]


class BillxClient:
    def __init__(
        self, *, company_id: int, api_key: str, base_url: str, policy: RetryPolicy | None = None
    ) -> None:
        self.company_id = company_id
        self.http = ApiClient(
            source="BillX",
            company_id=company_id,
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            pacing_key=pacing_key("billx", api_key),
            policy=policy,
        )
        self._pool = ThreadPoolExecutor(DETAIL_WORKERS, thread_name_prefix="billx-detail")
        self.catalog: Catalog | None = None

    @property
    def api_calls(self) -> int:
        return self.http.api_calls

    def sync_pages(self, known: Mapping[int, str]) -> Iterator[ValidatedPage]:
        """Everything one sync needs: the invoice pages, then the catalog (kept in
        ``self.catalog`` for ``catalog.store``; its rejected entries come last as a page's
        problems). Fetching the catalog here lets its HTTP errors fail the sync like any other
        page's."""
        yield from self.invoice_pages(known)
        self.catalog = self.fetch_catalog()
        if self.catalog.problems:
            yield ValidatedPage(body=EMPTY_PAGE, ids=[], problems=self.catalog.problems)

    def invoice_pages(
        self,
        known: Mapping[int, str],
        stop: Callable[[list[Any], Planned], bool] | None = None,
    ) -> Iterator[ValidatedPage]:
        """One page of details per list page; ``known`` maps invoice id -> the hash of the
        list entry its stored detail was fetched for. ``stop(entries, plan)`` true after a
        page ends the crawl there (an incremental sync; the completeness check of a whole
        crawl then does not apply)."""
        for listing in self._crawl("/invoices", "invoices"):
            entries = [e for i, e in enumerate(listing.entries) if i not in listing.repeated]
            plan = plan_invoices(entries, known)
            details = list(self._pool.map(self._detail, [i for i, _ in plan.fetch]))
            page = invoice_page(plan, details)
            page.problems.extend(listing.problems)
            yield page
            if stop is not None and stop(entries, plan):
                return

    def fetch_catalog(self) -> Catalog:
        catalog = Catalog()
        for listing in self._crawl("/customers", "customers"):
            page = catalog_page(
                listing.body, listing.entries, listing.repeated, ListedCustomer, "customer"
            )
            page.problems.extend(listing.problems)
            catalog.customers.append(page)
        for listing in self._crawl("/products", "products"):
            page = catalog_page(listing.body, listing.entries, listing.repeated, Product, "product")
            page.problems.extend(listing.problems)
            catalog.products.append(page)
        return catalog

    def _detail(self, invoice_id: int) -> FetchedDetail:
        """The detail, or why it is missing: a 404/410 (deleted after it was listed) or a
        body that stayed malformed through every retry fails this invoice, not the sync."""
        path = f"/invoices/{invoice_id}"
        try:
            body, parsed = self.http.get(path, parse=_detail_body)
        except ClientError as exc:
            if exc.status not in (404, 410):
                raise
            error = f"listed, but GET {path} says {exc.status} (deleted since?)"
            return FetchedDetail(None, error=error)
        except MalformedResponseError as exc:
            return FetchedDetail(None, error=exc.message)
        return FetchedDetail(body, parsed)

    def _crawl(self, path: str, what: str) -> Iterator[Listing]:
        """Every page of a list until ``page * per_page >= total`` (without a total: until a
        short page, or a page with nothing new).

        Invoices are listed newest first, so an invoice created during the crawl shifts the
        later pages by one: entries already seen are marked ``repeated``, never missed. The
        crawl is bounded (a total that keeps growing past twice the first page's is an error,
        not an endless loop) and checked: fewer distinct entries than the first ``total``
        means some were missed, which is reported as a problem (the sync ends PARTIAL).
        """
        page, bound, listed = 1, 0, None
        seen = IdSet()  # about 2 bytes an id, not a Python set's 60
        nameless = 0
        while True:
            listing = self.http.get(
                path, {"page": page, "per_page": PER_PAGE}, parse=_checked_listing(page)
            )
            keys = [entry_id(entry) for entry in listing.entries]
            for index, (key, new) in enumerate(zip(keys, seen.add_new(keys), strict=True)):
                if key is None:
                    nameless += 1
                elif not new:
                    listing.repeated.add(index)
            if page == 1:
                listed = listing.total
                bound = 2 * math.ceil((listed or 0) / listing.per_page) + 10
            if listing.total is not None:
                done = page * listing.per_page >= listing.total or not listing.entries
            else:  # no envelope: a short page, or one with nothing new (paging ignored), ends it
                fresh = len(listing.entries) - len(listing.repeated)
                done = len(listing.entries) < listing.per_page or fresh == 0
            if done and listed is not None and len(seen) + nameless < listed:
                listing.problems.append(
                    {
                        "invoice_id": None,
                        "invoice_number": None,
                        "error": f"BillX listed {listed} {what} for company {self.company_id} "
                        f"but the crawl saw only {len(seen) + nameless} different ones: "
                        "some may be missing",
                    }
                )
            yield listing
            if done:
                return
            page += 1
            if page > bound:
                raise CrawlError(
                    f"BillX paging of {path} for company {self.company_id} did not end after "
                    f"{bound} pages (the total keeps growing)"
                )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()

    def __enter__(self) -> BillxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
