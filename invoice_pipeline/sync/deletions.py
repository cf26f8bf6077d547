"""Deletion detection: stored documents that a complete full sync no longer saw.

A document is marked, never removed: ``raw_documents.deleted_at`` holds when the first full
sync that completed without it ran (the fact), and ``invoices.deleted_at`` carries the same
mark for readers (the views and the query module leave marked invoices out by default, the
``invoices`` table and ``v_deleted_invoices`` show them). Only a full crawl that ended
COMPLETED can tell "gone" from "not listed this time": an incremental sync lists only what
changed, a PARTIAL one may have missed documents, a FAILED one stopped. Any sync that lists
a marked document again (full or incremental) clears its mark.

Only this module writes either column. ``copy_marks`` makes ``invoices`` agree with
``raw_documents`` after invoices were rebuilt from raw documents (``normalize_pending``
writes them unmarked).
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from invoice_pipeline.sync.page_table import id_table, registered

_KEY = "source = $source AND company_id = $company"


def mark_unseen(
    con: duckdb.DuckDBPyConnection, source: str, company_id: int, listed: Collection[int]
) -> int:
    """Mark every stored, unmarked document of the company and source that is not in
    ``listed`` (every id a complete full crawl listed, rejected ones included); returns how
    many were newly marked."""
    params: dict[str, object] = {"source": source, "company": company_id}
    with registered(con, "listed_ids", id_table(listed)):
        unseen = con.execute(  # an anti join: a third of the time of NOT IN, no UPDATE if none
            f"""
            SELECT document_id FROM raw_documents ANTI JOIN listed_ids USING (document_id)
            WHERE {_KEY} AND deleted_at IS NULL
            """,
            params,
        ).fetchall()
    if not unseen:
        return 0
    con.execute(
        f"""
        UPDATE raw_documents SET deleted_at = now()
        WHERE {_KEY} AND deleted_at IS NULL
          AND document_id IN (SELECT unnest(CAST($unseen AS BIGINT[])))
        """,
        {**params, "unseen": [r[0] for r in unseen]},
    )
    copy_marks(con, source, company_id)
    return len(unseen)


def restore_listed(
    con: duckdb.DuckDBPyConnection, source: str, company_id: int, listed: Collection[int]
) -> int:
    """Clear the mark of every marked document that ``listed`` holds again (it reappeared);
    returns how many. Costs one count when nothing is marked."""
    if not listed or not any_marked(con, source, company_id):
        return 0
    with registered(con, "listed_ids", id_table(listed)):
        restored = con.execute(
            f"""
            UPDATE raw_documents SET deleted_at = NULL
            WHERE {_KEY} AND deleted_at IS NOT NULL
              AND document_id IN (SELECT document_id FROM listed_ids)
            RETURNING document_id
            """,
            {"source": source, "company": company_id},
        ).fetchall()
    if restored:
        copy_marks(con, source, company_id)
    return len(restored)


def copy_marks(con: duckdb.DuckDBPyConnection, source: str, company_id: int) -> None:
    """Make ``invoices.deleted_at`` equal ``raw_documents.deleted_at`` for the company and
    source (rows that differ only)."""
    con.execute(
        """
        UPDATE invoices SET deleted_at = r.deleted_at
        FROM (SELECT document_id, deleted_at FROM raw_documents
              WHERE source = $source AND company_id = $company) r
        WHERE invoices.source = $source AND invoices.company_id = $company
          AND invoices.invoice_id = r.document_id
          AND invoices.deleted_at IS DISTINCT FROM r.deleted_at
        """,
        {"source": source, "company": company_id},
    )


def any_marked(con: duckdb.DuckDBPyConnection, source: str, company_id: int) -> bool:
    """Whether any document of the company and source is marked deleted."""
    rows = con.execute(
        f"SELECT EXISTS (SELECT 1 FROM raw_documents WHERE {_KEY} AND deleted_at IS NOT NULL)",
        {"source": source, "company": company_id},
    ).fetchall()
    return bool(rows and rows[0][0])


def any_stored(con: duckdb.DuckDBPyConnection, source: str, company_id: int) -> bool:
    """Whether the company and source have any stored document not marked deleted."""
    rows = con.execute(
        f"SELECT EXISTS (SELECT 1 FROM raw_documents WHERE {_KEY} AND deleted_at IS NULL)",
        {"source": source, "company": company_id},
    ).fetchall()
    return bool(rows and rows[0][0])
