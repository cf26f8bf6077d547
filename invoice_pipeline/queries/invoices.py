"""The invoice list (filtered, paged, newest first) and the invoice detail with its lines.

A large company's list would scan and sort all its invoices for every page. The snapshot
keeps each company's invoices in list order and a per-day summary beside them
(``snapshot_invoice_days``, see ``warehouse/snapshot.py``), so that a page reads only the
days it shows:
- without a partner or search filter, the count is summed from the summary and the page's
  days come from running totals over it; the page query reads just those days (the
  zonemaps of the date-sorted invoices skip all other row groups);
- with a search, the summary names the days whose invoice numbers contain the needle; the
  count and the page read only those days (one scan per day, so that the date filter is
  evaluated before the substring test) and still test every invoice number themselves.
A partner filter, or a snapshot without a usable summary, reads the invoices as before.
Every path applies the same conditions to ``invoices`` and returns the same rows.

Invoices a full sync found deleted at the source (``invoices.deleted_at``, see
``sync/deletions.py``) are left out of the list and the detail unless ``include_deleted``
(the summary leaves them out too, so listing them reads the invoices).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from invoice_pipeline.queries import arguments, formatting, scope
from invoice_pipeline.queries.errors import NotFoundError, QueryError
from invoice_pipeline.queries.models import InvoiceDetail, InvoiceLine, InvoiceSummary, Page
from invoice_pipeline.queries.reader import snapshot_read
from invoice_pipeline.vocabulary import PAYMENT_STATUSES
from invoice_pipeline.warehouse import snapshot

_SUMMARY = (
    "invoice_id, source, invoice_number, type, payment_status, payment_method, gross_total, "
    "currency, invoice_date, due_date, paid_date, partner_name, partner_tax_number, "
    "cancelled, item_count, first_seen_at"
)
_ORDER = "invoice_date DESC NULLS LAST, invoice_id DESC, source"
_DAYS = "snapshot_invoice_days"
_MAX_SCANNED_DAYS = 16  # a search matching more days reads them as one date range

# The days a page's rows lie on, newest first (the list order), with the rows listed before
# each day and the count of the whole list: running totals over the per-day summary.
_PAGE_DAYS = """
    SELECT invoice_date, upto - n AS before, total FROM (
        SELECT invoice_date, n, sum(n) OVER (ORDER BY invoice_date DESC NULLS LAST) AS upto,
               sum(n) OVER () AS total
        FROM (SELECT invoice_date, sum(invoices) AS n FROM {days} WHERE {condition}
              GROUP BY invoice_date))
    WHERE upto > ? AND upto - n < ?
    ORDER BY upto
