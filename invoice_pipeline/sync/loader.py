"""Set-based loading: a batch of pages -> raw_documents, then pending raw -> invoices/items.

Two steps, each one transaction. ``load_raw_batch`` stores new and changed documents
(content hash compared in SQL; unchanged ones are not written at all). ``normalize_pending``
turns every raw document whose ``normalized_hash`` lags its ``content_hash`` into invoice
and line rows, so a sync interrupted between the steps is finished by the next one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from invoice_pipeline.sync.mapping import SourceMapping
from invoice_pipeline.sync.pages import ValidatedPage


@dataclass
class RawCounts:
    created: int = 0
    updated: int = 0
    skipped: int = 0

    def add(self, other: RawCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped


def load_raw_batch(
    con: duckdb.DuckDBPyConnection,
    mapping: SourceMapping,
    company_id: int,
    pages: list[ValidatedPage],
    excluded: list[list[int]],
) -> RawCounts:
    """Upsert the documents of ``pages`` except the ``excluded`` indexes (rejected or seen)."""
    batch = pa.table(
        {
            "body": pa.array([p.body.decode("utf-8") for p in pages], pa.string()),
            "path": pa.array([p.data_path for p in pages], pa.string()),
            "skip": pa.array(excluded, pa.list_(pa.int64())),
        }
    )
    con.register("raw_batch", batch)  # on failure the caller's connection is discarded
    con.execute(
        f"""
            CREATE OR REPLACE TEMP TABLE staged AS
            WITH docs AS (
                SELECT unnest(CAST(json_extract(body, path) AS JSON[])) AS doc,
                       unnest(range(CAST(json_array_length(body, path) AS BIGINT))) AS idx, skip
                FROM raw_batch
            )
            SELECT CAST(doc->>'$.id' AS BIGINT) AS document_id, doc,
                   md5(CAST({mapping.volatile_patch_sql} AS VARCHAR)) AS content_hash
            FROM docs WHERE NOT list_contains(skip, idx)
            """
    )
    con.unregister("raw_batch")
    actions = con.execute(
        """
        MERGE INTO raw_documents r
        USING staged s
        ON r.source = $source AND r.company_id = $company AND r.document_id = s.document_id
        WHEN MATCHED AND r.content_hash <> s.content_hash THEN UPDATE SET
            payload = s.doc, content_hash = s.content_hash, last_changed_at = now()
        WHEN NOT MATCHED THEN INSERT
            (source, company_id, document_id, payload, content_hash, normalized_hash,
             first_seen_at, last_changed_at)
            VALUES ($source, $company, s.document_id, s.doc, s.content_hash, NULL, now(), now())
        RETURNING merge_action
        """,
        {"source": mapping.source, "company": company_id},
    ).fetchall()
    staged = con.execute("SELECT count(*) FROM staged").fetchone()[0]
    by_action = Counter(a for (a,) in actions)
    con.execute("DROP TABLE staged")
    created, updated = by_action.get("INSERT", 0), by_action.get("UPDATE", 0)
    return RawCounts(created=created, updated=updated, skipped=staged - created - updated)


def normalize_pending(
    con: duckdb.DuckDBPyConnection, mapping: SourceMapping, company_id: int
) -> tuple[int, int]:
    """Write invoices and lines for every pending raw document; returns (invoices, lines)."""
    params = {"source": mapping.source, "company": company_id}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pending AS
        SELECT content_hash, first_seen_at, last_changed_at,
               json_transform(payload, {mapping.structure_sql}) AS d
        FROM raw_documents
        WHERE source = $source AND company_id = $company
          AND normalized_hash IS DISTINCT FROM content_hash
        """,
        params,
    )
    invoices = con.execute("SELECT count(*) FROM pending").fetchone()[0]
    if invoices == 0:
        con.execute("DROP TABLE pending")
        return 0, 0
    invoice_select = ", ".join(f"{expr} AS {col}" for col, expr in mapping.invoice_columns.items())
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pending_invoices AS
        SELECT $source AS source, CAST($company AS INTEGER) AS company_id, {invoice_select},
               content_hash, first_seen_at, last_changed_at
        FROM pending
        """,
        params,
    )
    con.execute(
        """
        DELETE FROM invoices WHERE source = $source AND company_id = $company
          AND invoice_id IN (SELECT invoice_id FROM pending_invoices)
        """,
        params,
    )
    con.execute("INSERT INTO invoices BY NAME SELECT * FROM pending_invoices")
    con.execute(
        """
        DELETE FROM invoice_items WHERE source = $source AND company_id = $company
          AND invoice_id IN (SELECT invoice_id FROM pending_invoices)
        """,
        params,
    )
    item_select = ", ".join(f"{expr} AS {col}" for col, expr in mapping.item_columns.items())
    lines = con.execute(
        f"""
        INSERT INTO invoice_items BY NAME
        SELECT $source AS source, CAST($company AS INTEGER) AS company_id,
               invoice_id, {item_select}
        FROM (
            SELECT d.id AS invoice_id, unnest({mapping.items_expr}) AS it,
                   generate_subscripts({mapping.items_expr}, 1) AS line_no
            FROM pending
        )
        """,
        params,
    ).fetchone()[0]
    con.execute(
        """
        UPDATE raw_documents SET normalized_hash = content_hash
        WHERE source = $source AND company_id = $company
          AND normalized_hash IS DISTINCT FROM content_hash
        """,
        params,
    )
    con.execute("DROP TABLE pending; DROP TABLE pending_invoices")
    return invoices, lines
