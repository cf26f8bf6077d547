"""``users add|list``, ``features set|list`` and ``serve``: passwords only on stdin, never a
hash on screen, flags default on, one-line errors."""

import json

import pytest
from click.testing import CliRunner, Result

from invoice_pipeline import features, users
from invoice_pipeline.cli import cli as cli_group
from invoice_pipeline.cli.errors import EXPECTED_ERRORS
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.test_cli import cli, one_line_error


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli_group, list(args), input=stdin)


def test_users_add_and_list_never_show_the_password_or_hash(wh: Warehouse) -> None:
    password = "Almafa+123-secret"
    added = run("users", "add", "--username", "tothi", "--company", "4", "--role", "ADMIN",
                "--password-stdin", stdin=password + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output.strip() == "created user tothi (ADMIN) of company 4"
    run("users", "add", "--username", "reader", "--company", "4", "--role", "USER",
        "--password-stdin", stdin="another password\n")  # fmt: skip
    listed = run("users", "list", "--json")
    rows = json.loads(listed.output)
    assert [(r["username"], r["role"], r["company"]) for r in rows] == [
        ("reader", "USER", 4),
        ("tothi", "ADMIN", 4),
    ]
    table = run("users", "list").output
    for text in (added.output, listed.output, table):
        assert password not in text and "argon2" not in text
    assert users.authenticate("tothi", password, wh.path) is not None
    assert users.authenticate("tothi", "wrong", wh.path) is None
    with wh.read() as con:
        stored = con.execute("SELECT password_hash FROM users WHERE username = 'tothi'").fetchone()
    assert stored is not None and stored[0].startswith("$argon2id$") and password not in stored[0]
    assert "--password " not in run("users", "add", "--help").output  # stdin only


@pytest.mark.parametrize(
    ("args", "stdin", "error"),
    [
        (["--username", "tothi", "--role", "ADMIN"], "long enough pw\n", users.UserError),
        (["--username", "x y", "--role", "USER"], "long enough pw\n", users.UserError),
        (["--username", "new", "--role", "USER"], "short\n", users.UserError),
        (["--username", "new", "--role", "USER"], "", users.UserError),
    ],
)
def test_users_add_rejects_bad_input(
    wh: Warehouse, args: list[str], stdin: str, error: type
) -> None:
    users.create_user(wh, username="tothi", password="first password", role="ADMIN", company_id=4)
    result = run("users", "add", "--company", "4", "--password-stdin", *args, stdin=stdin)
    assert isinstance(result.exception, error), result.output
    assert error in EXPECTED_ERRORS


def test_features_default_on_and_switch(wh: Warehouse) -> None:
    users.create_user(wh, username="someone", password="a password", role="USER", company_id=4)
    listed = json.loads(run("features", "list", "--company", "4", "--json").output)
    assert [(f["feature"], f["enabled"], f["set"]) for f in listed] == [
        ("BILLINGO_SYNC", True, False),
        ("BILLX_SYNC", True, False),
    ]
    off = run("features", "set", "--company", "4", "BILLINGO_SYNC", "off")
    assert off.output.strip() == "BILLINGO_SYNC is off for company 4"
    assert features.is_enabled(4, "BILLINGO_SYNC", wh.path) is False
    assert features.is_enabled(7, "BILLINGO_SYNC", wh.path) is True  # per company
    run("features", "set", "--company", "4", "BILLINGO_SYNC", "on")
    assert features.is_enabled(4, "BILLINGO_SYNC", wh.path) is True
    assert "BILLINGO_SYNC  True     True" in run("features", "list", "--company", "4").output
    assert run("features", "set", "--company", "4", "NOPE", "on").exit_code == 2


def test_errors_are_one_line_in_a_real_process(wh: Warehouse) -> None:
    users.create_user(wh, username="a", password="password 1", role="USER", company_id=4)
    again = cli("users", "add", "--username", "a", "--company", "4", "--role", "USER",
                "--password-stdin", stdin="password 2\n")  # fmt: skip
    assert one_line_error(again) == "error: user 'a' already exists"
    serve = cli("serve", "--port", "1", env={"INVOICE_PIPELINE_JWT_SECRET": "too short"})
    assert "INVOICE_PIPELINE_JWT_SECRET must hold at least 32 characters" in one_line_error(serve)
    assert not wh.path.with_name("jwt.key").exists()
