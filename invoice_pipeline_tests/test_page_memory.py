"""Pages remembered between syncs (``sync/page_memory.py``): a page unchanged but for its
unpaid documents' ``paid_date`` is not parsed again, any other page is, and nothing
unchanged is written either way."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import duckdb
import pytest

from invoice_pipeline.billingo import client as billingo_client
from invoice_pipeline.billingo.pages import validate_page
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.sync import extract as extract_module
from invoice_pipeline.sync import page_memory, page_windows
from invoice_pipeline.sync.page_table import values_table
from invoice_pipeline.sync.pages import ValidatedPage, stable_digest
from invoice_pipeline.warehouse import Warehouse, schema
from invoice_pipeline_tests.helpers import configure, scalar, sync


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of documents on each page body the Billingo client parsed, in the order
    its fetch workers finished them (a spy on its validation: the pages are real)."""
    seen: list[int] = []
    real: Callable[[bytes], ValidatedPage] = billingo_client.validate_page

    def spy(body: bytes) -> ValidatedPage:
        page = real(body)
        seen.append(len(page.ids))
        return page

    monkeypatch.setattr(billingo_client, "validate_page", spy)
    return seen


def test_the_fingerprint_of_a_page_is_the_one_earlier_versions_stored() -> None:
    """Fingerprints stored by a sync stay comparable after an upgrade: SHA-256 of the salt
    and the body without its volatile spans, however it is computed (pinned values, from
    the version that hashed the parts one by one)."""
    body = b'{"data":[{"id":1,"paid_date":"2026-12-01"},{"id":2,"paid_date":"2026-12-01"}]}' * 40
    spans = [(22, 47), (1200, 1225), (len(body) - 20, len(body) - 3)]
    assert stable_digest(body, spans, b"tag") == (
        "5fa216b66ec26843fc5e7240f2d773ac3c3b022d3cddb84ffe36f1ebd4ce318e"
    )
    assert stable_digest(body, [], b"") == (
        "34fe26e39ff887ba2e27413679ab7eb5eae283509eaf73341749f1c2cc923b27"
    )


@dataclass
class Account:
    """One company's Billingo account on the emulator, synced through the Dagster assets."""

    wh: Warehouse
    instance: dg.DagsterInstance
    emulator: BillingoEmulator
    api_key: str
    parsed: list[int]

    def first_sync(self, docs: int) -> dict[str, Any]:
        configure(self.wh, self.emulator, self.api_key, docs=docs)
        return sync(self.wh, self.instance)[1]

    def resync(self, wh: Warehouse | None = None) -> tuple[list[int], dict[str, Any]]:
        """The documents per page parsed by the next sync, and its result."""
        self.parsed.clear()
        _, result = sync(wh or self.wh, self.instance)
        return list(self.parsed), result

    def unpaid_on_page(self, page: int) -> dict[str, Any]:
        """A document of listing page ``page`` (100 a page) that is not paid and shows
        today's date as its ``paid_date``."""
        return next(
            d for d in self.emulator.documents(self.api_key)[(page - 1) * 100 : page * 100]
            if d["payment_status"] not in ("paid", "partially_paid") and d["paid_date"]
        )  # fmt: skip


@pytest.fixture
def account(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    parsed: list[int],
) -> Account:
    return Account(wh, dagster_instance, emulator, api_key, parsed)


def _last_change(wh: Warehouse) -> object:
    return scalar(wh, "SELECT max(last_changed_at) FROM raw_documents")


def test_an_unchanged_account_is_not_parsed_again_the_same_day_or_the_next(
    account: Account,
) -> None:
    wh, emulator = account.wh, account.emulator
    account.first_sync(docs=250)
    assert sorted(account.parsed) == [50, 100, 100]
    assert scalar(wh, "SELECT count(volatile_spans) FROM page_fingerprints") == 3
    before = _last_change(wh)
    first_day = emulator.today
    # The first page holds documents paid on the first day (the emulator's payments end
    # there) besides unpaid ones showing that date: the occurrences are told apart by their
    # order, so the next day it is not parsed either.
    for today, pages in [(0, []), (1, []), (1, []), (2, [])]:
        emulator.today = first_day + timedelta(days=today)
        parsed, result = account.resync()
        assert parsed == pages
        assert (result["status"], result["invoices_skipped"], result["api_calls"]) == (
            "COMPLETED", 250, 3,
        )  # fmt: skip
        assert result["invoices_created"] == result["invoices_updated"] == 0
    assert _last_change(wh) == before


def _page(docs: list[dict[str, Any]]) -> ValidatedPage:
    body = json.dumps({"data": docs}, separators=(",", ":")).encode()
    return validate_page(body)


