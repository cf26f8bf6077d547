"""Checks shared by the fault matrix, crash and property tests: what the emulator serves (read
exactly), the warehouse's integrity, and a snapshot of the analysts' tables to compare."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse


def served_documents(emulator: BillingoEmulator, key: str) -> list[Any]:
    """Every document the emulator serves now, read as a client reads it (newest first, money
    as exact ``Decimal``, bytes that are not UTF-8 as U+FFFD). No hook or fault may be set."""
    docs: list[Any] = []
    with httpx.Client(base_url=emulator.base_url, headers={"X-API-KEY": key}) as http:
        page, last = 1, 1
        while page <= last:
            response = http.get("/documents", params={"page": page, "per_page": 100})
            if response.status_code == 429:  # an emulator with a rate limit
                time.sleep(0.3)
                continue
            response.raise_for_status()
            body = json.loads(response.content.decode("utf-8", "replace"), parse_float=Decimal)
            docs += body["data"]
            page, last = page + 1, body["last_page"]
    return docs


def integrity_problems(wh: Warehouse) -> list[str]:
    """What is wrong with the stored data, as readable lines (empty when nothing is).

    Natural keys are unique; every line belongs to an invoice and every invoice has exactly
    its ``item_count`` lines and its raw document, normalized from that document's content.
    """
    checks = {
        "duplicate invoices": """
            SELECT source, company_id, invoice_id FROM invoices GROUP BY ALL HAVING count(*) > 1""",
        "duplicate lines": """
            SELECT source, company_id, invoice_id, line_no FROM invoice_items
            GROUP BY ALL HAVING count(*) > 1""",
        "duplicate raw documents": """
            SELECT source, company_id, document_id FROM raw_documents
            GROUP BY ALL HAVING count(*) > 1""",
        "orphan lines": """
            SELECT l.invoice_id FROM invoice_items l
            ANTI JOIN invoices i USING (source, company_id, invoice_id)""",
        "invoices without their lines": """
            SELECT i.invoice_id, i.item_count, count(l.line_no) AS lines FROM invoices i
            LEFT JOIN invoice_items l USING (source, company_id, invoice_id)
            GROUP BY ALL HAVING count(l.line_no) <> i.item_count""",
        "invoices without their raw document": """
            SELECT i.invoice_id FROM invoices i LEFT JOIN raw_documents r
              ON r.source = i.source AND r.company_id = i.company_id
             AND r.document_id = i.invoice_id AND r.content_hash = i.content_hash
            WHERE r.document_id IS NULL""",
        "raw documents without their invoice": """
            SELECT r.document_id FROM raw_documents r
            ANTI JOIN invoices i ON r.source = i.source AND r.company_id = i.company_id
             AND r.document_id = i.invoice_id AND r.content_hash = i.content_hash""",
    }
    problems = []
    with wh.read() as con:
        for name, sql in checks.items():
            rows = con.execute(sql + " LIMIT 5").fetchall()
            if rows:
                problems.append(f"{name}: {rows}")
    return problems


def content_problems(wh: Warehouse, docs: list[Any], company_id: int = 4) -> list[str]:
    """Where the stored invoices differ from ``docs`` (as ``served_documents`` reads them):
    number, gross total, line count and line gross sum, to the fillér."""

    def money(value: Any) -> Decimal | None:
        return None if value in (None, "") else Decimal(value)

    expected = {
        d["id"]: (
            d.get("invoice_number") or None,
            money(d.get("gross_total")),
            len(d.get("items") or []),
            sum((money(i.get("gross_amount")) or 0 for i in d.get("items") or []), Decimal(0)),
        )
        for d in docs
    }
    with wh.read() as con:
        rows = con.execute(
            """
            SELECT i.invoice_id, i.invoice_number, i.gross_total, i.item_count,
                   coalesce(sum(l.gross_amount), 0)
            FROM invoices i LEFT JOIN invoice_items l USING (source, company_id, invoice_id)
            WHERE i.company_id = ? GROUP BY ALL
            """,
            [company_id],
        ).fetchall()
    stored = {r[0]: tuple(r[1:]) for r in rows}
    return [
        f"invoice {doc_id}: stored {stored.get(doc_id)}, served {want}"
        for doc_id, want in expected.items()
        if stored.get(doc_id) != want
    ]


def snapshot(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """The analysts' tables and the raw documents, every column, in key order."""
    tables = {
        "invoices": "source, company_id, invoice_id",
        "invoice_items": "source, company_id, invoice_id, line_no",
        "raw_documents": "source, company_id, document_id",
    }
    with wh.read() as con:
        return {
            table: con.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            for table, key in tables.items()
        }


def stored_ids(wh: Warehouse, company_id: int = 4) -> list[int]:
    with wh.read() as con:
        rows = con.execute(
            "SELECT invoice_id FROM invoices WHERE company_id = ? ORDER BY invoice_id",
            [company_id],
        ).fetchall()
    return [r[0] for r in rows]


def running_logs(wh: Warehouse) -> int:
    with wh.read() as con:
        row = con.execute("SELECT count(*) FROM sync_logs WHERE status = 'RUNNING'").fetchone()
    return int(row[0]) if row else 0


def per_document(
    wh: Warehouse, *columns: str
) -> tuple[dict[tuple[int, int], tuple[Any, ...]], dict[tuple[int, int], tuple[Any, ...]]]:
    """(company, document id) -> the ``columns`` (SQL expressions over either table), of the
    raw documents and of the invoices, to compare what the two tables keep of each document."""
    select = ", ".join(columns)
    with wh.read() as con:
        raw = con.execute(f"SELECT company_id, document_id, {select} FROM raw_documents")
        raw_rows = {(r[0], r[1]): tuple(r[2:]) for r in raw.fetchall()}
        inv = con.execute(f"SELECT company_id, invoice_id, {select} FROM invoices")
        invoice_rows = {(r[0], r[1]): tuple(r[2:]) for r in inv.fetchall()}
    return raw_rows, invoice_rows
