"""What a sync remembers of each listing page for the next one (``page_fingerprints``).

Per ``page_key`` (which listing page: Billingo's unfiltered pages) a page's fingerprint
(SHA-256 of its body without the volatile spans, ``ValidatedPage.fingerprint``), where those
spans were, and its ids and envelope. A page whose fingerprint equals the last sync's holds
only stored, unchanged documents: the loader skips it. And the client need not even parse
it (``reuse``): when the remembered spans of the new body still hold volatile fragments
(the source says which: Billingo's unpaid ``paid_date``, notes P5, which moves every day)
and the rest of the body hashes to the remembered fingerprint, the page is the remembered
one, ids and envelope included.

A page with rejected documents is remembered by fingerprint only, so it is validated again
and its errors reported by every sync. What is remembered is taken (deleted) when a sync
starts and stored again batch by batch, so only pages the last sync saw are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from invoice_pipeline.sync.pages import ValidatedPage, stable_digest

if TYPE_CHECKING:  # the client imports this module: fetching pages needs no DuckDB
    import duckdb

_KEY = "source = $source AND company_id = $company"


@dataclass(frozen=True)
class RememberedPage:
    fingerprint: str
    # (start, end) of the volatile fragments; None: the page must be parsed (it had
    # rejected documents, or was remembered by a version before schema v5)
    volatile_spans: list[tuple[int, int]] | None
    ids: tuple[int, ...]
    total: int | None
    last_page: int | None
    current_page: int | None

    @classmethod
    def of(cls, page: ValidatedPage) -> RememberedPage:
        reusable = not page.rejected and None not in page.ids
        return cls(
            fingerprint=page.fingerprint(),
            volatile_spans=page.volatile_spans() if reusable else None,
            ids=tuple(i for i in page.ids if i is not None),
            total=page.total,
            last_page=page.last_page,
            current_page=page.current_page,
        )


class RememberedPages(dict[str, RememberedPage]):
    """page_key -> what the last sync stored of that page."""

    def is_unchanged(self, page: ValidatedPage) -> bool:
        """The page's documents are stored exactly as they are on it."""
        known = self.get(page.page_key or "")
        return known is not None and known.fingerprint == page.fingerprint()

    def reuse(
        self,
        page_key: str,
        body: bytes,
        salt: bytes,
        still_volatile: Callable[[list[bytes]], bool],
    ) -> ValidatedPage | None:
        """The page as the last sync validated it when ``body`` differs from it at most in
        the remembered volatile spans (which ``still_volatile`` accepts), else None."""
        known = self.get(page_key)
        if known is None or known.volatile_spans is None:
            return None
        spans = known.volatile_spans
        if spans and (
            spans[-1][1] > len(body) or not still_volatile([body[a:b] for a, b in spans])
        ):
            return None
        if stable_digest(body, spans, salt) != known.fingerprint:
            return None
        page = ValidatedPage(
            body=body,
            ids=list(known.ids),
            total=known.total,
            last_page=known.last_page,
            current_page=known.current_page,
            page_key=page_key,
            fingerprint_salt=salt,
        )
        return page.remembered_as(spans, known.fingerprint)


def take(con: duckdb.DuckDBPyConnection, source: str, company_id: int) -> RememberedPages:
    """The pages the last sync remembered, removed so only this sync's pages are kept."""
    params = {"source": source, "company": company_id}
    rows = con.execute(
        "SELECT page_key, fingerprint, volatile_spans, ids, total, last_page, current_page "
        f"FROM page_fingerprints WHERE {_KEY}",
        params,
    ).fetchall()
    con.execute(f"DELETE FROM page_fingerprints WHERE {_KEY}", params)
    return RememberedPages(
        (key, RememberedPage(fp, _pairs(spans), tuple(ids or ()), total, last, current))
        for key, fp, spans, ids, total, last, current in rows
    )


def _pairs(flat: list[int] | None) -> list[tuple[int, int]] | None:
    """Spans stored flat, [start, end, start, end, ...], as (start, end) pairs."""
    return None if flat is None else list(zip(flat[::2], flat[1::2], strict=True))


def store(
    con: duckdb.DuckDBPyConnection, source: str, company_id: int, pages: RememberedPages
) -> None:
    """Remember pages whose every document is stored (or rejected), for the next sync."""
    if not pages:
        return
    rows = list(pages.values())
    con.execute(
        """
        INSERT OR REPLACE INTO page_fingerprints
            (source, company_id, page_key, fingerprint, volatile_spans, ids, total, last_page,
             current_page)
        SELECT $source, $company, unnest(CAST($keys AS VARCHAR[])),
               unnest(CAST($prints AS VARCHAR[])), unnest(CAST($spans AS BIGINT[][])),
               unnest(CAST($ids AS BIGINT[][])), unnest(CAST($totals AS BIGINT[])),
               unnest(CAST($lasts AS BIGINT[])), unnest(CAST($currents AS BIGINT[]))
        """,
        {
            "source": source,
            "company": company_id,
            "keys": list(pages),
            "prints": [r.fingerprint for r in rows],
            "spans": [
                None if r.volatile_spans is None else [i for span in r.volatile_spans for i in span]
                for r in rows
            ],
            "ids": [list(r.ids) for r in rows],
            "totals": [r.total for r in rows],
            "lasts": [r.last_page for r in rows],
            "currents": [r.current_page for r in rows],
        },
    )
