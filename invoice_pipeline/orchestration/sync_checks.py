"""Checks against the sync log: the warehouse holds what the API listed; syncs are recent."""

import json
from typing import Any

import dagster as dg
import duckdb

from invoice_pipeline.orchestration.checks import CompanyCheck, offenders, result
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import eligibility

FRESH_HOURS = 26

# The sync to compare with, per source: this run's (its latest attempt), else the latest
# finished one. Only full syncs list every document.
_SYNC_TO_COMPARE = """
    SELECT id, source, mode, status, invoices_processed, errors FROM sync_logs
    WHERE company_id = $c AND (
        (run_id = $run AND status IN ('RUNNING', 'COMPLETED', 'PARTIAL'))
        OR status IN ('COMPLETED', 'PARTIAL'))
    QUALIFY row_number() OVER (
        PARTITION BY source ORDER BY coalesce(run_id = $run, false) DESC, id DESC) = 1
    ORDER BY source"""


def invoice_count_matches_api(
    con: duckdb.DuckDBPyConnection, company_id: int, run_id: str
) -> dg.AssetCheckResult:
    """After a full sync, the company's invoices of each source are exactly the documents the
    API listed (``invoices_processed``; rejected documents left out). Fewer is an ERROR that
    blocks; more (documents deleted at the source since they were stored, before a full sync
    that completed marked them deleted) is a WARN. Invoices marked deleted do not count."""
    compared: list[dict[str, Any]] = []
    syncs = con.execute(_SYNC_TO_COMPARE, {"c": company_id, "run": run_id}).fetchall()
    for log_id, source, mode, status, processed, errors in syncs:
        if mode != "full":
            continue
        rejected = {e["invoice_id"] for e in json.loads(errors) if e.get("invoice_id")}
        row = con.execute(
            "SELECT count(*) FROM invoices WHERE company_id = $c AND source = $s "
            "AND deleted_at IS NULL "
            "AND NOT list_contains($rejected, invoice_id)",
            {"c": company_id, "s": source, "rejected": sorted(rejected)},
        ).fetchone()
        stored = int(row[0]) if row else 0
        compared.append(
            {"source": source, "sync_log_id": log_id, "status": status,
             "api_listed": processed + len(rejected), "api_valid": processed,
             "in_warehouse": stored, "difference": stored - processed}
        )  # fmt: skip
    off = [x for x in compared if x["difference"]]
    missing = any(x["difference"] < 0 for x in off)
    return result(
        company_id,
        len(off),
        off,
        "sources' warehouse invoice counts differ from the API's listing"
        + (" (invoices missing)" if missing else " (more invoices than the API listed)"),
        dg.AssetCheckSeverity.ERROR if missing else dg.AssetCheckSeverity.WARN,
        compared=dg.MetadataValue.json(compared),
    )


@dg.asset_check(asset="sync_logs")
def syncs_are_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every company and source the nightly sync covers (``sync/eligibility.py``: active,
    feature on, nightly switch on) finished a sync (COMPLETED or PARTIAL) in the last 26
    hours (WARN). Checks the whole warehouse, not one partition: it runs at the end of every
    sync and hourly (``sync_freshness`` schedule), so a sync that stops running shows."""
    wh = warehouse.get()
    nightly = eligibility.targets(wh, schedule=eligibility.NIGHTLY)
    pairs = [f"{company}:{source}" for company, sources in nightly.items() for source in sources]
    sql = f"""
        SELECT s.company_id, s.source, s.company_name, max(l.completed_at) AS last_success,
               round(epoch(now() - max(l.completed_at)) / 3600, 1) AS age_hours
        FROM company_settings s LEFT JOIN sync_logs l
          ON l.company_id = s.company_id AND l.source = s.source
         AND l.status IN ('COMPLETED', 'PARTIAL')
        WHERE list_contains(CAST($pairs AS VARCHAR[]), s.company_id::VARCHAR || ':' || s.source)
        GROUP BY s.company_id, s.source, s.company_name
        HAVING max(l.completed_at) IS NULL
            OR max(l.completed_at) < now() - INTERVAL {FRESH_HOURS} HOUR"""
    with wh.read() as con:
        total, examples = offenders(
            con, sql, {"pairs": pairs}, "last_success NULLS FIRST, company_id, source"
        )
    active = len(pairs)
    stale = f"{total} of {active} nightly syncs have no good sync in {FRESH_HOURS} h"
    return dg.AssetCheckResult(
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=stale if total else None,
        metadata={
            "active_syncs": dg.MetadataValue.int(active),
            "stale_syncs": dg.MetadataValue.int(total),
            "examples": dg.MetadataValue.json(examples),
        },
    )


COUNT_CHECKS = [
    CompanyCheck(invoice_count_matches_api, "invoices", blocking=True, with_run_id=True)
]
