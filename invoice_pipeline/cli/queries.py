"""``invoices list``, ``invoices show`` and ``sync-logs``: the query module on the terminal."""

from typing import Any

import click

from invoice_pipeline import queries
from invoice_pipeline.cli.output import print_csv, print_json, print_table
from invoice_pipeline.queries import formatting
from invoice_pipeline.settings_store import SOURCES

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people, json for the Python API's shapes, csv for spreadsheets.",
)
COMPANY = click.option("--company", "company_id", type=int, required=True, help="Company id.")
SOURCE = click.option("--source", type=click.Choice(SOURCES), help="Only this source.")
PAGE = click.option("--page", type=int, default=1, show_default=True)
PAGE_SIZE = click.option("--page-size", type=int, default=100, show_default=True)

INCLUDE_DELETED = click.option(
    "--include-deleted",
    is_flag=True,
    help="Also invoices a full sync found deleted at the source (with their deleted_at).",
)
_LIST_COLUMNS = (
    "id", "source", "invoice_number", "invoice_date", "partner_name", "gross_total_formatted",
    "payment_status", "due_date", "item_count",
)  # fmt: skip
_LINE_COLUMNS = (
    "id", "name", "quantity", "unit", "net_unit_price", "net_amount", "vat", "gross_amount",
)  # fmt: skip
_LOG_COLUMNS = (
    "id", "source", "sync_type_display", "status_display", "invoices_processed",
    "invoices_created", "invoices_updated", "invoices_skipped", "api_calls_made",
    "duration_formatted", "started_at_formatted",
)  # fmt: skip


@click.group()
def invoices() -> None:
    """List and show the invoices of a company (from the last published snapshot)."""


@invoices.command("list")
@COMPANY
@SOURCE
@click.option("--payment-status", help="paid, outstanding, expired, partially_paid, none.")
@click.option("--partner-tax-number", help="Exact partner tax number.")
@click.option("--from", "date_from", help="Invoice date from (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Invoice date to (YYYY-MM-DD).")
@click.option("--search", help="Part of the invoice number (literal, any case).")
@INCLUDE_DELETED
@PAGE
@PAGE_SIZE
@FORMAT
def list_command(
    company_id: int,
    source: str | None,
    payment_status: str | None,
    partner_tax_number: str | None,
    date_from: str | None,
    date_to: str | None,
    search: str | None,
    include_deleted: bool,
    page: int,
    page_size: int,
    fmt: str,
) -> None:
    """Invoices of a company, newest first, filtered and paged."""
    result = queries.list_invoices(
        company_id,
        source=source,
        payment_status=payment_status,
        partner_tax_number=partner_tax_number,
        invoice_date_from=date_from,
        invoice_date_to=date_to,
        search=search,
        page=page,
        page_size=page_size,
        include_deleted=include_deleted,
    )
    columns = (*_LIST_COLUMNS, "deleted_at") if include_deleted else _LIST_COLUMNS
    _print_page(result, fmt, columns, "invoices")


@invoices.command("show")
@click.argument("invoice_id", type=int)
@COMPANY
@SOURCE
@INCLUDE_DELETED
@FORMAT
def show_command(
    invoice_id: int, company_id: int, source: str | None, include_deleted: bool, fmt: str
) -> None:
    """One invoice with its lines."""
    detail = queries.get_invoice(
        company_id, invoice_id, source=source, include_deleted=include_deleted
    )
    data = detail.model_dump(mode="json")
    if fmt == "json":
        print_json(data)
    elif fmt == "csv":
        head = {"invoice_id": detail.id, "invoice_number": detail.invoice_number}
        print_csv([{**head, **line} for line in data["items"]])
    else:
        fields = {k: v for k, v in data.items() if k != "items" and v not in (None, "")}
        width = max(len(k) for k in fields)
        for key, value in fields.items():
            click.echo(f"{key.ljust(width)}  {value}")
        click.echo("")
        print_table(data["items"], _LINE_COLUMNS)


@click.command("sync-logs")
@COMPANY
@SOURCE
@click.option("--sync-type", type=click.Choice(["MANUAL", "AUTOMATIC"]))
@click.option("--status", type=click.Choice(["RUNNING", "COMPLETED", "FAILED", "PARTIAL"]))
@PAGE
@PAGE_SIZE
@FORMAT
def sync_logs(
    company_id: int,
    source: str | None,
    sync_type: str | None,
    status: str | None,
    page: int,
    page_size: int,
    fmt: str,
) -> None:
    """The sync log of a company, newest first."""
    result = queries.list_sync_logs(
        company_id, source=source, sync_type=sync_type, status=status, page=page,
        page_size=page_size,
    )  # fmt: skip
    _print_page(result, fmt, _LOG_COLUMNS, "syncs")


def _print_page(result: queries.Page[Any], fmt: str, columns: tuple[str, ...], noun: str) -> None:
    data = result.model_dump(mode="json")
    if fmt == "json":
        print_json(data)
        return
    if fmt == "csv":
        print_csv(data["results"])
        return
    print_table(data["results"], columns)
    pages = max(1, -(-result.count // result.page_size))
    as_of = formatting.timestamp_formatted(result.snapshot.data_as_of) or "no completed sync"
    click.echo(
        f"\npage {result.page} of {pages} · {result.count} {noun} · data as of {as_of} "
        f"(snapshot published {formatting.duration_formatted(result.snapshot.age_seconds)} ago)"
    )
