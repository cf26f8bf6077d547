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
starts (``page_windows.take``: the sync reads it back from a temporary file) and stored
again with the batches, ``STORE_PAGES`` at a time and with the last one, each page's entry
in or after the transaction that stored its documents, so only pages the last sync saw are
kept and an entry never says more than the warehouse holds.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from invoice_pipeline.sync.pages import ValidatedPage, stable_digest

if TYPE_CHECKING:  # the client imports this module: fetching pages needs no DuckDB
    import duckdb

KEY = "source = $source AND company_id = $company"

# Entries a sync holds before it stores them with its next batch: about 1.2 KB each, so a
# sync of any size holds a few MB (an account of 100,000 documents stores once, at its end).
STORE_PAGES = 1024

# What ``store`` writes of an entry and ``page_windows.take`` reads back (``from_row``)
ENTRY_COLUMNS = "page_key, fingerprint, volatile_spans, ids, total, last_page, current_page"


@dataclass(frozen=True, slots=True)
class RememberedPage:
    """Ids and spans packed as stored (``_pack``): a few bytes per document in memory."""

    fingerprint: str
    # start, end, start, end ... of the volatile fragments; None: the page must be parsed
    # (it had rejected documents, or was remembered by a version before schema v5)
    volatile_spans: bytes | None
    ids: bytes
    total: int | None
    last_page: int | None
    current_page: int | None

    @classmethod
    def of(cls, page: ValidatedPage) -> RememberedPage:
        reusable = not page.rejected and None not in page.ids
        return cls(
            fingerprint=page.fingerprint(),
            volatile_spans=(
                _pack(i for span in page.volatile_spans() for i in span) if reusable else None
            ),
            ids=_pack(i for i in page.ids if i is not None),
            total=page.total,
            last_page=page.last_page,
            current_page=page.current_page,
        )

    @classmethod
    def from_row(
        cls,
        fingerprint: str,
        spans: bytes | None,
        ids: bytes | None,
        total: int | None,
        last_page: int | None,
        current_page: int | None,
    ) -> RememberedPage:
        """The entry of a stored row (``ENTRY_COLUMNS`` after ``page_key``)."""
        return cls(fingerprint, _readable(spans, ids), ids or b"", total, last_page, current_page)


class PageLookup(Mapping[str, RememberedPage]):
    """page_key -> what the last sync stored of that page, and what a sync asks of it."""

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
        flat = _unpack(known.volatile_spans)
        spans = list(zip(flat[::2], flat[1::2], strict=True))
        if spans and (
            spans[-1][1] > len(body) or not still_volatile([body[a:b] for a, b in spans])
        ):
            return None
        if stable_digest(body, spans, salt) != known.fingerprint:
            return None
        page = ValidatedPage(
            body=body,
            ids=list(_unpack(known.ids)),
            total=known.total,
            last_page=known.last_page,
            current_page=known.current_page,
            page_key=page_key,
            fingerprint_salt=salt,
        )
        return page.remembered_as(spans, known.fingerprint)


class RememberedPages(dict[str, RememberedPage], PageLookup):
    """Entries held in memory: the pages a sync will store (``store``)."""


def _readable(spans: bytes | None, ids: bytes | None) -> bytes | None:
    """The spans, or None (the page is parsed) when the row cannot be the packed pairs and
    ids ``store`` wrote: a damaged row costs a parse, not a failed sync."""
    if spans is None or ids is None or len(spans) % 16 or len(ids) % 8:
        return None
    return spans


# Ids and spans are packed as little-endian 64-bit integers, in memory for the whole sync
# (8 bytes per id) and in the table (a BLOB per page, handed to DuckDB as an Arrow table:
# as list parameters 100,000 ids took tens of milliseconds to convert, and 5,000 pages'
# rows 0.28 s and 137 MB more memory, against 0.06 s and 48 MB).
def _pack(numbers: Iterable[int]) -> bytes:
    packed = array("q", numbers)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unpack(blob: bytes | None) -> list[int]:
    packed = array("q", blob or b"")
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tolist()


def store(
    con: duckdb.DuckDBPyConnection,
    source: str,
    company_id: int,
    pages: RememberedPages,
    first_position: int = 0,
) -> None:
    """Remember pages whose every document is stored (or rejected), for the next sync; the
    ``position`` of each is its order in the crawl (``first_position`` onwards), which
    ``page_windows.take`` reads them back in."""
    if not pages:
        return
    from invoice_pipeline.sync.page_table import registered, values_table  # the writer's

    rows = list(pages.values())
    table = values_table(
        {
            "page_key": list(pages),
            "fingerprint": [r.fingerprint for r in rows],
            "volatile_spans": [r.volatile_spans for r in rows],
            "ids": [r.ids for r in rows],
            "total": [r.total for r in rows],
            "last_page": [r.last_page for r in rows],
            "current_page": [r.current_page for r in rows],
            "position": list(range(first_position, first_position + len(rows))),
        }
    )
    with registered(con, "remembered_pages", table):
        # Normally none to delete (``take`` did), unless two syncs of the company overlapped.
        # Not INSERT OR REPLACE: 10,000 pages (1,000,000 documents) took 61 MB above its
        # start that way, 31 MB this way.
        con.execute(
            f"DELETE FROM page_fingerprints WHERE {KEY} "
            "AND page_key IN (SELECT page_key FROM remembered_pages)",
            {"source": source, "company": company_id},
        )
        con.execute(
            f"INSERT INTO page_fingerprints (source, company_id, {ENTRY_COLUMNS}, position) "
            f"SELECT $source, $company, {ENTRY_COLUMNS}, position FROM remembered_pages",
            {"source": source, "company": company_id},
        )
