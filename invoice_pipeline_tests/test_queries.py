"""The query module over a real sync: shapes, filters, paging, isolation, argument errors."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from cryptography.fernet import Fernet

from invoice_pipeline import queries
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse, snapshot
from invoice_pipeline_tests.helpers import configure, sync


@dataclass
class Synced:
    wh: Warehouse
    docs: dict[int, list[dict[str, Any]]]  # company -> the emulator's documents
    key: str


@pytest.fixture(scope="module")
def synced(
    tmp_path_factory: pytest.TempPathFactory, dagster_instance: dg.DagsterInstance
) -> Iterator[Synced]:
    """Companies 4 (250 documents) and 7 (60) synced into one warehouse, once per module."""
    wh = Warehouse(tmp_path_factory.mktemp("queries") / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as mp, BillingoEmulator() as emu:
        mp.setenv("INVOICE_PIPELINE_SECRET_KEY", Fernet.generate_key().decode())
        mp.setenv("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", "0")
        configure(wh, emu, "key-four", company_id=4, docs=250, seed=4)
        configure(wh, emu, "key-seven", company_id=7, docs=60, seed=7)
        for company in (4, 7):
            assert sync(wh, dagster_instance, company)[1]["status"] == "COMPLETED"
        yield Synced(wh, {4: emu.documents("key-four"), 7: emu.documents("key-seven")}, "key")


SEED_LIST_FIELDS = (
    "id", "company", "company_name", "invoice_number", "type", "payment_status",
    "payment_method", "gross_total", "gross_total_formatted", "currency", "invoice_date",
    "invoice_date_formatted", "due_date", "paid_date", "partner_name", "partner_tax_number",
    "cancelled", "item_count", "created_at",
)  # fmt: skip


def _list(s: Synced, company: int = 4, **kwargs: Any) -> queries.Page[queries.InvoiceSummary]:
    return queries.list_invoices(company, db_path=s.wh.path, **kwargs)


def test_list_has_the_seed_fields_newest_first_and_pages(synced: Synced) -> None:
    first = _list(synced, page_size=100)
    assert first.count == 250 and len(first.results) == 100
    assert (first.next, first.previous) == (2, None)
    last = _list(synced, page=3, page_size=100)
    assert len(last.results) == 50 and (last.next, last.previous) == (None, 2)
    every = _list(synced, page_size=1000).results
    assert len({r.id for r in every}) == 250
    keys = [(r.invoice_date, r.id) for r in every]
    assert keys == sorted(keys, reverse=True)
    row = first.results[0].model_dump(mode="json")
    assert set(SEED_LIST_FIELDS) <= set(row)
    assert row["company"] == 4 and row["company_name"] == "Company 4 Kft."
    assert row["created_at"].endswith(("+01:00", "+02:00"))  # shown in Budapest time


def test_money_is_exact_and_formatted_like_the_seed(synced: Synced) -> None:
    by_id = {d["id"]: d for d in synced.docs[4]}
    for row in _list(synced, page_size=1000).results:
        doc = by_id[row.id]
        assert row.gross_total == Decimal(repr(doc["gross_total"])).quantize(Decimal("0.01"))
        whole, cents = f"{row.gross_total:.2f}".split(".")
        assert row.gross_total_formatted == f"{int(whole):,}.{cents} {doc['currency']}"


def test_filters_match_the_documents(synced: Synced) -> None:
    docs = synced.docs[4]
    paid = _list(synced, payment_status="paid", page_size=1000)
    assert paid.count == sum(d["payment_status"] == "paid" for d in docs) > 0
    assert {r.payment_status for r in paid.results} == {"paid"}
    tax = docs[0]["partner"]["taxcode"]
    by_tax = _list(synced, partner_tax_number=tax, page_size=1000)
    assert by_tax.count == sum(d["partner"]["taxcode"] == tax for d in docs) > 0
    days = sorted({d["invoice_date"] for d in docs})
    start, end = days[10], days[40]
    window = _list(synced, invoice_date_from=start, invoice_date_to=date.fromisoformat(end))
    assert window.count == sum(start <= d["invoice_date"] <= end for d in docs)
    number = docs[5]["invoice_number"]
    found = _list(synced, search=number.lower()[2:8])
    assert found.count == sum(number.lower()[2:8] in d["invoice_number"].lower() for d in docs)
    assert number in {r.invoice_number for r in found.results}


def test_empty_filters_are_no_filters(synced: Synced) -> None:
    everything = _list(synced).count
    assert _list(synced, payment_status="", partner_tax_number="", search="").count == everything


@pytest.mark.parametrize("needle", ["%", "_", "'", "' OR 1=1 --", '"; DROP TABLE invoices; --'])
def test_search_is_literal(synced: Synced, needle: str) -> None:
    assert _list(synced, search=needle).count == sum(
        needle.lower() in d["invoice_number"].lower() for d in synced.docs[4]
    )
    assert _list(synced).count == 250  # and nothing was dropped


def test_detail_has_the_lines_of_the_document(synced: Synced) -> None:
    doc = synced.docs[4][17]
    detail = queries.get_invoice(4, doc["id"], db_path=synced.wh.path)
    assert detail.invoice_number == doc["invoice_number"]
    assert detail.item_count == len(detail.items) == len(doc["items"])
    assert [i.name for i in detail.items] == [i["name"] for i in doc["items"]]
    assert [i.id for i in detail.items] == list(range(1, len(doc["items"]) + 1))
    assert sum(i.gross_amount for i in detail.items if i.gross_amount) == sum(
        Decimal(repr(i["gross_amount"])) for i in doc["items"]
    )
    shape = detail.model_dump(mode="json")
    assert shape["conversion_rate"].count(".") == 1 and "api_key" not in str(shape)


def test_companies_never_see_each_other(synced: Synced) -> None:
    other = synced.docs[7][0]["id"]
    with pytest.raises(queries.NotFoundError):
        queries.get_invoice(4, other, db_path=synced.wh.path)
    assert other not in {r.id for r in _list(synced, page_size=1000).results}
    assert _list(synced, company=7).count == 60
    tax = synced.docs[7][0]["partner"]["taxcode"]
    assert all(r.company == 4 for r in _list(synced, partner_tax_number=tax).results)
    with pytest.raises(queries.NotFoundError, match="company 5 is not configured"):
        _list(synced, company=5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"page": 0}, "page must be at least 1"),
        ({"page": "x"}, "page must be an integer"),
        ({"page_size": 5000}, "page_size must be at most 1000"),
        ({"page_size": 0}, "page_size must be at least 1"),
        ({"invoice_date_from": "2025-02-30"}, "invoice_date_from must be a date"),
        ({"invoice_date_from": "2025-05-01", "invoice_date_to": "2025-04-01"}, "is after"),
        ({"payment_status": "bogus"}, "unknown payment_status 'bogus'"),
        ({"source": "szamlazz"}, "unknown source"),
        ({"search": "x" * 500}, "longer than"),
        ({"page": 2**62, "page_size": 10}, "page is out of range"),
    ],
)
def test_bad_arguments_raise_one_clear_error(
    synced: Synced, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(queries.QueryError, match=message):
        _list(synced, **kwargs)


def test_sync_logs_and_settings(synced: Synced) -> None:
    logs = queries.list_sync_logs(4, db_path=synced.wh.path)
    assert logs.count == 1
    entry = logs.results[0]
    assert (entry.sync_type_display, entry.status_display) == ("Kézi", "Befejezve")
    assert entry.errors == "" and entry.errors_parsed == []
    assert entry.started_at_formatted == entry.started_at.strftime("%Y-%m-%d %H:%M:%S")
    assert queries.list_sync_logs(4, status="FAILED", db_path=synced.wh.path).count == 0
    with pytest.raises(queries.QueryError, match="unknown status"):
        queries.list_sync_logs(4, status="DONE", db_path=synced.wh.path)
    with pytest.raises(queries.QueryError, match="page is out of range"):
        queries.list_sync_logs(4, page=2**61, page_size=100, db_path=synced.wh.path)
    (settings,) = queries.list_settings(4, db_path=synced.wh.path)
    assert settings.has_api_key and settings.last_sync_time is not None
    assert "key-four" not in settings.model_dump_json()
    assert queries.list_settings(5, db_path=synced.wh.path) == []
    assert logs.snapshot.data_as_of == entry.completed_at


def test_dataframe_keeps_money_decimal(synced: Synced) -> None:
    frame = _list(synced, page_size=10).to_dataframe()
    assert len(frame) == 10 and isinstance(frame["gross_total"].iloc[0], Decimal)


def test_views_hide_raw_and_bookkeeping_columns(synced: Synced) -> None:
    path = snapshot.current_file(synced.wh.path)
    assert path is not None
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = {r[0] for r in con.execute("DESCRIBE v_invoices").fetchall()}
        assert "content_hash" not in columns and {"company_name", "gross_total"} <= columns
        assert con.execute("SELECT count(*) FROM v_invoice_items").fetchone()[0] == sum(  # type: ignore[index]
            len(d["items"]) for company in (4, 7) for d in synced.docs[company]
        )
        settings = {r[0] for r in con.execute("DESCRIBE v_settings").fetchall()}
        assert "api_key_encrypted" not in settings and "has_api_key" in settings
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        assert "raw_documents" not in tables
    finally:
        con.close()


def test_a_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(queries.QueryError, match="no warehouse"):
        queries.list_invoices(4, db_path=tmp_path / "none.duckdb")