"""


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
    include_deleted: bool = False,
) -> Page[InvoiceSummary]:
    """One page of the company's invoices, newest first; ``search`` is a literal,
    case-insensitive substring of the invoice number. Invoices deleted at the source are
    left out unless ``include_deleted``."""
    number, size = arguments.page_args(page, page_size)
    # conditions the per-day summary can answer too (same columns, same meaning) ...
    where, params = ["company_id = ?"], []
    arguments.source(source)
    if source is not None:
        where.append("source = ?")
        params.append(source)
    payment_status = arguments.text("payment_status", payment_status)  # "" is no filter
    if payment_status is not None:
        where.append("payment_status = ?")
        params.append(payment_status)
    partner = arguments.text("partner_tax_number", partner_tax_number)
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
    day_where, day_params = list(where), list(params)
    # ... and those only the invoices can
    if partner is not None:
        where.append("partner_tax_number = ?")
        params.append(partner)
    needle = arguments.text("search", search)
    if needle is not None:
        where.append("contains(lower(invoice_number), lower(?))")
        params.append(needle)
    offset = (number - 1) * size
    with snapshot_read(db_path) as (cur, memo):
        company, name = scope.company_name(cur, company_id, memo)
        if payment_status is not None:
            _check_status(cur, company, payment_status)
        if not include_deleted and _has_deleted(cur, memo):  # (the summary has none)
            where.append("deleted_at IS NULL")
        columns = _summary_columns(cur, memo)
        query = _Query(cur, columns, " AND ".join(where), [company, *params], size, offset)
        days = (" AND ".join(day_where), [company, *day_params])
        if include_deleted or not _has_days(cur, memo):
            total, rows = query.count(), query.page()
        elif needle is not None:
            total, rows = _search_by_day(query, days, needle)
        elif partner is None:
            total, rows = _page_by_day(query, days)
        else:
            total, rows = query.count(), query.page()
        info = scope.snapshot_info(cur, company, source, memo)
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
    include_deleted: bool = False,
) -> InvoiceDetail:
    """One invoice of the company with its lines; NotFoundError when the company has no
    such invoice (another company's invoice is reported the same way, and so is one deleted
    at the source unless ``include_deleted``)."""
    wanted = arguments.integer("invoice_id", invoice_id, minimum=-(2**62))
    arguments.source(source)
    with snapshot_read(db_path) as (cur, memo):
        company, name = scope.company_name(cur, company_id, memo)
        live = "" if include_deleted or not _has_deleted(cur, memo) else " AND deleted_at IS NULL"
        found = cur.execute(
            "SELECT * FROM invoices WHERE company_id = ? AND invoice_id = ? "
            f"AND (? IS NULL OR source = ?){live}",
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


class _Query:
    """One set of conditions (with its arguments) over the company's invoices, and a page."""

    def __init__(
        self, cur: duckdb.DuckDBPyConnection, columns: str, condition: str, args: list[Any],
        size: int, offset: int,
    ) -> None:  # fmt: skip
        self.cur, self.columns, self.condition, self.args = cur, columns, condition, args
        self.size, self.offset = size, offset

    def count(self) -> int:
        row = self.cur.execute(
            f"SELECT count(*) FROM invoices WHERE {self.condition}", self.args
        ).fetchone()
        return row[0] if row else 0

    def page(self) -> list[tuple[Any, ...]]:
        return self._page(f"SELECT {self.columns} FROM invoices WHERE {self.condition}", self.args)

    def _page(self, rows: str, args: list[Any], skipped: int = 0) -> list[tuple[Any, ...]]:
        """The page of ``rows``; the first ``skipped`` rows of the list are not among them."""
        return self.cur.execute(
            f"{rows} ORDER BY {_ORDER} LIMIT ? OFFSET ?",
            [*args, self.size, self.offset - skipped],
        ).fetchall()

    def page_between(
        self, oldest: date | None, newest: date | None, skipped: int
    ) -> list[tuple[Any, ...]]:
        """The page from the days ``oldest`` .. ``newest`` (None: through the rows without a
        date, listed last); ``skipped`` rows come before them. The date filter is written
        first: DuckDB tests a scan's filters in the order written."""
        parts: list[str] = []
        args: list[Any] = []
        if newest is not None and oldest is not None:
            parts.append("invoice_date BETWEEN ? AND ?")
            args += [oldest, newest]
        elif newest is not None:
            parts.append("invoice_date <= ?")
            args.append(newest)
        if oldest is None:
            parts.append("invoice_date IS NULL")
        rows = f"SELECT {self.columns} FROM invoices WHERE ({' OR '.join(parts)}) AND "
        return self._page(rows + self.condition, [*args, *self.args], skipped)

    def _on_day(self, day: date | None) -> tuple[str, list[Any]]:
        if day is None:
            return f"invoice_date IS NULL AND {self.condition}", list(self.args)
        return f"invoice_date = ? AND {self.condition}", [day, *self.args]

    def counts_on(self, days: list[date | None]) -> list[int]:
        """The count on each day, one scan per day (each reads the day's row groups)."""
        parts, args = [], []
        for index, day in enumerate(days):
            condition, day_args = self._on_day(day)
            parts.append(f"SELECT {index} AS k, count(*) AS n FROM invoices WHERE {condition}")
            args += day_args
        found = dict(self.cur.execute(" UNION ALL ".join(parts), args).fetchall())
        return [found.get(index, 0) for index in range(len(days))]

    def page_on(self, days: list[date | None], skipped: int) -> list[tuple[Any, ...]]:
        """The page from ``days`` (one scan per day); ``skipped`` rows come before them."""
        parts, args = [], []
        for day in days:
            condition, day_args = self._on_day(day)
            parts.append(f"SELECT {self.columns} FROM invoices WHERE {condition}")
            args += day_args
        return self._page(f"SELECT * FROM ({' UNION ALL '.join(parts)})", args, skipped)


def _summary_columns(cur: duckdb.DuckDBPyConnection, memo: dict[Any, Any]) -> str:
    """The list's columns, ``deleted_at`` last (NULL in older snapshots, which have none)."""
    deleted = "deleted_at" if _has_deleted(cur, memo) else "CAST(NULL AS TIMESTAMPTZ)"
    return f"{_SUMMARY}, {deleted} AS deleted_at"


