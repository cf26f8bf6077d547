"""Blocking integrity checks of the normalized tables, one company partition at a time.

Each check is a plain function of a read connection and the company id that returns its
``AssetCheckResult``; a ``CompanyCheck`` adds the asset it checks and whether it blocks.
``company_checks.py`` evaluates every company check (this module's, ``quality_checks.py``'s
and ``sync_checks.py``'s) in one Dagster step on one warehouse connection. The checks are
partitioned like the assets (``companies``): each evaluates the company of its partition and
the UI shows results per company. Dagster's partitioned checks are a preview feature;
``CompanyCheck.spec`` silences that one warning (it would otherwise reach the CLI's stderr on
every import) and is the single place to drop ``partitions_def`` if the preview changes: the
checks would then read the same key from the run's partition.

Blocking (ERROR) checks run before ``sync_logs``: when one fails, the run's sync logs are
closed as FAILED instead of COMPLETED, and nothing downstream reads the bad rows.
"""

import inspect
import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb

from invoice_pipeline.partitions import companies
from invoice_pipeline.warehouse.connection import attach_anew

EXAMPLES = 5


@dataclass(frozen=True)
class CompanyCheck:
    """One asset check of a company's rows: ``fn(con, company_id)`` (with ``with_run_id``,
    ``fn(con, company_id, run_id)``) evaluates it; its name and description are the function's
    name and docstring."""

    fn: Callable[..., dg.AssetCheckResult]
    asset: str
    blocking: bool = False
    with_run_id: bool = False

    @property
    def name(self) -> str:
        return self.fn.__name__

    def spec(self) -> dg.AssetCheckSpec:
        """The check's spec, partitioned by company."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=dg.PreviewWarning)
            return dg.AssetCheckSpec(
                self.name,
                asset=self.asset,
                blocking=self.blocking,
                partitions_def=companies,
                description=inspect.cleandoc(self.fn.__doc__ or "") or None,
            )

    def evaluate(
        self, con: duckdb.DuckDBPyConnection, company_id: int, run_id: str
    ) -> dg.AssetCheckResult:
        """The check's result on ``con``, addressed to its asset and name."""
        args = (con, company_id, run_id) if self.with_run_id else (con, company_id)
        found = self.fn(*args)
        return dg.AssetCheckResult(
            asset_key=self.asset,
            check_name=self.name,
            passed=found.passed,
            severity=found.severity,
            description=found.description,
            metadata=found.metadata,
        )

    def not_evaluated(self, reason: str) -> dg.AssetCheckResult:
        """A failed result for a check that raised: ERROR (blocks) when it is blocking."""
        return dg.AssetCheckResult(
            asset_key=self.asset,
            check_name=self.name,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR if self.blocking else dg.AssetCheckSeverity.WARN,
            description=f"could not be evaluated: {reason}",
        )


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
    return _found(con.execute(_first(sql, order_by), params))


def invoice_offenders(
    con: duckdb.DuckDBPyConnection, sql: str, company_id: int, order_by: str
) -> tuple[int, list[dict[str, Any]]]:
    """``offenders`` of a check whose ``sql`` reads the company ``$c``'s rows of ``invoices``
    and ``invoice_items`` and returns rows about one invoice id each.

    Above ``ROUND_INVOICES`` invoices ``sql`` runs once per range of invoice ids
    (``invoice_rounds``), ``invoices`` and ``invoice_items`` being temporary views of the
    range's rows, and the ranges' counts and examples are combined: grouping and joining
    every invoice and line of a large company at once needs memory that grows with it (the
    checks of 500,000 synced documents: 147 MB above the connection's start, against 68 MB
    for 100,000; 2,000,000 invoices ran out of memory under the checks' limit)."""
    params = {"c": company_id}
    ranges = invoice_rounds(con, company_id)
    if len(ranges) == 1:
        return offenders(con, sql, params, order_by)
    _collect(con, _first(sql, order_by), params, ranges)
    found = _found(
        con.execute(
            "SELECT * EXCLUDE (_round, _total), (SELECT sum(n) FROM (SELECT any_value(_total) "
            "AS n FROM check_rounds GROUP BY _round)) AS _total "
            f"FROM check_rounds ORDER BY {order_by} LIMIT {EXAMPLES}"
        )
    )
    con.execute("DROP TABLE check_rounds")
    return found


def _first(sql: str, order_by: str) -> str:
    """The first ``EXAMPLES`` rows of ``sql`` in order, each with the count of all
    (``_total``)."""
    return f"SELECT *, count(*) OVER () AS _total FROM ({sql}) ORDER BY {order_by} LIMIT {EXAMPLES}"


def _found(cur: duckdb.DuckDBPyConnection) -> tuple[int, list[dict[str, Any]]]:
    names = [d[0] for d in cur.description or []][:-1]
    rows = cur.fetchall()
    total = int(rows[0][-1]) if rows else 0
    return total, [{n: _plain(v) for n, v in zip(names, r[:-1], strict=True)} for r in rows]


