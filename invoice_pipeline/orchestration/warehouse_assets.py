"""The normalized tables (both sources) and the sync log, per company partition."""

from decimal import Decimal
from typing import Any

import dagster as dg

from invoice_pipeline.partitions import OWNER, companies
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import log
from invoice_pipeline.sync.service import SOURCES, finish_run, normalize_company

DOCUMENT_ASSETS = [dg.AssetKey(f"{name}_documents") for name in SOURCES]
PREVIEW_ROWS = 5


def _company_rows(
    warehouse: WarehouseResource, company_id: int
) -> tuple[int, int, list[tuple[Any, ...]]]:
    """The company's (invoices, lines) in the warehouse and its latest invoices, in one read."""
    with warehouse.get().read() as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM invoices WHERE company_id = $c), "
            "(SELECT count(*) FROM invoice_items WHERE company_id = $c)",
            {"c": company_id},
        ).fetchone()
        latest = con.execute(
            "SELECT invoice_number, invoice_date, partner_name, gross_total, currency, "
            "payment_status, cancelled FROM invoices WHERE company_id = $c "
            "ORDER BY invoice_date DESC NULLS LAST, invoice_id DESC LIMIT $n",
            {"c": company_id, "n": PREVIEW_ROWS},
        ).fetchall()
    invoices, lines = (int(row[0]), int(row[1])) if row else (0, 0)
    return invoices, lines, latest


def _money(amount: Decimal | None, currency: str | None) -> str:
    """Hungarian style: ``1 234 567 Ft``, ``1 234,50 EUR``."""
    if amount is None:
        return ""
    text = f"{amount:,.2f}".replace(",", " ").replace(".", ",")
    if currency in (None, "HUF") and amount == amount.to_integral_value():
        text = text[:-3]
    return f"{text} {'Ft' if currency in (None, 'HUF') else currency}"


def _cell(value: Any) -> str:
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|")


def latest_invoices_markdown(rows: list[tuple[Any, ...]]) -> str:
    """The latest invoices as a markdown table (business fields only, nothing secret)."""
    if not rows:
        return "_no invoices yet_"
    lines = ["| Number | Date | Partner | Gross | Payment |", "|---|---|---|---:|---|"]
    for number, day, partner, gross, currency, status, cancelled in rows:
        payment = f"{status or '-'}{' (cancelled)' if cancelled else ''}"
        cells = [number, day.isoformat() if day else "", partner, _money(gross, currency), payment]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


_WAREHOUSE_TABLE = {"group_name": "warehouse", "kinds": {"duckdb"}, "owners": [OWNER]}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "invoices",
            deps=DOCUMENT_ASSETS,
            description=(
                "Table `invoices`: one row per document and source (invoices, proformas, "
                "cancellations ...): number, type, payment status and method, net/VAT/gross "
                "totals (DECIMAL(18,4), as the source sent them), currency and rate, dates, "
                "partner (name, tax number, address) and issuer, item_count. Key: (source, "
                "company_id, invoice_id). Written with each batch of raw documents; this step "
                "rebuilds any row whose raw document changed since it was normalized (a crash, "
                "a mapping change) without calling the API. Checked for unique keys, counts "
                "equal to the API's listing, line totals and partner tax numbers."
            ),
            **_WAREHOUSE_TABLE,
        ),
        dg.AssetSpec(
            "invoice_items",
            deps=DOCUMENT_ASSETS,
            description=(
                "Table `invoice_items`: one row per invoice line: product, quantity, unit, net "
                "unit price, net/VAT/gross amounts (rounded per line by the source), VAT rate "
                "name. Replaced with its invoice when the invoice changes. Key: (source, "
                "company_id, invoice_id, line_no). Checked: no line without its invoice, "
                "exactly item_count lines per invoice."
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
    except Exception as exc:  # the sync is over: its logs say why, a retry could not close them
        reason = f"normalization failed: {exc}"
        finish_run(warehouse.get(), company_id, context.run.run_id, failure=reason)
        raise dg.Failure(description=reason, allow_retries=False) from exc
    written = sum(c[0] for c in counts.values())
    lines = sum(c[1] for c in counts.values())
    invoice_rows, line_rows, latest = _company_rows(warehouse, company_id)
    yield dg.MaterializeResult(
        asset_key="invoices",
        metadata={
            "invoices_written": dg.MetadataValue.int(written),
            "dagster/row_count": dg.MetadataValue.int(invoice_rows),
            "latest_invoices": dg.MetadataValue.md(latest_invoices_markdown(latest)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="invoice_items",
        metadata={
            "lines_written": dg.MetadataValue.int(lines),
            "dagster/row_count": dg.MetadataValue.int(line_rows),
        },
    )


@dg.asset(
    deps=["invoices", "invoice_items"],
    partitions_def=companies,
    **_WAREHOUSE_TABLE,
    description=(
        "Table `sync_logs`: one row per company, source and sync attempt: sync type "
        "(MANUAL, AUTOMATIC), status (RUNNING, then COMPLETED, PARTIAL or FAILED), "
        "processed/created/updated/skipped counts, lines, API calls, duration, the rejected "
        "documents and the Dagster run id. This step closes the run's logs; a failed run's "
        "logs are closed as FAILED by the failure hook or the sync_failure_alerts sensor."
    ),
)
def sync_logs(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Close this run's sync logs: PARTIAL when documents were rejected, else COMPLETED."""
    company_id = int(context.partition_key)
    statuses = finish_run(warehouse.get(), company_id, context.run.run_id)
    results = log.results_for_run(warehouse.get(), context.run.run_id)
    metadata: dict[str, dg.MetadataValue] = {
        "statuses": dg.MetadataValue.text(", ".join(statuses) or "nothing to sync")
    }
    for r in results:
        prefix = r["source"]
        metadata[f"{prefix}_status"] = dg.MetadataValue.text(r["status"])
        metadata[f"{prefix}_items_extracted"] = dg.MetadataValue.int(r["items_extracted"])
        metadata[f"{prefix}_rejected"] = dg.MetadataValue.int(len(r["errors"]))
    return dg.MaterializeResult(metadata=metadata)
