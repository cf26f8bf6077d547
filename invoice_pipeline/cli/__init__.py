"""The ``invoice-pipeline`` command line."""

import os
import sys

import click

from invoice_pipeline.cli.demo import demo
from invoice_pipeline.cli.emulator import emulator
from invoice_pipeline.cli.errors import EXPECTED_ERRORS
from invoice_pipeline.cli.queries import invoices, sync_logs
from invoice_pipeline.cli.serve import serve
from invoice_pipeline.cli.settings import secret_key, settings
from invoice_pipeline.cli.sync import sync
from invoice_pipeline.cli.users import features_group, users_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Billingo and BillX invoices into a DuckDB warehouse, through Dagster."""


for command in (settings, secret_key, sync, invoices, sync_logs, emulator, demo):
    cli.add_command(command)
cli.add_command(serve)
cli.add_command(users_group)
cli.add_command(features_group)


def main() -> None:
    """Entry point: expected errors become one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:  # usage errors too: one line, no usage block
        click.echo(f"error: {exc.format_message()} (see --help)", err=True)
        sys.exit(exc.exit_code)
    except EXPECTED_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # a bug: still one line unless asked for the traceback
        if os.environ.get("INVOICE_PIPELINE_DEBUG"):
            raise
        click.echo(
            f"error: {type(exc).__name__}: {exc} (INVOICE_PIPELINE_DEBUG=1 shows the traceback)",
            err=True,
        )
        sys.exit(1)