def _collect(
    con: duckdb.DuckDBPyConnection,
    first: str,
    params: dict[str, Any],
    ranges: list[tuple[int | None, int | None]],
) -> None:
    """The temporary table ``check_rounds``: the ``first`` rows of each range, numbered
    (``_round``), each with its range's count (``_total``)."""
    database = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    try:
        for number, (low, high) in enumerate(ranges):
            bounds = [f"invoice_id > {low}"] if low is not None else []
            bounds += [f"invoice_id <= {high}"] if high is not None else []
            for table in ("invoices", "invoice_items"):
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM "
                    f'"{database}".main.{table} WHERE {" AND ".join(bounds)}'
                )
            into = "INSERT INTO" if number else "CREATE OR REPLACE TEMP TABLE"
            con.execute(
                f"{into} check_rounds {'' if number else 'AS'} "
                f"SELECT *, {number} AS _round FROM ({first})",
                params,
            )
            attach_anew(con)  # frees the metadata of the round's row groups
    finally:
        con.execute("DROP VIEW IF EXISTS temp.main.invoices")
        con.execute("DROP VIEW IF EXISTS temp.main.invoice_items")


# Invoices per round of a check (``invoice_offenders``): a company of 100,000 documents is checked
# in one go, as fast as before.
ROUND_INVOICES = 100_000


def invoice_rounds(
    con: duckdb.DuckDBPyConnection, company_id: int
) -> list[tuple[int | None, int | None]]:
    """Consecutive ranges (low, high] of invoice ids, the first and last open (None), each
    holding about ``ROUND_INVOICES`` of the company's invoices or fewer; one unbounded range
    when they fit one round. Lines whose invoice id no invoice has fall in a range too."""
    row = con.execute(
        "SELECT count(*) FROM invoices WHERE company_id = $c", {"c": company_id}
    ).fetchone()
    parts = -(-int(row[0] if row else 0) // ROUND_INVOICES)
    if parts <= 1:
        return [(None, None)]
    cuts = con.execute(
        "SELECT DISTINCT unnest(quantile_disc(invoice_id, $q)) AS cut FROM invoices "
        "WHERE company_id = $c ORDER BY cut",
        {"c": company_id, "q": [n / parts for n in range(1, parts)]},
    ).fetchall()
    edges: list[int | None] = [None, *(int(c) for (c,) in cuts), None]
    return list(itertools.pairwise(edges))


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


def unique_invoice_keys(con: duckdb.DuckDBPyConnection, company_id: int) -> dg.AssetCheckResult:
    """No two invoice rows share (source, company_id, invoice_id)."""
    sql = """SELECT source, invoice_id, any_value(invoice_number) AS invoice_number,
                    count(*) AS copies
             FROM invoices WHERE company_id = $c GROUP BY source, invoice_id
             HAVING count(*) > 1"""
    total, examples = invoice_offenders(con, sql, company_id, "copies DESC, source, invoice_id")
    return result(company_id, total, examples, "invoice keys appear more than once")


def no_orphan_items(con: duckdb.DuckDBPyConnection, company_id: int) -> dg.AssetCheckResult:
    """Every invoice line belongs to an invoice of the same source and company."""
    sql = """SELECT i.source, i.invoice_id, count(*) AS lines FROM invoice_items i
             WHERE i.company_id = $c AND NOT EXISTS (
                 SELECT 1 FROM invoices v WHERE v.source = i.source
                 AND v.company_id = i.company_id AND v.invoice_id = i.invoice_id)
             GROUP BY i.source, i.invoice_id"""
    total, examples = invoice_offenders(con, sql, company_id, "source, invoice_id")
    return result(company_id, total, examples, "invoice ids have lines but no invoice")


def complete_invoice_lines(con: duckdb.DuckDBPyConnection, company_id: int) -> dg.AssetCheckResult:
    """Every invoice has exactly ``item_count`` lines, numbered without repeats."""
    sql = """SELECT v.source, v.invoice_number, v.item_count,
                    coalesce(l.lines, 0) AS lines, coalesce(l.numbers, 0) AS line_numbers
             FROM invoices v LEFT JOIN (
                 SELECT source, invoice_id, count(*) AS lines, count(DISTINCT line_no) AS numbers
                 FROM invoice_items WHERE company_id = $c GROUP BY source, invoice_id
             ) l ON l.source = v.source AND l.invoice_id = v.invoice_id
             WHERE v.company_id = $c AND (coalesce(l.lines, 0) <> v.item_count
                                          OR coalesce(l.numbers, 0) <> v.item_count)"""
    total, examples = invoice_offenders(con, sql, company_id, "source, invoice_number")
    return result(company_id, total, examples, "invoices do not have item_count lines")


INTEGRITY_CHECKS = [
    CompanyCheck(unique_invoice_keys, "invoices", blocking=True),
    CompanyCheck(no_orphan_items, "invoice_items", blocking=True),
    CompanyCheck(complete_invoice_lines, "invoice_items", blocking=True),
]
