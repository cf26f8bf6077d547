"""Set-based loading of one batch of pages, and re-normalization of lagging raw documents.

``stage_batch`` stages a batch's documents in a table of the DuckDB instance's in-memory
catalog (split from the page bodies by DuckDB, ids from validation, each hashed and parsed
into the mapping's struct in one pass over the pages). It needs no warehouse, so the next
batch is staged while one is written. ``load_batch``, in the write transaction, compares the
staged content hashes with ``raw_documents``, stores only new and changed documents, and
writes their invoices and lines from the same staged rows (the rows of a changed invoice are
replaced). Unchanged documents cost a hash comparison and are not written at all.

``normalize_pending`` rebuilds invoices and lines from ``raw_documents`` for every document
whose ``normalized_hash`` lags its ``content_hash`` (after a mapping change, or rows written
by an older version), without calling the API.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from invoice_pipeline import config
from invoice_pipeline.sync.mapping import SourceMapping
from invoice_pipeline.sync.page_table import page_documents, page_table, registered
from invoice_pipeline.sync.pages import ValidatedPage
from invoice_pipeline.warehouse.limits import SCAN_MEMORY, limited

_KEY = "source = $source AND company_id = $company"
_DOCUMENTS = page_documents(
    "raw_batch", {"ids": "BIGINT", "volatile": "VARCHAR"}, {"skip": "BIGINT"}
)
# Where staged batches live: the instance's in-memory catalog, which every cursor of the
# instance sees (a table of ``temp`` would be seen by the staging cursor alone).
_STAGED = "memory.main.{table}"
# The staged documents to store, with what ``raw_documents`` and the normalized tables take
# of each: the changed ones, joined to the staged table. The narrow ``changed`` rows are the
# join's build side, the staged payloads and parsed structs stream through it (built on the
# staged side, the join held them all: the batch writer alone stored 100,000 new documents
# in 2.87 s against 2.33-2.48). When every staged document is new (a first sync's batches)
# there is nothing to join: they are read straight from the staged table (2.15 s).
_CHANGED = """(SELECT s.document_id, s.doc, c.content_hash, c.first_seen_at, c.last_changed_at, s.d
               FROM {staged} s JOIN changed c USING (document_id))"""
_ALL_NEW = """(SELECT document_id, doc, content_hash, now() AS first_seen_at,
                      now() AS last_changed_at, d FROM {staged})"""


@dataclass
class BatchCounts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    lines: int = 0

    def add(self, other: BatchCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.lines += other.lines


def stage_batch(
    con: duckdb.DuckDBPyConnection,
    mapping: SourceMapping,
    pages: list[ValidatedPage],
    excluded: list[list[int]],
    table: str,
) -> None:
    """Stage the documents of ``pages`` except the ``excluded`` indexes (rejected or seen) in
    ``table``, a new table of ``con``'s in-memory catalog; ``load_batch`` stores them."""
    with registered(con, "raw_batch", page_table(pages)):
        con.execute(
            f"""
            CREATE TABLE {_STAGED.format(table=table)} AS
            WITH docs AS ({_DOCUMENTS})
            SELECT ids AS document_id, doc,
                   md5(CASE WHEN volatile IS NULL THEN CAST(doc AS VARCHAR)
                            ELSE replace(CAST(doc AS VARCHAR), volatile, '') END) AS content_hash,
                   json_transform(doc, {mapping.structure_sql}) AS d
            FROM docs WHERE NOT list_contains(skip, idx)
            """,
            {
                "ids": [p.ids for p in pages],
                "volatile": [p.volatile or [None] * len(p.ids) for p in pages],
                "skip": excluded,
            },
        )


def load_batch(
    con: duckdb.DuckDBPyConnection, mapping: SourceMapping, company_id: int, table: str
) -> BatchCounts:
    """Upsert the documents staged in ``table`` (``stage_batch``), in ``con``'s transaction;
    the staged table stays (``drop_staged`` after the commit)."""
    params = {"source": mapping.source, "company": company_id}
    staged = _STAGED.format(table=table)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE changed AS
        SELECT s.document_id, s.content_hash, r.document_id IS NULL AS is_new,
               coalesce(r.first_seen_at, now()) AS first_seen_at, now() AS last_changed_at
        FROM {staged} s
        LEFT JOIN (SELECT document_id, content_hash, first_seen_at FROM raw_documents
                   WHERE {_KEY}) r USING (document_id)
        WHERE r.content_hash IS DISTINCT FROM s.content_hash
        """,
        params,
    )
    row = con.execute(
        f"SELECT (SELECT count(*) FROM {staged}), count(*) FILTER (is_new), "
        "count(*) FILTER (NOT is_new) FROM changed"
    ).fetchone()
    total, created, updated = (int(n) for n in row) if row else (0, 0, 0)
    lines = 0
    if updated:  # only changed documents have a stored version to replace
        con.execute(
            f"""
            DELETE FROM raw_documents WHERE {_KEY}
              AND document_id IN (SELECT document_id FROM changed WHERE NOT is_new)
            """,
            params,
        )
    if created or updated:
        rows = (_ALL_NEW if created == total else _CHANGED).format(staged=staged)
        con.execute(
            f"""
            INSERT INTO raw_documents BY NAME
            SELECT $source AS source, $company AS company_id, document_id, doc AS payload,
                   content_hash, content_hash AS normalized_hash, first_seen_at,
                   last_changed_at
            FROM {rows}
            """,
            params,
        )
        lines = _write_normalized(con, mapping, params, rows, replace=updated > 0)
    con.execute("DROP TABLE changed")
    return BatchCounts(created, updated, total - created - updated, lines)


def drop_staged(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop a staged batch, outside the write transaction: one that wrote the warehouse may
    not write the in-memory catalog too."""
    con.execute(f"DROP TABLE {_STAGED.format(table=table)}")


