"""``users add|list`` and ``features set|list``: who may call the API, and per-company flags."""

import sys

import click

from invoice_pipeline import config, features, users
from invoice_pipeline.cli.output import print_json, print_table
from invoice_pipeline.warehouse import Warehouse

COMPANY = click.option("--company", "company_id", type=click.IntRange(min=1), required=True)


@click.group("users")
def users_group() -> None:
    """API users (passwords are stored as argon2 hashes, never shown)."""


@users_group.command("add")
@click.option("--username", required=True)
@COMPANY
@click.option("--role", type=click.Choice(users.ROLES), required=True)
@click.option(
    "--password-stdin", is_flag=True, required=True, help="Read the password from standard input."
)
def add_user(username: str, company_id: int, role: str, password_stdin: bool) -> None:
    """Add a user of one company (the password comes on standard input, never argv)."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else ""
    if not password:
        raise users.UserError("no password on standard input")
    user = users.create_user(
        Warehouse(config.db_path()),
        username=username,
        password=password,
        role=role,
        company_id=company_id,
    )
    click.echo(f"created user {user.username} ({user.role}) of company {user.company_id}")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_users(as_json: bool) -> None:
    """Every user: username, role, company (never the hash)."""
    rows = [u.public_dict() for u in users.list_users(config.db_path())]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["username", "role", "company", "is_active", "created_at"])


@click.group("features")
def features_group() -> None:
    """Per-company feature flags (a flag never set is on)."""


@features_group.command("set")
@COMPANY
@click.argument("feature", type=click.Choice(features.FEATURES))
@click.argument("state", type=click.Choice(["on", "off"]))
def set_feature(company_id: int, feature: str, state: str) -> None:
    """Switch FEATURE on or off for one company."""
    features.set_feature(Warehouse(config.db_path()), company_id, feature, state == "on")
    click.echo(f"{feature} is {state} for company {company_id}")


@features_group.command("list")
@COMPANY
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_features(company_id: int, as_json: bool) -> None:
    """The company's flags; "set" is false for a flag left at its default (on)."""
    rows = [s.public_dict() for s in features.list_features(company_id, config.db_path())]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["feature", "enabled", "set", "updated_at"])
