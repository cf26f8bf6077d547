"""``demo``: the whole flow against the bundled emulators, printed step by step."""

import sys

import click

from invoice_pipeline import config
from invoice_pipeline.cli.output import print_table
from invoice_pipeline.cli.sync import RESULT_COLUMNS
from invoice_pipeline.warehouse import Warehouse

# What an analyst compares across sources: final, not cancelled invoices per company, source
# and currency (both sources speak the same vocabulary: type, payment_status).
CROSS_SOURCE = """
    SELECT company_id, source, currency, count(*) AS invoices,
           printf('%,.2f', sum(gross_total)) AS gross_total,
           count(*) FILTER (payment_status IN ('outstanding', 'expired')) AS unpaid,
           printf('%,.2f', coalesce(sum(gross_total) FILTER (payment_status = 'expired'), 0))
               AS overdue_gross
    FROM invoices WHERE type = 'invoice' AND NOT coalesce(cancelled, false)
    GROUP BY ALL ORDER BY company_id, source, currency
"""


def _rows(cursor_rows: list[tuple], names: list[str]) -> list[dict]:
    return [dict(zip(names, r, strict=True)) for r in cursor_rows]


@click.command()
def demo() -> None:
    """Start the Billingo and BillX emulators, configure demo companies, sync (full, then
    incremental), show invoices and a cross-source query."""
    from invoice_pipeline.demo import run_demo

    results = run_demo(click.echo, lambda rows: print_table(rows, RESULT_COLUMNS))
    newest = ["company_id", "source", "invoice_number", "type", "payment_status", "cancelled",
              "gross_total", "currency", "invoice_date", "partner_name", "item_count"]  # fmt: skip
    totals = ["company_id", "source", "invoices", "lines"]
    cross = ["company_id", "source", "currency", "invoices", "gross_total", "unpaid",
             "overdue_gross"]  # fmt: skip
    with Warehouse(config.db_path()).read() as con:
        latest = con.execute(
            """
            SELECT company_id, source, invoice_number, type, payment_status, cancelled,
                   printf('%,.2f', gross_total) AS gross_total, currency, invoice_date,
                   partner_name, item_count
            FROM invoices
            QUALIFY row_number() OVER (PARTITION BY company_id, source
                                       ORDER BY invoice_id DESC) <= 3
            ORDER BY company_id, source, invoice_id DESC
            """
        ).fetchall()
        counts = con.execute(
            "SELECT company_id, source, count(*), sum(item_count) FROM invoices "
            "GROUP BY ALL ORDER BY 1, 2"
        ).fetchall()
        by_source = con.execute(CROSS_SOURCE).fetchall()
    click.echo("\n3. the newest invoices in the warehouse")
    print_table(_rows(latest, newest), newest)
    click.echo("\n4. warehouse totals")
    print_table(_rows(counts, totals), totals)
    click.echo(
        "\n5. one query across both sources: final, not cancelled invoices per company, "
        "source and currency"
    )
    print_table(_rows(by_source, cross), cross)
    click.echo("\nnext: `make dev` opens the Dagster UI with these runs; see README for queries")
    sys.exit(0 if all(r["status"] == "COMPLETED" for r in results) else 1)
