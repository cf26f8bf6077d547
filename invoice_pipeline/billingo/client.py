"""The Billingo v3 client: offset-paged ``GET /documents`` (filtered or not), one document
by id, and the server's clock, over the shared HTTP layer."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timezone, tzinfo
from functools import partial
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from invoice_pipeline.billingo import models
from invoice_pipeline.billingo import pages as billingo_pages
from invoice_pipeline.billingo.pages import still_volatile, validate_page
from invoice_pipeline.http import ApiClient, ClientError, RetryPolicy
from invoice_pipeline.http.lookahead import Lookahead
from invoice_pipeline.sync import pages as sync_pages
from invoice_pipeline.sync.id_set import IdSet
from invoice_pipeline.sync.page_memory import PageLookup
from invoice_pipeline.sync.pages import ValidatedPage

PER_PAGE = 100  # the API's maximum (notes §2)
PREFETCH_PAGES = 2  # pages fetched ahead of the caller (``Lookahead``)

# Part of every page's fingerprint: a page remembered as unchanged (``sync/page_memory.py``)
# was judged by this code, so a change to the models or the checks judges every page again.
VALIDATION_TAG = hashlib.sha256(
    b"".join(
        Path(module.__file__ or "").read_bytes()
        for module in (models, billingo_pages, sync_pages, sys.modules[__name__])
    )
).digest()


class CrawlError(RuntimeError):
    """The paging did not end where the API said it would."""


def _checked_page(page: int) -> Callable[[bytes], ValidatedPage]:
    """``validate_page`` plus the envelope's own promises: it is the page asked for, and it
    holds as many documents as ``total`` leaves for it (a full page before the last one).
    A page that breaks them is malformed, so it is retried like any malformed body."""

    def parse(body: bytes) -> ValidatedPage:
        result = validate_page(body)
        if result.current_page is not None and result.current_page != page:
            raise ValueError(f"asked for page {page}, got page {result.current_page}")
        if result.total is not None:
            expected = min(PER_PAGE, max(0, result.total - (page - 1) * PER_PAGE))
        elif result.last_page is not None and page < result.last_page:
            expected = PER_PAGE
        else:
            expected = 0
        if len(result.ids) < expected:
            raise ValueError(
                f"page {page} of {result.last_page} holds {len(result.ids)} documents, "
                f"{expected} expected (total {result.total})"
            )
        return result

    return parse


def _single_document(doc_id: int) -> Callable[[bytes], ValidatedPage]:
    """``GET /documents/{id}`` as a one-document page; another id is a malformed answer."""

    def parse(body: bytes) -> ValidatedPage:
        result = validate_page(b'{"data":[' + body + b"]}")
        if result.ids != [doc_id]:
            raise ValueError(f"asked for document {doc_id}, got {result.ids}")
        return result

    return parse


@dataclass(frozen=True)
class ServerClock:
    """``GET /utils/time``: the server's clock (``epoch``) and its zone, in which the
    ``last_modified_date`` filter is written ("YYYY-MM-DD HH:MM:SS", no zone)."""

    epoch: int
    zone: tzinfo

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch, UTC)

    def local_text(self, instant: datetime) -> str:
        """``instant`` as the server's wall-clock text."""
        return instant.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")


def _server_clock(body: bytes) -> ServerClock:
    """The clock from a ``ServerTime`` body: its named ``timezone``, else the offset of its
    ``w3c`` time (no daylight-saving rule then), else UTC."""
    doc = json.loads(body)
    epoch = doc.get("epoch") if isinstance(doc, dict) else None
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise ValueError("no epoch in the server time")
    zone: tzinfo = UTC
    try:
        zone = ZoneInfo(str(doc.get("timezone")))
    except (ZoneInfoNotFoundError, ValueError):
        try:
            offset = datetime.fromisoformat(str(doc.get("w3c"))).utcoffset()
        except ValueError:
            offset = None
        zone = timezone(offset) if offset is not None else UTC
    return ServerClock(epoch, zone)


def _where(filters: dict[str, str | int]) -> str:
    """`` (last_modified_date=...)``: which filtered crawl a message is about."""
    return f" ({', '.join(f'{k}={v}' for k, v in filters.items())})" if filters else ""


def pacing_key(source: str, api_key: str) -> str:
    """An opaque per-key identity for client-side pacing; never the key itself."""
    return source + ":" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


