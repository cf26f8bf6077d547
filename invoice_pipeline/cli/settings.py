"""``settings set|list`` and ``secret-key new``."""

import sys

import click
from cryptography.fernet import Fernet

from invoice_pipeline import config, crypto, settings_store
from invoice_pipeline.cli.output import print_json, print_table
from invoice_pipeline.warehouse import Warehouse

_SOURCE = click.Choice(settings_store.SOURCES)


@click.group()
def settings() -> None:
    """Per-company source settings (API keys are stored encrypted, never shown)."""


@settings.command("set")
@click.option("--company", "company_id", type=click.IntRange(min=1), required=True)
@click.option("--name", "company_name", help="Company name (required for a new company).")
@click.option("--source", type=_SOURCE, default="billingo", show_default=True)
@click.option("--api-key-stdin", is_flag=True, help="Read the API key from standard input.")
@click.option(
    "--base-url", help="API base URL (default: the source's env var, else the public API)."
)
@click.option("--active/--inactive", "is_active", default=None, help="Sync this company or not.")
@click.option(
    "--nightly-sync/--no-nightly-sync",
    default=None,
    help="Include it in the nightly full sync (02:00 Budapest; new settings: yes).",
)
@click.option(
    "--frequent-sync/--no-frequent-sync",
    default=None,
    help="Include it in the high-volume incremental sync, 4 times a day (new settings: no).",
)
def set_settings(
    company_id: int,
    company_name: str | None,
    source: str,
    api_key_stdin: bool,
    base_url: str | None,
    is_active: bool | None,
    nightly_sync: bool | None,
    frequent_sync: bool | None,
) -> None:
    """Create or update the settings of one company and source (options left out keep
    their stored value)."""
    api_key = None
    if api_key_stdin:
        api_key = sys.stdin.readline().strip()
        if not api_key:
            raise settings_store.SettingsError("no API key on standard input")
    saved, created = settings_store.upsert(
        Warehouse(config.db_path()),
        company_id=company_id,
        source=source,
        company_name=company_name,
        api_key=api_key,
        base_url=base_url,
        is_active=is_active,
        nightly_sync=nightly_sync,
        frequent_sync=frequent_sync,
    )
    verb = "created" if created else "updated"
    flags = {
        "has_api_key": saved.has_api_key,
        "active": saved.is_active,
        "nightly_sync": saved.nightly_sync,
        "frequent_sync": saved.frequent_sync,
    }
    click.echo(
        f"{verb} {source} settings for company {saved.company_id} ({saved.company_name}); "
        + " ".join(f"{name}={str(value).lower()}" for name, value in flags.items())
    )


@settings.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_settings(as_json: bool) -> None:
    """Show every company's settings: has_api_key, never the key."""
    rows = [s.public_dict() for s in settings_store.list_settings(Warehouse(config.db_path()))]
    if as_json:
        print_json(rows)
    else:
        print_table(
            rows,
            [
                "company",
                "source",
                "company_name",
                "has_api_key",
                "is_active",
                "nightly_sync",
                "frequent_sync",
                "base_url",
                "last_sync_time",
            ],
        )


@click.group("secret-key")
def secret_key() -> None:
    """The Fernet key that encrypts stored API keys."""


@secret_key.command("new")
def new_secret_key() -> None:
    """Print a new key for INVOICE_PIPELINE_SECRET_KEY."""
    click.echo(Fernet.generate_key().decode())


@secret_key.command("rotate")
def rotate_secret_key() -> None:
    """Re-encrypt every stored API key with a new secret key.

    With the key file: a new key is generated and put first in the file, every stored key is
    re-encrypted with it, then the old key is removed. With INVOICE_PIPELINE_SECRET_KEY:
    put the new key first ("NEW,OLD"), run this, then drop OLD from the variable.
    """
    wh = Warehouse(config.db_path())
    if config.secret_key_env():
        count = settings_store.rotate_keys(wh)
        click.echo(
            f"re-encrypted {count} stored API key(s) with the first key of "
            "INVOICE_PIPELINE_SECRET_KEY; the other keys in it can now be removed"
        )
        return
    path = config.key_file()
    if not path.exists():
        raise settings_store.SettingsError(f"no key file at {path}: nothing to rotate")
    new_key = crypto.add_file_key(path)
    count = settings_store.rotate_keys(wh)  # on failure the file keeps both keys: still valid
    crypto.keep_only_file_key(path, new_key)
    click.echo(f"re-encrypted {count} stored API key(s) with a new key in {path}")
