"""The normalized tables (both sources) and the sync log, per company partition."""

import dagster as dg

from invoice_pipeline.partitions import OWNER, companies
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import log
from invoice_pipeline.sync.service import SOURCES, finish_run, normalize_company

DOCUMENT_ASSETS = [dg.AssetKey(f"{name}_documents") for name in SOURCES]


def _company_rows(warehouse: WarehouseResource, company_id: int) -> tuple[int, int]:
    """The company's (invoices, lines) in the warehouse, in one read."""
    with warehouse.get().read() as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM invoices WHERE company_id = $c), "
            "(SELECT count(*) FROM invoice_items WHERE company_id = $c)",
            {"c": company_id},
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


_WAREHOUSE_TABLE = {"group_name": "warehouse", "kinds": {"duckdb"}, "owners": [OWNER]}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "invoices",
            deps=DOCUMENT_ASSETS,
            description=(
                "One row per document and source: numbers, status, totals (DECIMAL), dates, "
                "partner and issuer. Key: (source, company_id, invoice_id). Written with each "
                "batch of raw documents; this step rebuilds any row whose raw document changed "
                "since it was normalized (a crash, a mapping change) without calling the API."
            ),
            **_WAREHOUSE_TABLE,
        ),
        dg.AssetSpec(
            "invoice_items",
            deps=DOCUMENT_ASSETS,
            description=(
                "One row per invoice line, replaced with its invoice when the invoice changes. "
                "Key: (source, company_id, invoice_id, line_no)."
            ),
            **_WAREHOUSE_TABLE,
        ),
    ],
    partitions_def=companies,
)
def normalized_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Rebuild invoices and lines of raw documents whose normalized version lags."""
    company_id = int(context.partition_key)
    try:
        counts = normalize_company(warehouse.get(), company_id, context.run.run_id)
    except Exception as exc:
        finish_run(
            warehouse.get(), company_id, context.run.run_id, failure=f"normalization failed: {exc}"
        )
        raise
    written = sum(c[0] for c in counts.values())
    lines = sum(c[1] for c in counts.values())
    invoice_rows, line_rows = _company_rows(warehouse, company_id)
    yield dg.MaterializeResult(
        asset_key="invoices",
        metadata={
            "invoices_written": written,
            "dagster/row_count": invoice_rows,
        },
    )
    yield dg.MaterializeResult(
        asset_key="invoice_items",
        metadata={
            "lines_written": lines,
            "dagster/row_count": line_rows,
        },
    )


@dg.asset(
    deps=["invoices", "invoice_items"],
    partitions_def=companies,
    **_WAREHOUSE_TABLE,
    description=(
        "One row per company, source and sync: status (COMPLETED, PARTIAL, FAILED), counts, "
        "API calls, duration and the rejected documents."
    ),
)
def sync_logs(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Close this run's sync logs: PARTIAL when documents were rejected, else COMPLETED."""
    company_id = int(context.partition_key)
    statuses = finish_run(warehouse.get(), company_id, context.run.run_id)
    results = log.results_for_run(warehouse.get(), context.run.run_id)
    metadata: dict[str, object] = {"statuses": ", ".join(statuses) or "nothing to sync"}
    for r in results:
        prefix = r["source"]
        metadata[f"{prefix}_status"] = r["status"]
        metadata[f"{prefix}_items_extracted"] = r["items_extracted"]
        metadata[f"{prefix}_rejected"] = len(r["errors"])
    return dg.MaterializeResult(metadata=metadata)
