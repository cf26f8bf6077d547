"""Set-based upsert of a source's reference lists (partners, products) by content hash.

Like ``loader.load_batch`` for documents: DuckDB splits the page bodies into entries, hashes
each, and only new and changed entries are (re)written, with ``first_seen_at`` kept and
``last_changed_at`` set. Entries that disappear from the source stay (no deletion detection).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from invoice_pipeline.sync.page_table import page_documents, page_table, registered
from invoice_pipeline.sync.pages import ValidatedPage

_ENTRIES = page_documents("catalog_batch", {"ids": "BIGINT"}, {"skip": "BIGINT"})


@dataclass(frozen=True)
class CatalogTable:
    table: str  # "partners" or "products"
    key: str  # its id column: "partner_id", "product_id"
    structure: dict[str, object]  # json_transform structure of one entry, read as ``d``
    columns: dict[str, str]  # column -> SQL over d


def upsert_catalog(
    con: duckdb.DuckDBPyConnection,
    target: CatalogTable,
    source: str,
    company_id: int,
    pages: list[ValidatedPage],
) -> tuple[int, int]:
    """Store the valid entries of ``pages`` (those with an id and not rejected);
    returns (created, updated)."""
    if not pages:
        return 0, 0
    params = {"source": source, "company": company_id}
    with registered(con, "catalog_batch", page_table(pages)):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE catalog_staged AS
            WITH entries AS ({_ENTRIES})
            SELECT ids AS entry_id, doc, md5(CAST(doc AS VARCHAR)) AS content_hash
            FROM entries WHERE ids IS NOT NULL AND NOT list_contains(skip, idx)
            QUALIFY row_number() OVER (PARTITION BY entry_id) = 1
            """,
            {"ids": [p.ids for p in pages], "skip": [sorted(p.rejected) for p in pages]},
        )
    key, table = target.key, target.table
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE catalog_changed AS
        SELECT s.entry_id, s.doc, s.content_hash, t.{key} IS NULL AS is_new,
               coalesce(t.first_seen_at, now()) AS first_seen_at
        FROM catalog_staged s
        LEFT JOIN (SELECT {key}, content_hash, first_seen_at FROM {table}
                   WHERE source = $source AND company_id = $company) t ON t.{key} = s.entry_id
        WHERE t.content_hash IS DISTINCT FROM s.content_hash
        """,
        params,
    )
    row = con.execute("SELECT count(*) FILTER (is_new), count(*) FROM catalog_changed").fetchone()
    created, changed = (int(row[0]), int(row[1])) if row else (0, 0)
    if changed:
        con.execute(
            f"""
            DELETE FROM {table} WHERE source = $source AND company_id = $company
              AND {key} IN (SELECT entry_id FROM catalog_changed WHERE NOT is_new)
            """,
            params,
        )
        select = ", ".join(f"{expr} AS {col}" for col, expr in target.columns.items())
        structure = "'" + json.dumps(target.structure).replace("'", "''") + "'"
        con.execute(
            f"""
            INSERT INTO {table} BY NAME
            SELECT $source AS source, CAST($company AS INTEGER) AS company_id,
                   entry_id AS {key}, {select}, doc AS payload, content_hash,
                   first_seen_at, now() AS last_changed_at
            FROM (SELECT *, json_transform(doc, {structure}) AS d FROM catalog_changed)
            """,
            params,
        )
    con.execute("DROP TABLE catalog_staged; DROP TABLE catalog_changed")
    return created, changed - created
