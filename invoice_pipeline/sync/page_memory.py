"""What a sync remembers of each listing page for the next one (``page_fingerprints``).

Two levels of "unchanged", per ``page_key`` (which listing page: Billingo's unfiltered pages):

- the page's ``fingerprint`` (its body without volatile members, ``ValidatedPage``) equals
  the last sync's: its documents are stored and unchanged, so the loader skips the page;
- its ``body_hash`` (the exact bytes, and the validation that judged them) equals the last
  sync's: the page need not even be parsed. The client then takes the ids and envelope
  stored with it (``reuse``). This holds within a day: on the next one Billingo moves the
  ``paid_date`` of every unpaid document to the new date (notes P5), the bytes differ, and
  the page is parsed and compared by fingerprint as before.

A page with rejected documents is remembered by fingerprint only, so it is validated again
and its errors reported by every sync. What is remembered is taken (deleted) when a sync
starts and stored again batch by batch, so only pages the last sync saw are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from invoice_pipeline.sync.pages import ValidatedPage

if TYPE_CHECKING:  # the client imports this module: fetching pages needs no DuckDB
    import duckdb

_KEY = "source = $source AND company_id = $company"


@dataclass(frozen=True)
class RememberedPage:
    fingerprint: str
    body_hash: str | None  # None: the page must be parsed (rejections, or stored by v4)
    ids: tuple[int, ...]
    total: int | None
    last_page: int | None
    current_page: int | None

    @classmethod
    def of(cls, page: ValidatedPage) -> RememberedPage:
        reusable = not page.rejected and None not in page.ids
        return cls(
            fingerprint=page.fingerprint(),
            body_hash=page.body_hash if reusable else None,
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

    def reuse(self, page_key: str, body: bytes, body_hash: str) -> ValidatedPage | None:
        """The page as validated by the last sync when its bytes are the same, else None."""
        known = self.get(page_key)
        if known is None or known.body_hash is None or known.body_hash != body_hash:
            return None
        page = ValidatedPage(
            body=body,
            ids=list(known.ids),
            total=known.total,
            last_page=known.last_page,
            current_page=known.current_page,
            page_key=page_key,
            body_hash=body_hash,
        )
        page._fingerprint = known.fingerprint
        return page


def take(con: duckdb.DuckDBPyConnection, source: str, company_id: int) -> RememberedPages:
    """The pages the last sync remembered, removed so only this sync's pages are kept."""
    params = {"source": source, "company": company_id}
    rows = con.execute(
        "SELECT page_key, fingerprint, body_hash, ids, total, last_page, current_page "
        f"FROM page_fingerprints WHERE {_KEY}",
        params,
    ).fetchall()
    con.execute(f"DELETE FROM page_fingerprints WHERE {_KEY}", params)
    return RememberedPages(
        (key, RememberedPage(fp, body_hash, tuple(ids or ()), total, last, current))
        for key, fp, body_hash, ids, total, last, current in rows
    )


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
            (source, company_id, page_key, fingerprint, body_hash, ids, total, last_page,
             current_page)
        SELECT $source, $company, unnest(CAST($keys AS VARCHAR[])),
               unnest(CAST($prints AS VARCHAR[])), unnest(CAST($bodies AS VARCHAR[])),
               unnest(CAST($ids AS BIGINT[][])), unnest(CAST($totals AS BIGINT[])),
               unnest(CAST($lasts AS BIGINT[])), unnest(CAST($currents AS BIGINT[]))
        """,
        {
            "source": source,
            "company": company_id,
            "keys": list(pages),
            "prints": [r.fingerprint for r in rows],
            "bodies": [r.body_hash for r in rows],
            "ids": [list(r.ids) for r in rows],
            "totals": [r.total for r in rows],
            "lasts": [r.last_page for r in rows],
            "currents": [r.current_page for r in rows],
        },
    )