class BillingoClient:
    def __init__(
        self,
        *,
        company_id: int,
        api_key: str,
        base_url: str,
        policy: RetryPolicy | None = None,
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

    def server_clock(self) -> ServerClock:
        """``GET /utils/time``."""
        return self.http.get("/utils/time", parse=_server_clock)

    def document_page(self, doc_id: int) -> ValidatedPage | None:
        """``GET /documents/{id}`` as a one-document page; None when the server says 404
        (deleted since it was referenced)."""
        try:
            return self.http.get(f"/documents/{doc_id}", parse=_single_document(doc_id))
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise

    def document_pages(
        self,
        filters: Mapping[str, str | int] | None = None,
        remembered: PageLookup | None = None,
    ) -> Iterator[ValidatedPage]:
        """Every page of ``/documents`` (newest first) until the last one.

        Offset paging shifts when documents are created during the crawl, so the caller
        deduplicates by id. The crawl is bounded: a listing that keeps growing past twice
        its first ``last_page`` is an error, not an endless loop. It is also checked: every
        page holds what its envelope promises (``_checked_page``), and the crawl must see at
        least as many distinct documents as the first page's ``total`` said there were (per
        crawl: a filtered crawl is held to its own filtered ``total``). Only unfiltered pages
        get a ``page_key``: a filtered page is not the same page in the next sync, so it is
        never fingerprinted.

        With ``remembered`` (what the last sync kept of each page, ``sync/page_memory.py``)
        every unfiltered page is hashed in the fetch worker that received it, while the next
        page's request is out: a page unchanged since the last sync but for its unpaid
        documents' ``paid_date`` is taken from there without parsing; any other is validated
        and fingerprinted for the loader.
        """
        wanted = dict(filters or {})
        fetch = partial(self._page, wanted, remembered)
        with Lookahead(fetch, workers=PREFETCH_PAGES) as ahead:
            yield from self._crawl(ahead, wanted)

    def _page(
        self,
        filters: dict[str, str | int],
        remembered: PageLookup | None,
        page: int,
        received: Callable[[], None],
    ) -> ValidatedPage:
        params = {**filters, "page": page, "per_page": PER_PAGE}
        key = None if filters else urlencode(sorted(params.items()))
        check = _checked_page(page)

        def parse(body: bytes) -> ValidatedPage:
            received()  # the next page's request may go while this one is parsed
            if key is None or remembered is None:
                return check(body)
            known = remembered.reuse(key, body, VALIDATION_TAG, still_volatile)
            if known is not None:
                return known
            result = check(body)
            result.fingerprint_salt = VALIDATION_TAG
            result.fingerprint()
            return result

        result = self.http.get("/documents", params, parse=parse)
        result.page_key = key
        return result

    def _crawl(
        self, ahead: Lookahead[ValidatedPage], filters: dict[str, str | int]
    ) -> Iterator[ValidatedPage]:
        page, bound, listed = 1, None, None
        seen = IdSet()  # about 2 bytes an id (``sync/id_set.py``); a Python set takes 60
        nameless = 0
        while True:
            result = ahead.take(page)
            seen.update(i for i in result.ids if i is not None)
            nameless += result.ids.count(None)
            last = result.last_page or page
            if bound is None:
                bound, listed = 2 * last + 10, result.total
            done = page >= last or not result.ids
            if not done:  # the next pages are fetched while the caller works on this one
                for ahead_page in range(page + 1, min(page + PREFETCH_PAGES, last, bound) + 1):
                    ahead.schedule(ahead_page)
            if done and listed is not None and len(seen) + nameless < listed:
                # Documents are only added during a crawl (which shifts pages onto ones
                # already read: duplicates, no misses), so fewer distinct documents than the
                # listing promised means some were skipped: a document on two pages in a
                # static listing (ties in the order), a deletion, a cache. Which ones is
                # unknowable, so what was read is loaded and the sync ends PARTIAL with this
                # line, never COMPLETED.
                result.problems.append(
                    {
                        "invoice_id": None,
                        "invoice_number": None,
                        "error": f"Billingo listed {listed} documents{_where(filters)} for "
                        f"company {self.company_id} but the crawl saw only "
                        f"{len(seen) + nameless} different ones: some may be missing",
                    }
                )
            yield result
            if done:
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