def _has_days(cur: duckdb.DuckDBPyConnection, memo: dict[Any, Any]) -> bool:
    """Whether this snapshot has the per-day summary, written by this DuckDB version
    (older snapshots have none; the summary's lower-cased numbers are this version's)."""
    if "has_days" not in memo:
        try:  # (the second term only names the summary: an error if it is missing)
            row = cur.execute(
                f"SELECT (SELECT any_value(duckdb_version) FROM snapshot_meta) = "
                f"(SELECT library_version FROM pragma_version()) "
                f"AND (SELECT count(*) FROM (SELECT 1 FROM {_DAYS} LIMIT 1)) >= 0"
            ).fetchone()
        except (duckdb.BinderException, duckdb.CatalogException):  # an older snapshot
            row = None
        memo["has_days"] = bool(row and row[0])
    return memo["has_days"]  # type: ignore[no-any-return]


def _has_deleted(cur: duckdb.DuckDBPyConnection, memo: dict[Any, Any]) -> bool:
    """Whether this snapshot's invoices carry ``deleted_at`` (older snapshots do not)."""
    if "has_deleted" not in memo:
        rows = cur.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = current_database() "
            "AND table_name = 'invoices' AND column_name = 'deleted_at'"
        ).fetchall()
        memo["has_deleted"] = bool(rows and rows[0][0])
    return memo["has_deleted"]  # type: ignore[no-any-return]


_DayFilter = tuple[str, list[Any]]  # the conditions the summary answers, and their arguments


def _page_by_day(query: _Query, days: _DayFilter) -> tuple[int, list[tuple[Any, ...]]]:
    """Count from the summary; the page from the days its rows lie on (all of them through
    the end of the list when the page reaches it)."""
    condition, args = days
    found = query.cur.execute(
        _PAGE_DAYS.format(days=_DAYS, condition=condition),
        [*args, query.offset, query.offset + query.size],
    ).fetchall()
    if not found:  # past the last row (or nothing to list): only the count is needed
        row = query.cur.execute(
            f"SELECT coalesce(sum(invoices), 0) FROM {_DAYS} WHERE {condition}", args
        ).fetchone()
        return (row[0] if row else 0), []
    (newest, skipped, total), oldest = found[0], found[-1][0]
    if newest is not None and oldest is None and len(found) <= _MAX_SCANNED_DAYS:
        # dated rows and then the undated ones at the end: "<= newest OR IS NULL" would
        # be no scan filter, so read the few days one by one
        return total, query.page_on([row[0] for row in found], skipped)
    return total, query.page_between(oldest, newest, skipped)


def _search_by_day(
    query: _Query, days: _DayFilter, needle: str
) -> tuple[int, list[tuple[Any, ...]]]:
    """Count and page from the days whose invoice numbers can contain the needle."""
    cur = query.cur
    lowered = cur.execute("SELECT lower(?)", [needle]).fetchone()[0]  # type: ignore[index]
    condition, args = days
    # Rows whose signature lacks one of the needle's trigrams cannot match; only the others'
    # text is searched. As "signature AND contains" DuckDB would search every row's text in
    # the scan and test the signatures after it: CASE tests the text only where it holds.
    signature, masks = ["TRUE"], []
    for word, mask in enumerate(snapshot.gram_words(lowered)):
        if mask:
            signature.append(f"(g{word} & CAST(? AS UHUGEINT)) = CAST(? AS UHUGEINT)")
            masks += [str(mask), str(mask)]
    found = cur.execute(
        f"SELECT DISTINCT invoice_date FROM {_DAYS} WHERE {condition} AND "
        f"CASE WHEN {' AND '.join(signature)} THEN contains(numbers, ?) ELSE FALSE END",
        [*args, *masks, lowered],
    ).fetchall()
    if not found:
        return 0, []
    dated = sorted((row[0] for row in found if row[0] is not None), reverse=True)
    listed: list[date | None] = [*dated, None] if len(dated) < len(found) else dated
    if len(listed) > _MAX_SCANNED_DAYS:  # many days: one scan of the range they span
        if len(dated) < len(found):
            return query.count(), query.page()
        span = _Query(
            cur, query.columns, f"invoice_date BETWEEN ? AND ? AND {query.condition}",
            [dated[-1], dated[0], *query.args], query.size, query.offset,
        )  # fmt: skip
        return span.count(), span.page()
    counts = query.counts_on(listed)
    before, skipped, shown = 0, 0, []
    for day, n in zip(listed, counts, strict=True):
        if n and before + n > query.offset and before < query.offset + query.size:
            skipped = before if not shown else skipped
            shown.append(day)
        before += n
    return sum(counts), query.page_on(shown, skipped) if shown else []


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
     paid, partner, tax, cancelled, items, first_seen, deleted) = row  # fmt: skip
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
        "deleted_at": formatting.local(deleted),
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
    summary_row = (*(invoice[c.strip()] for c in _SUMMARY.split(",")), invoice.get("deleted_at"))
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