def _doc(doc_id: int, status: str, paid: str, **extra: Any) -> dict[str, Any]:
    return {"id": doc_id, "payment_status": status, "paid_date": paid, **extra}


def test_volatile_spans_are_the_unpaid_documents_occurrences_in_order() -> None:
    d, other = "2026-12-01", "2026-11-03"
    page = _page([
        _doc(1, "outstanding", d), _doc(2, "paid", d), _doc(3, "expired", d),
        _doc(4, "paid", other), _doc(5, "partially_paid", d), _doc(6, "outstanding", ""),
    ])  # fmt: skip
    text = f'"paid_date":"{d}"'.encode()
    at = [i for i in range(len(page.body)) if page.body.startswith(text, i)]
    assert len(at) == 4  # documents 1, 2, 3 and 5
    assert page.volatile_spans() == [(a, a + len(text)) for a in (at[0], at[2])]
    # The same text once more inside a document: which occurrence is whose is unknowable,
    # so none is a span and the date stays part of the fingerprint.
    nested = _page([_doc(1, "outstanding", d), _doc(2, "paid", d, notes={"paid_date": d})])
    assert nested.volatile_spans() == []
    alone = _page([_doc(1, "outstanding", d), _doc(2, "outstanding", d)])
    assert len(alone.volatile_spans()) == 2


def test_a_paid_date_that_is_not_the_unpaid_documents_date_is_parsed_and_stored(
    account: Account,
) -> None:
    """A paid document paid on the day of the first sync shares its paid_date with the
    unpaid ones; a later correction of that date is a change, not a volatile fragment."""
    emulator, key = account.emulator, account.api_key
    configure(account.wh, emulator, key, docs=150)
    target = account.unpaid_on_page(1)
    emulator.pay(key, target["id"], paid_date=emulator.today)
    sync(account.wh, account.instance)
    emulator.pay(key, target["id"], paid_date=emulator.today - timedelta(days=3))
    parsed, result = account.resync()
    assert parsed == [100]
    assert (result["invoices_updated"], result["invoices_skipped"]) == (1, 149)
    paid = "SELECT paid_date FROM invoices WHERE invoice_id = ?"
    assert scalar(account.wh, paid, [target["id"]]) == emulator.today - timedelta(days=3)


def test_an_unpaid_document_without_a_paid_date_is_parsed_and_stored(account: Account) -> None:
    account.first_sync(docs=150)
    unpaid = account.unpaid_on_page(1)
    account.emulator.replace_document(account.api_key, unpaid["id"], {**unpaid, "paid_date": ""})
    parsed, result = account.resync()
    assert parsed == [100]
    # its stored payload had a date there, so the document counts as updated
    assert (result["invoices_updated"], result["invoices_skipped"]) == (1, 149)
    assert scalar(account.wh, "SELECT count(*) FROM invoices WHERE paid_date IS NOT NULL AND "
                  "payment_status NOT IN ('paid', 'partially_paid')") == 0  # fmt: skip


def test_a_changed_page_is_parsed_and_loaded_and_the_others_are_not_parsed(
    account: Account,
) -> None:
    account.first_sync(docs=250)
    target = account.unpaid_on_page(2)
    account.emulator.pay(account.api_key, target["id"], paid_date=date(2026, 11, 21))  # in place
    parsed, result = account.resync()
    assert parsed == [100]
    assert (result["invoices_updated"], result["invoices_skipped"]) == (1, 249)
    paid = "SELECT payment_status FROM invoices WHERE invoice_id = ?"
    assert scalar(account.wh, paid, [target["id"]]) == "paid"


