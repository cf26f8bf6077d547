"""``demo``: the whole flow against the bundled emulator, printed step by step."""

import sys

import click

from invoice_pipeline import config
from invoice_pipeline.cli.output import print_table
from invoice_pipeline.cli.sync import RESULT_COLUMNS
from invoice_pipeline.warehouse import Warehouse


@click.command()
def demo() -> None:
    """Start the Billingo emulator, configure demo companies, sync twice, show invoices."""
    from invoice_pipeline.demo import run_demo

    results = run_demo(click.echo, lambda rows: print_table(rows, RESULT_COLUMNS))
    with Warehouse(config.db_path()).read() as con:
        rows = con.execute(
            """
            SELECT company_id, invoice_number, type, payment_status, cancelled,
                   printf('%,.2f', gross_total) AS gross_total, currency, invoice_date,
                   partner_name, item_count
            FROM invoices
            QUALIFY row_number() OVER (PARTITION BY company_id ORDER BY invoice_id DESC) <= 4
            ORDER BY company_id, invoice_id DESC
            """
        ).fetchall()
        totals = con.execute(
            "SELECT company_id, count(*), sum(item_count) FROM invoices GROUP BY ALL ORDER BY 1"
        ).fetchall()
    click.echo("\n3. the newest invoices in the warehouse")
    names = ["company_id", "invoice_number", "type", "payment_status", "cancelled",
             "gross_total", "currency", "invoice_date", "partner_name", "item_count"]  # fmt: skip
    print_table([dict(zip(names, r, strict=True)) for r in rows], names)
    click.echo("\n4. warehouse totals")
    print_table(
        [{"company_id": c, "invoices": n, "lines": lines} for c, n, lines in totals],
        ["company_id", "invoices", "lines"],
    )
    click.echo("\nnext: `make dev` opens the Dagster UI with these runs; see README for queries")
    sys.exit(0 if all(r["status"] == "COMPLETED" for r in results) else 1)
