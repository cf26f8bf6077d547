"""The Billingo v3 client: offset-paged ``GET /documents`` over the shared HTTP layer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from urllib.parse import urlencode

from invoice_pipeline.billingo.pages import validate_page
from invoice_pipeline.http import ApiClient, RetryPolicy
from invoice_pipeline.sync.pages import ValidatedPage

PER_PAGE = 100  # the API's maximum (notes §2)


class CrawlError(RuntimeError):
    """The paging did not end where the API said it would."""


def pacing_key(source: str, api_key: str) -> str:
    """An opaque per-key identity for client-side pacing; never the key itself."""
    return source + ":" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


class BillingoClient:
    def __init__(
        self, *, company_id: int, api_key: str, base_url: str, policy: RetryPolicy | None = None
    ) -> None:
        self.company_id = company_id
        self.http = ApiClient(
            source="Billingo",
            company_id=company_id,
            base_url=base_url.rstrip("/"),
            headers={"X-API-KEY": api_key, "Accept": "application/json"},
            pacing_key=pacing_key("billingo", api_key),
            policy=policy,
        )

    @property
    def api_calls(self) -> int:
        return self.http.api_calls

    def document_pages(self, **filters: str | int) -> Iterator[ValidatedPage]:
        """Every page of ``/documents`` (newest first) until the last one.

        Offset paging shifts when documents are created during the crawl, so the caller
        deduplicates by id. The crawl is bounded: a listing that keeps growing past twice
        its first ``last_page`` is an error, not an endless loop.
        """
        page, bound = 1, None
        while True:
            params = {**filters, "page": page, "per_page": PER_PAGE}
            result = self.http.get("/documents", params, parse=validate_page)
            result.page_key = urlencode(sorted(params.items()))
            yield result
            last = result.last_page or page
            if bound is None:
                bound = 2 * last + 10
            if page >= last or not result.ids:
                return
            page += 1
            if page > bound:
                raise CrawlError(
                    f"Billingo paging for company {self.company_id} did not end after "
                    f"{bound} pages (last_page keeps growing)"
                )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BillingoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