def test_unchanged_pages_wait_for_the_writer_without_their_bodies(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the changed page keeps its body until its batch is written; what is remembered
    of the others (from their fingerprints) still lets the next sync skip every page."""
    account.first_sync(docs=250)
    account.emulator.pay(account.api_key, account.unpaid_on_page(2)["id"], date(2026, 11, 21))
    held: dict[str, int] = {}
    of = page_memory.RememberedPage.of

    def spy(page: ValidatedPage) -> page_memory.RememberedPage:
        held[page.page_key or ""] = len(page.body)
        return of(page)

    monkeypatch.setattr(page_memory.RememberedPage, "of", staticmethod(spy))
    parsed, result = account.resync()
    assert parsed == [100]
    assert [held[f"page={n}&per_page=100"] > 0 for n in (1, 2, 3)] == [False, True, False]
    parsed, result = account.resync()
    assert (parsed, result["invoices_skipped"]) == ([], 250)
    assert sorted(held.values()) == [0, 0, 0]


def test_pages_are_stored_as_the_sync_goes_and_read_back_a_window_at_a_time(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store per batch and a window per page (the sizes shrunk so 3 pages need several):
    the next syncs parse nothing, the day after too; the pages keep their crawl order."""
    monkeypatch.setenv("INVOICE_PIPELINE_BATCH_DOCUMENTS", "100")
    monkeypatch.setattr(extract_module, "STORE_PAGES", 1)
    monkeypatch.setattr(page_windows, "WINDOW_PAGES", 1)
    monkeypatch.setattr(page_windows, "CACHED_WINDOWS", 1)
    stores: list[int] = []
    store = page_memory.store
    monkeypatch.setattr(page_memory, "store", lambda *a: stores.append(len(a[3])) or store(*a))
    account.first_sync(docs=250)
    assert stores == [1, 1, 1]
    order = "SELECT list(page_key ORDER BY position) FROM page_fingerprints"
    assert scalar(account.wh, order) == [f"page={n}&per_page=100" for n in (1, 2, 3)]
    for days in (0, 1):
        account.emulator.today += timedelta(days=days)
        parsed, result = account.resync()
        assert parsed == []
        assert (result["status"], result["invoices_skipped"]) == ("COMPLETED", 250)


def test_a_sync_that_fails_keeps_the_pages_it_stored(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages stored with batches that committed stay remembered (their documents are
    stored); the next sync parses only the others."""
    configure(account.wh, account.emulator, account.api_key, docs=500)
    monkeypatch.setenv("INVOICE_PIPELINE_BATCH_DOCUMENTS", "100")
    monkeypatch.setattr(extract_module, "STORE_PAGES", 1)
    real, calls = extract_module.load_batch, []

    def third_fails(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        return real(*args)

    monkeypatch.setattr(extract_module, "load_batch", third_fails)
    _, failed = sync(account.wh, account.instance)
    assert (failed["status"], failed["invoices_created"]) == ("FAILED", 200)
    assert scalar(account.wh, "SELECT count(*) FROM page_fingerprints") == 2
    monkeypatch.setattr(extract_module, "load_batch", real)
    parsed, result = account.resync()
    assert parsed == [100, 100, 100]  # pages 3 to 5
    assert (result["status"], result["invoices_created"]) == ("COMPLETED", 300)
    assert result["invoices_skipped"] == 200


def test_a_page_with_a_rejected_document_is_validated_and_reported_by_every_sync(
    account: Account,
) -> None:
    emulator, key = account.emulator, account.api_key
    configure(account.wh, emulator, key, docs=150)
    bad = emulator.documents(key)[120]
    emulator.replace_document(key, bad["id"], {**bad, "gross_total": "not money"})
    first = sync(account.wh, account.instance)[1]
    parsed, second = account.resync()
    assert parsed == [50]  # the page holding the bad document; the first page is remembered
    for result in (first, second):
        assert result["status"] == "PARTIAL"
        assert [e["invoice_id"] for e in result["errors"]] == [bad["id"]]
    assert second["invoices_skipped"] == 149


def test_pages_judged_by_other_validation_code_are_parsed_again(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    account.first_sync(docs=150)
    monkeypatch.setattr(billingo_client, "VALIDATION_TAG", b"a later version of the models")
    parsed, result = account.resync()
    assert sorted(parsed) == [50, 100]
    assert (result["status"], result["invoices_skipped"]) == ("COMPLETED", 150)
    parsed, _ = account.resync()
    assert parsed == []


def test_migrations_5_and_6_keep_older_fingerprints_and_remember_more_from_the_next_sync(
    account: Account,
) -> None:
    """Rows from before v5 (fingerprints only) and v6 (no position) are taken as one window."""
    account.first_sync(docs=150)
    con = duckdb.connect(str(account.wh.path))
    try:
        for column in ("volatile_spans", "ids", "total", "last_page", "current_page", "position"):
            con.execute(f"ALTER TABLE page_fingerprints DROP COLUMN {column}")
        con.execute("UPDATE schema_meta SET version = 4")
    finally:
        con.close()
    parsed, migrated = account.resync(Warehouse(account.wh.path))  # a new process's Warehouse
    assert sorted(parsed) == [50, 100]  # remembered by fingerprint only: parsed, not loaded
    assert (migrated["status"], migrated["invoices_skipped"]) == ("COMPLETED", 150)
    assert scalar(account.wh, "SELECT max(version) FROM schema_meta") == schema.SCHEMA_VERSION
    assert scalar(account.wh, "SELECT count(position) FROM page_fingerprints") == 2
    parsed, _ = account.resync()
    assert parsed == []


def test_a_damaged_remembered_page_is_parsed_and_the_sync_completes(account: Account) -> None:
    account.first_sync(docs=150)
    with account.wh.write() as con:
        con.execute(
            "UPDATE page_fingerprints SET volatile_spans = '\\x01\\x02\\x03'::BLOB "
            "WHERE page_key LIKE 'page=1&%'"
        )
    parsed, result = account.resync()
    assert parsed == [100]
    assert (result["status"], result["invoices_skipped"]) == ("COMPLETED", 150)
    parsed, _ = account.resync()
    assert parsed == []


def test_remembered_pages_come_back_as_stored(wh: Warehouse) -> None:
    """``store`` then ``take``: every field, None included (a page with rejected documents
    keeps no spans; an envelope may lack its counts), keys beyond ASCII, empty id lists."""
    pages = page_memory.RememberedPages(
        {
            "documents?page=1": page_memory.RememberedPage(
                "a" * 64, page_memory._pack([10, 20]), page_memory._pack([7, 8, 9]), 250, 3, 1
            ),
            "számlák?oldal=2": page_memory.RememberedPage(
                "b" * 64, None, page_memory._pack([-1, 2**63 - 1]), None, None, 2
            ),
            "documents?page=3": page_memory.RememberedPage("c" * 64, b"", b"", 0, 3, None),
        }
    )
    with wh.write() as con:
        page_memory.store(con, "billingo", 4, pages)
        assert page_windows.take(con, "billingo", 4) == pages
        assert page_windows.take(con, "billingo", 4) == {}  # taken means removed


def test_taken_pages_come_back_from_any_window(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows of 2 positions, one cached: any order of lookups, from any thread's view,
    finds each entry; rows stored before positions existed are taken too."""
    monkeypatch.setattr(page_windows, "WINDOW_PAGES", 2)
    monkeypatch.setattr(page_windows, "CACHED_WINDOWS", 1)
    pages = page_memory.RememberedPages(
        (f"p={n}", page_memory.RememberedPage(f"{n:064}", b"", page_memory._pack([n]), n, 9, n))
        for n in range(7)
    )
    with wh.write() as con:
        page_memory.store(con, "billingo", 4, pages, first_position=3)
        con.execute(
            "INSERT INTO page_fingerprints (source, company_id, page_key, fingerprint) "
            "VALUES ('billingo', 4, 'legacy', 'f')"
        )
        positions = "SELECT list(position ORDER BY page_key) FROM page_fingerprints"
        assert con.execute(positions).fetchone() == ([None, *range(3, 10)],)
        taken = page_windows.take(con, "billingo", 4)
    try:
        assert len(taken) == 8
        assert len(taken._extents) == 5  # windows: the legacy row, 2-3, 4-5, 6-7, 8-9
        legacy = page_memory.RememberedPage("f", None, b"", None, None, None)
        for key in ["p=6", "p=0", "legacy", "p=3", "p=4", "p=0", "p=6"]:
            assert taken[key] == pages.get(key, legacy)
        assert taken.get("p=7") is None and "p=2" in taken
    finally:
        taken.close()


def test_storing_a_page_again_replaces_it(wh: Warehouse) -> None:
    """Two syncs of a company that overlapped both store their pages: the last one's stay,
    one row per page, other companies' untouched."""
    first = page_memory.RememberedPage("a" * 64, b"", page_memory._pack([1]), 1, 1, 1)
    second = page_memory.RememberedPage("b" * 64, None, page_memory._pack([2]), 2, 2, 2)
    with wh.write() as con:
        page_memory.store(con, "billingo", 5, page_memory.RememberedPages({"p=1": first}))
        page_memory.store(con, "billingo", 4, page_memory.RememberedPages({"p=1": first}))
    with wh.write() as con:
        both = {"p=1": second, "p=2": first}
        page_memory.store(con, "billingo", 4, page_memory.RememberedPages(both))
        assert page_windows.take(con, "billingo", 4) == both
        assert page_windows.take(con, "billingo", 5) == {"p=1": first}


def test_values_table_types_and_nulls() -> None:
    table = values_table(
        {"b": [b"\x00\xff", None, b""], "s": ["ő", "ab", None], "n": [None, -(2**63), 5]}
    )
    con = duckdb.connect()
    con.register("t", table)
    assert con.execute("SELECT typeof(b), typeof(s), typeof(n) FROM t LIMIT 1").fetchone() == (
        "BLOB", "VARCHAR", "BIGINT",
    )  # fmt: skip
    assert con.execute("SELECT * FROM t").fetchall() == [
        (b"\x00\xff", "ő", None), (None, "ab", -(2**63)), (b"", None, 5),
    ]  # fmt: skip