def normalize_pending(
    con: duckdb.DuckDBPyConnection, mapping: SourceMapping, company_id: int
) -> tuple[int, int]:
    """Rebuild invoices and lines of raw documents whose normalized version lags;
    returns (invoices, lines) written. ``con`` is under DuckDB's default limit for writers."""
    params = {"source": mapping.source, "company": company_id}
    lagging = f"{_KEY} AND normalized_hash IS DISTINCT FROM content_hash"
    with limited(con, SCAN_MEMORY, after=config.duckdb_memory()):  # reads two hash columns
        invoices = _count(con, f"SELECT count(*) FROM raw_documents WHERE {lagging}", params)
    if not invoices:
        return 0, 0  # the usual case: 2 ms, where binding the parse below alone takes 60
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pending AS
        SELECT content_hash, first_seen_at, last_changed_at,
               json_transform(payload, {mapping.structure_sql}) AS d
        FROM raw_documents WHERE {lagging}
        """,
        params,
    )
    lines = _write_normalized(con, mapping, params, "pending", replace=True)
    con.execute("DROP TABLE pending")
    con.execute(f"UPDATE raw_documents SET normalized_hash = content_hash WHERE {lagging}", params)
    return invoices, lines


def _write_normalized(
    con: duckdb.DuckDBPyConnection,
    mapping: SourceMapping,
    params: dict[str, object],
    pending: str,
    *,
    replace: bool,
) -> int:
    """Write the invoices and lines of the documents in ``pending`` (a table, or a query in
    parentheses, with ``content_hash``, ``first_seen_at``, ``last_changed_at`` and the parsed
    struct ``d``); with ``replace``, their current rows are deleted first.

    Rows of a document are only ever written with its raw document, in the same
    transaction, so a document new to ``raw_documents`` has none: a batch of new documents
    skips the deletes, which scan every stored invoice and line of the company (batch after
    batch, a first sync's scans would grow with the square of its documents)."""
    invoice_select = ", ".join(f"{expr} AS {col}" for col, expr in mapping.invoice_columns.items())
    for table in ("invoices", "invoice_items") if replace else ():
        con.execute(
            f"""
            DELETE FROM {table} WHERE {_KEY} AND invoice_id IN
              (SELECT {mapping.invoice_columns["invoice_id"]} FROM {pending})
            """,
            params,
        )
    con.execute(
        f"""
        INSERT INTO invoices BY NAME
        SELECT $source AS source, CAST($company AS INTEGER) AS company_id, {invoice_select},
               content_hash, first_seen_at, last_changed_at
        FROM {pending}
        """,
        params,
    )
    item_select = ", ".join(f"{expr} AS {col}" for col, expr in mapping.item_columns.items())
    lines = _count(
        con,
        f"""
        INSERT INTO invoice_items BY NAME
        SELECT $source AS source, CAST($company AS INTEGER) AS company_id,
               invoice_id, {item_select}
        FROM (
            SELECT d.id AS invoice_id, unnest({mapping.items_expr}) AS it,
                   generate_subscripts({mapping.items_expr}, 1) AS line_no
            FROM {pending}
        )
        """,
        params,
    )
    return lines


def _count(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> int:
    row = con.execute(sql, params or {}).fetchone()
    return int(row[0]) if row else 0


def listing_hashes(con: duckdb.DuckDBPyConnection, source: str, company_id: int) -> dict[int, str]:
    """Document id -> the hash of the list entry its stored version was fetched for (sources
    that list first and fetch each document after: a document whose entry is unchanged need
    not be fetched again)."""
    rows = con.execute(
        f"SELECT document_id, listing_hash FROM raw_documents "
        f"WHERE {_KEY} AND listing_hash IS NOT NULL",
        {"source": source, "company": company_id},
    )
    return dict(rows.fetchall())


def store_listing_hashes(
    con: duckdb.DuckDBPyConnection,
    source: str,
    company_id: int,
    pages: list[ValidatedPage],
    excluded: list[list[int]],
) -> None:
    """Remember the list entry hash of every document of ``pages`` that was stored or found
    unchanged (not the ``excluded`` ones: a rejected document keeps its old hash, so it is
    fetched again); after ``load_batch`` of the same pages, in its transaction."""
    ids: list[int] = []
    hashes: list[str] = []
    for page, skip in zip(pages, excluded, strict=True):
        skipped = set(skip)
        for index, (doc_id, digest) in enumerate(zip(page.ids, page.listing_hashes, strict=False)):
            if index not in skipped and doc_id is not None and digest is not None:
                ids.append(doc_id)
                hashes.append(digest)
    if not ids:
        return
    con.execute(
        f"""
        UPDATE raw_documents SET listing_hash = l.listing_hash
        FROM (SELECT unnest(CAST($ids AS BIGINT[])) AS document_id,
                     unnest(CAST($hashes AS VARCHAR[])) AS listing_hash) l
        WHERE {_KEY} AND raw_documents.document_id = l.document_id
          AND raw_documents.listing_hash IS DISTINCT FROM l.listing_hash
        """,
        {"source": source, "company": company_id, "ids": ids, "hashes": hashes},
    )
