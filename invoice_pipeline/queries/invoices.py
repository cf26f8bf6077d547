"""The invoice list (filtered, paged, newest first) and the invoice detail with its lines."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from invoice_pipeline.queries import arguments, formatting, scope
from invoice_pipeline.queries.errors import NotFoundError, QueryError
from invoice_pipeline.queries.models import InvoiceDetail, InvoiceLine, InvoiceSummary, Page
from invoice_pipeline.queries.reader import snapshot_cursor
from invoice_pipeline.vocabulary import PAYMENT_STATUSES

_SUMMARY = (
    "invoice_id, source, invoice_number, type, payment_status, payment_method, gross_total, "
    "currency, invoice_date, due_date, paid_date, partner_name, partner_tax_number, "
    "cancelled, item_count, first_seen_at"
)
_ORDER = "invoice_date DESC NULLS LAST, invoice_id DESC, source"


def list_invoices(
    company_id: int,
    *,
    source: str | None = None,
    payment_status: str | None = None,
    partner_tax_number: str | None = None,
    invoice_date_from: date | str | None = None,
    invoice_date_to: date | str | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 100,
    db_path: Path | str | None = None,
) -> Page[InvoiceSummary]:
    """One page of the company's invoices, newest first; ``search`` is a literal,
    case-insensitive substring of the invoice number."""
    number, size = arguments.page_args(page, page_size)
    where, params = ["company_id = ?"], []
    arguments.source(source)
    if source is not None:
        where.append("source = ?")
        params.append(source)
    if payment_status is not None:
        where.append("payment_status = ?")
        params.append(arguments.text("payment_status", payment_status))
    if partner_tax_number is not None:
        where.append("partner_tax_number = ?")
        params.append(arguments.text("partner_tax_number", partner_tax_number))
    start = arguments.day("invoice_date_from", invoice_date_from)
    end = arguments.day("invoice_date_to", invoice_date_to)
    if start is not None and end is not None and start > end:
        raise QueryError(f"invoice_date_from {start} is after invoice_date_to {end}")
    if start is not None:
        where.append("invoice_date >= ?")
        params.append(start)
    if end is not None:
        where.append("invoice_date <= ?")
        params.append(end)
    needle = arguments.text("search", search)
    if needle is not None:
        where.append("contains(lower(invoice_number), lower(?))")
        params.append(needle)
    condition = " AND ".join(where)
    with snapshot_cursor(db_path) as cur:
        company, name = scope.company_name(cur, company_id)
        if payment_status is not None:
            _check_status(cur, company, payment_status)
        args = [company, *params]
        count = cur.execute(f"SELECT count(*) FROM invoices WHERE {condition}", args).fetchone()
        rows = cur.execute(
            f"SELECT {_SUMMARY} FROM invoices WHERE {condition} ORDER BY {_ORDER} LIMIT ? OFFSET ?",
            [*args, size, (number - 1) * size],
        ).fetchall()
        info = scope.snapshot_info(cur, company, source)
    total = count[0] if count else 0
    following, previous = scope.pages(total, number, size)
    return Page[InvoiceSummary](
        count=total,
        next=following,
        previous=previous,
        page=number,
        page_size=size,
        results=[InvoiceSummary(**_summary(row, company, name)) for row in rows],
        snapshot=info,
    )


def get_invoice(
    company_id: int,
    invoice_id: int,
    *,
    source: str | None = None,
    db_path: Path | str | None = None,
) -> InvoiceDetail:
    """One invoice of the company with its lines; NotFoundError when the company has no
    such invoice (another company's invoice is reported the same way)."""
    wanted = arguments.integer("invoice_id", invoice_id, minimum=-(2**62))
    arguments.source(source)
    with snapshot_cursor(db_path) as cur:
        company, name = scope.company_name(cur, company_id)
        found = cur.execute(
            "SELECT * FROM invoices WHERE company_id = ? AND invoice_id = ? "
            "AND (? IS NULL OR source = ?)",
            [company, wanted, source, source],
        )
        columns = [d[0] for d in found.description]  # type: ignore[union-attr]
        rows = found.fetchall()
        if not rows:
            raise NotFoundError(f"company {company} has no invoice {wanted}")
        if len(rows) > 1:
            raise QueryError(
                f"invoice {wanted} exists in more than one source: pass source "
                f"({', '.join(sorted(r[columns.index('source')] for r in rows))})"
            )
        invoice = dict(zip(columns, rows[0], strict=True))
        items = _lines(cur, invoice)
    return InvoiceDetail(**_detail(invoice, company, name, items))


def _check_status(cur: duckdb.DuckDBPyConnection, company: int, status: str) -> None:
    """The shared vocabulary, or a value the company's invoices actually carry (open enum)."""
    if status in PAYMENT_STATUSES:
        return
    seen = cur.execute(
        "SELECT 1 FROM invoices WHERE company_id = ? AND payment_status = ? LIMIT 1",
        [company, status],
    ).fetchone()
    if seen is None:
        raise QueryError(
            f"unknown payment_status {status!r}: expected one of {', '.join(PAYMENT_STATUSES)}"
        )


def _summary(row: tuple[Any, ...], company: int, name: str) -> dict[str, Any]:
    (invoice_id, source, number, kind, status, method, gross, currency, invoice_date, due,
     paid, partner, tax, cancelled, items, first_seen) = row  # fmt: skip
    return {
        "id": invoice_id,
        "source": source,
        "company": company,
        "company_name": name,
        "invoice_number": number,
        "type": kind,
        "payment_status": status,
        "payment_method": method,
        "gross_total": formatting.money(gross),
        "gross_total_formatted": formatting.money_formatted(gross, currency),
        "currency": currency,
        "invoice_date": invoice_date,
        "invoice_date_formatted": formatting.date_formatted(invoice_date),
        "due_date": due,
        "paid_date": paid,
        "partner_name": partner,
        "partner_tax_number": tax,
        "cancelled": cancelled,
        "item_count": items,
        "created_at": formatting.local(first_seen),
    }


def _lines(cur: duckdb.DuckDBPyConnection, invoice: dict[str, Any]) -> list[InvoiceLine]:
    found = cur.execute(
        "SELECT * FROM invoice_items WHERE company_id = ? AND source = ? AND invoice_id = ? "
        "ORDER BY line_no",
        [invoice["company_id"], invoice["source"], invoice["invoice_id"]],
    )
    columns = [d[0] for d in found.description]  # type: ignore[union-attr]
    lines = []
    for values in found.fetchall():
        line = dict(zip(columns, values, strict=True))
        lines.append(
            InvoiceLine(
                id=line["line_no"],
                product_id=line["product_id"],
                name=line["name"],
                quantity=formatting.money(line["quantity"]),
                unit=line["unit"],
                net_unit_price=formatting.money(line["net_unit_price"]),
                net_amount=formatting.money(line["net_amount"]),
                vat_amount=formatting.money(line["vat_amount"]),
                gross_amount=formatting.money(line["gross_amount"]),
                vat=line["vat"],
                entitlement=line["entitlement"],
                comment=line["comment"],
                created_at=formatting.local(invoice["first_seen_at"]),
                updated_at=formatting.local(invoice["last_changed_at"]),
            )
        )
    return lines


def _detail(
    invoice: dict[str, Any], company: int, name: str, items: list[InvoiceLine]
) -> dict[str, Any]:
    summary_row = tuple(invoice[c.strip()] for c in _SUMMARY.split(","))
    shown = _summary(summary_row, company, name)
    passthrough = {k: v for k, v in invoice.items() if k in InvoiceDetail.model_fields}
    return {
        **passthrough,
        **shown,
        "net_total": formatting.money(invoice["net_total"]),
        "vat_total": formatting.money(invoice["vat_total"]),
        "due_date_formatted": formatting.date_formatted(invoice["due_date"]),
        "paid_date_formatted": formatting.date_formatted(invoice["paid_date"]),
        "items": items,
        "updated_at": formatting.local(invoice["last_changed_at"]),
        "last_modified": formatting.local(invoice["last_changed_at"]),
    }
