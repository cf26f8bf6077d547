"""Blocking integrity checks of the normalized tables, one company partition at a time.

The checks are partitioned like the assets (``companies``): each evaluates the company of
its partition and the UI shows results per company. Dagster's partitioned checks are a
preview feature; ``company_check`` silences that one warning (it would otherwise reach the
CLI's stderr on every import) and is the single place to drop ``partitions_def`` if the
preview changes: the checks would then read the same key from the run's partition.

Blocking (ERROR) checks run before ``sync_logs``: when one fails, the run's sync logs are
closed as FAILED instead of COMPLETED, and nothing downstream reads the bad rows.
"""

import warnings
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb

from invoice_pipeline.partitions import companies
from invoice_pipeline.resources import WarehouseResource

EXAMPLES = 5


def company_check(**kwargs: Any) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
    """``@dg.asset_check`` partitioned by company."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetChecksDefinition:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=dg.PreviewWarning)
            return dg.asset_check(partitions_def=companies, **kwargs)(fn)

    return decorate


def company_of(context: dg.AssetCheckExecutionContext) -> int:
    if not context.has_partition_key:
        raise dg.Failure("choose a company partition to check", allow_retries=False)
    return int(context.partition_key)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def offenders(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], order_by: str
) -> tuple[int, list[dict[str, Any]]]:
    """How many rows ``sql`` returns, and the first ``EXAMPLES`` of them as JSON-ready dicts."""
    cur = con.execute(
        f"SELECT *, count(*) OVER () AS _total FROM ({sql}) ORDER BY {order_by} LIMIT {EXAMPLES}",
        params,
    )
    names = [d[0] for d in cur.description or []][:-1]
    rows = cur.fetchall()
    total = int(rows[0][-1]) if rows else 0
    return total, [{n: _plain(v) for n, v in zip(names, r[:-1], strict=True)} for r in rows]


def result(
    company_id: int,
    total: int,
    examples: list[dict[str, Any]],
    what: str,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **extra: Any,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=total == 0,
        severity=severity,
        description=f"{total} {what}" if total else None,
        metadata={
            "company_id": dg.MetadataValue.int(company_id),
            "offending": dg.MetadataValue.int(total),
            "examples": dg.MetadataValue.json(examples),
            **extra,
        },
    )


@company_check(asset="invoices", blocking=True)
def unique_invoice_keys(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """No two invoice rows share (source, company_id, invoice_id)."""
    c = company_of(context)
    sql = """SELECT source, invoice_id, any_value(invoice_number) AS invoice_number,
                    count(*) AS copies
             FROM invoices WHERE company_id = $c GROUP BY source, invoice_id
             HAVING count(*) > 1"""
    with warehouse.get().read() as con:
        total, examples = offenders(con, sql, {"c": c}, "copies DESC, source, invoice_id")
    return result(c, total, examples, "invoice keys appear more than once")


@company_check(asset="invoice_items", blocking=True)
def no_orphan_items(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every invoice line belongs to an invoice of the same source and company."""
    c = company_of(context)
    sql = """SELECT i.source, i.invoice_id, count(*) AS lines FROM invoice_items i
             WHERE i.company_id = $c AND NOT EXISTS (
                 SELECT 1 FROM invoices v WHERE v.source = i.source
                 AND v.company_id = i.company_id AND v.invoice_id = i.invoice_id)
             GROUP BY i.source, i.invoice_id"""
    with warehouse.get().read() as con:
        total, examples = offenders(con, sql, {"c": c}, "source, invoice_id")
    return result(c, total, examples, "invoice ids have lines but no invoice")


@company_check(asset="invoice_items", blocking=True)
def complete_invoice_lines(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every invoice has exactly ``item_count`` lines, numbered without repeats."""
    c = company_of(context)
    sql = """SELECT v.source, v.invoice_number, v.item_count,
                    coalesce(l.lines, 0) AS lines, coalesce(l.numbers, 0) AS line_numbers
             FROM invoices v LEFT JOIN (
                 SELECT source, invoice_id, count(*) AS lines, count(DISTINCT line_no) AS numbers
                 FROM invoice_items WHERE company_id = $c GROUP BY source, invoice_id
             ) l ON l.source = v.source AND l.invoice_id = v.invoice_id
             WHERE v.company_id = $c AND (coalesce(l.lines, 0) <> v.item_count
                                          OR coalesce(l.numbers, 0) <> v.item_count)"""
    with warehouse.get().read() as con:
        total, examples = offenders(con, sql, {"c": c}, "source, invoice_number")
    return result(c, total, examples, "invoices do not have item_count lines")


INTEGRITY_CHECKS = [unique_invoice_keys, no_orphan_items, complete_invoice_lines]
