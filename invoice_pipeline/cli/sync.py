"""``sync``: run the Dagster sync job in process and print the seed's result shape."""

import sys

import click

from invoice_pipeline import config, settings_store
from invoice_pipeline.cli.output import print_json, print_table
from invoice_pipeline.warehouse import Warehouse

RESULT_COLUMNS = [
    "company_id", "source", "sync_mode", "status", "invoices_processed", "invoices_created",
    "invoices_updated", "invoices_skipped", "invoices_deleted", "items_extracted", "api_calls",
    "duration_seconds", "errors",
]  # fmt: skip


@click.command()
@click.option(
    "--company", "company_id", type=click.IntRange(min=1), help="One company (default: all active)."
)
@click.option(
    "--source",
    type=click.Choice(settings_store.SOURCES),
    help="One source (default: all configured).",
)
@click.option(
    "--incremental",
    is_flag=True,
    help="Only what changed since the last COMPLETED sync (a full sync when there is none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON list of results.")
def sync(company_id: int | None, source: str | None, incremental: bool, as_json: bool) -> None:
    """Full sync (MANUAL), or --incremental. Exit 0 when every sync COMPLETED and its run
    succeeded, 1 otherwise."""
    from invoice_pipeline.orchestration.run import run_sync  # Dagster: loaded when needed

    results = run_sync(
        Warehouse(config.db_path()),
        company_id=company_id,
        source=source,
        mode="incremental" if incremental else "full",
    )
    if as_json:
        print_json(results)
    else:
        print_table(results, RESULT_COLUMNS)
        for r in results:
            if r.get("sync_mode_reason"):
                click.echo(
                    f"  company {r['company_id']} {r['source']}: {r['sync_mode_reason']}",
                    err=True,
                )
            for err in r["errors"][:10]:
                click.echo(f"  company {r['company_id']} {r['source']}: {_describe(err)}", err=True)
    ok = results and all(r["status"] == "COMPLETED" and not r["errors"] for r in results)
    sys.exit(0 if ok else 1)  # a COMPLETED sync has errors only when its run failed after it


def _describe(err: dict) -> str:
    where = (
        f"invoice {err.get('invoice_id')} ({err.get('invoice_number')}): "
        if err.get("invoice_id")
        else ""
    )
    return where + str(err.get("error"))
