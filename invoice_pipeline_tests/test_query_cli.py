"""``invoices list/show`` and ``sync-logs`` in real subprocesses: formats, errors, shapes."""

import csv
import io
import json

import pytest

from invoice_pipeline import queries
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline_tests.test_cli import cli, configure_company, one_line_error


@pytest.fixture
def synced(emulator: BillingoEmulator, api_key: str) -> list[dict]:
    emulator.add_account(api_key, docs=130, seed=3)
    configure_company(emulator, api_key)
    out = cli("sync", "--company", "4")
    assert out.returncode == 0, out.stderr
    return emulator.documents(api_key)


def _without_age(shape: dict) -> dict:
    return {**shape, "snapshot": {**shape["snapshot"], "age_seconds": None}}


def test_json_prints_exactly_the_python_shapes(synced: list[dict]) -> None:
    out = cli("invoices", "list", "--company", "4", "--page-size", "20", "--format", "json")
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    expected = queries.list_invoices(4, page_size=20).model_dump(mode="json")
    assert _without_age(printed) == _without_age(expected)
    assert printed["count"] == 130 and printed["next"] == 2
    shown = cli("invoices", "show", str(synced[3]["id"]), "--company", "4", "--format", "json")
    detail = json.loads(shown.stdout)
    assert detail == queries.get_invoice(4, synced[3]["id"]).model_dump(mode="json")
    assert len(detail["items"]) == len(synced[3]["items"])
    logs = json.loads(cli("sync-logs", "--company", "4", "--format", "json").stdout)
    assert logs["results"][0]["status_display"] == "Befejezve"


def test_csv_opens_as_a_table_and_table_is_readable(synced: list[dict]) -> None:
    out = cli("invoices", "list", "--company", "4", "--page-size", "1000", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 130 and {r["id"] for r in rows} == {str(d["id"]) for d in synced}
    lines = cli("invoices", "show", str(synced[0]["id"]), "--company", "4", "--format", "csv")
    assert len(list(csv.DictReader(io.StringIO(lines.stdout)))) == len(synced[0]["items"])
    table = cli("invoices", "list", "--company", "4", "--page-size", "5").stdout.splitlines()
    assert table[0].split()[:3] == ["id", "source", "invoice_number"]
    assert len(table) == 2 + 5 + 2 and "page 1 of 26 · 130 invoices · data as of" in table[-1]
    assert "Kézi" in cli("sync-logs", "--company", "4").stdout


BAD_ARGUMENTS = [
    (["invoices", "list", "--company", "4", "--from", "2025-99-01"], "must be a date"),
    (["invoices", "list", "--company", "4", "--page", "0"], "page must be at least 1"),
    (["invoices", "list", "--company", "4", "--page-size", "100000"], "at most 1000"),
    (["invoices", "list", "--company", "99"], "company 99 is not configured"),
    (["invoices", "list", "--company", "4", "--payment-status", "x"], "unknown payment"),
    (["invoices", "show", "12", "--company", "4"], "company 4 has no invoice 12"),
    (["invoices", "show", "abc", "--company", "4"], "is not a valid integer"),
    (["sync-logs", "--company", "4", "--status", "DONE"], "'DONE' is not one of"),
    (["invoices", "list"], "Missing option '--company'"),
]


def test_bad_arguments_are_one_line_and_non_zero(synced: list[dict]) -> None:
    for args, message in BAD_ARGUMENTS:
        assert message in one_line_error(cli(*args)), args


def test_hostile_search_is_taken_literally(synced: list[dict]) -> None:
    out = cli("invoices", "list", "--company", "4", "--search", "' OR 1=1; --", "--format", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["count"] == 0
    assert (
        json.loads(cli("invoices", "list", "--company", "4", "--format", "json").stdout)["count"]
        == 130
    )
