"""The Billingo sync end to end: emulator over real HTTP -> Dagster assets -> DuckDB file."""

import json
from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import httpx
import pytest

from invoice_pipeline.billingo.client import BillingoClient
from invoice_pipeline.billingo.mapping import MAPPING
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.server import Request, Response
from invoice_pipeline.http import RetryPolicy
from invoice_pipeline.sync.loader import BatchCounts, drop_staged, load_batch, stage_batch
from invoice_pipeline.warehouse import Warehouse, connection
from invoice_pipeline.warehouse.connection import WriteSession
from invoice_pipeline_tests.helpers import configure, scalar, sync
from invoice_pipeline_tests.warehouse_checks import per_document


def _lines(emu: BillingoEmulator, key: str) -> int:
    return sum(len(d["items"]) for d in emu.documents(key))


def test_full_sync_loads_every_document_and_line(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=250)
    run, result = sync(wh, dagster_instance)
    assert run.success
    assert result["status"] == "COMPLETED"
    assert result["invoices_processed"] == result["invoices_created"] == 250
    assert result["invoices_updated"] == result["invoices_skipped"] == 0
    assert result["items_extracted"] == _lines(emulator, api_key)
    assert result["api_calls"] == 3  # 100 + 100 + 50
    assert result["errors"] == []
    assert scalar(wh, "SELECT count(*) FROM invoices") == 250
    assert scalar(wh, "SELECT count(*) FROM invoice_items") == _lines(emulator, api_key)
    assert scalar(wh, "SELECT count(*) FROM raw_documents") == 250
    assert scalar(wh, "SELECT sum(item_count) FROM invoices") == _lines(emulator, api_key)
    assert scalar(wh, "SELECT status FROM sync_logs") == "COMPLETED"
    assert scalar(wh, "SELECT last_sync_time IS NOT NULL FROM company_settings")


def test_resync_of_unchanged_data_skips_everything_and_writes_nothing(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=120)
    sync(wh, dagster_instance)
    before = scalar(wh, "SELECT max(last_changed_at) FROM raw_documents")
    emulator.today = date.today() + timedelta(days=3)  # paid_date of unpaid documents moves
    _, result = sync(wh, dagster_instance)
    assert result["status"] == "COMPLETED"
    assert result["invoices_skipped"] == result["invoices_processed"] == 120
    assert (
        result["invoices_created"] == result["invoices_updated"] == result["items_extracted"] == 0
    )
    assert scalar(wh, "SELECT max(last_changed_at) FROM raw_documents") == before
    assert scalar(wh, "SELECT count(*) FROM sync_logs WHERE status = 'COMPLETED'") == 2


def test_changes_between_syncs_are_counted_exactly(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=150)
    sync(wh, dagster_instance)
    before = _seen_and_changed(wh)
    assert all(first == changed for first, changed in before.values())  # all new at once
    docs = emulator.documents(api_key)
    unpaid = next(d for d in docs if d["payment_status"] in ("outstanding", "expired"))
    original = next(
        d for d in docs if d["type"] == "invoice" and not d["cancelled"] and d["id"] != unpaid["id"]
    )
    emulator.pay(api_key, unpaid["id"], paid_date=date(2026, 11, 20))
    cancellation = emulator.cancel(api_key, original["id"])
    new = emulator.add_document(api_key)
    _, result = sync(wh, dagster_instance)
    assert (result["invoices_created"], result["invoices_updated"]) == (2, 2)
    assert result["invoices_skipped"] == 148
    with wh.read() as con:
        paid = con.execute(
            "SELECT payment_status, paid_date FROM invoices WHERE invoice_id = ?", [unpaid["id"]]
        ).fetchone()
        cancelled = con.execute(
            "SELECT cancelled FROM invoices WHERE invoice_id = ?", [original["id"]]
        ).fetchone()
        ids = {r[0] for r in con.execute("SELECT invoice_id FROM invoices").fetchall()}
    assert paid == ("paid", date(2026, 11, 20))
    assert cancelled == (True,)
    assert {cancellation["id"], new["id"]} <= ids
    assert len(ids) == 152
    # Stored times: an updated document keeps when it was first seen, a new one is first
    # seen now, an unchanged one keeps both (raw documents and invoices agree throughout).
    after = _seen_and_changed(wh)
    now = after[new["id"]][0]
    assert after[new["id"]] == after[cancellation["id"]] == (now, now) and now > max(
        changed for _, changed in before.values()
    )
    for updated in (unpaid["id"], original["id"]):
        assert after[updated] == (before[updated][0], now)
    assert {k: v for k, v in after.items() if k in before and v == before[k]}.keys() == (
        before.keys() - {unpaid["id"], original["id"]}
    )


def _seen_and_changed(wh: Warehouse) -> dict[int, tuple[object, ...]]:
    """Per document: (first_seen_at, last_changed_at), asserted equal in raw_documents and
    invoices."""
    raw, invoices = per_document(wh, "first_seen_at", "last_changed_at")
    assert raw == invoices
    return {doc_id: times for (_, doc_id), times in raw.items()}


@pytest.mark.parametrize(("docs", "calls"), [(0, 1), (100, 1), (101, 2)])
def test_paging_edges(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    docs: int,
    calls: int,
) -> None:
    configure(wh, emulator, api_key, docs=docs)
    _, result = sync(wh, dagster_instance)
    assert result["status"] == "COMPLETED"
    assert result["invoices_created"] == docs
    assert result["api_calls"] == calls
    assert scalar(wh, "SELECT count(*) FROM invoices") == docs


@pytest.mark.parametrize(
    "fault",
    ["429", "429-no-retry-after", "429-http-date", "500", "timeout", "truncated", "html", "reset"],
)
def test_transient_faults_are_retried(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    fault: str,
) -> None:
    configure(wh, emulator, api_key, docs=150)
    emulator.script_faults(api_key, [fault])
    _, result = sync(wh, dagster_instance)
    assert result["status"] == "COMPLETED", result["errors"]
    assert result["invoices_created"] == 150
    assert result["api_calls"] == 3  # two pages plus the retried one


def test_persistent_server_errors_fail_the_sync_and_keep_the_warehouse(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=50)
    sync(wh, dagster_instance)
    unpaid = next(d for d in emulator.documents(api_key) if d["payment_status"] == "outstanding")
    emulator.pay(api_key, unpaid["id"])
    emulator.script_faults(api_key, ["500"] * 4)
    run, result = sync(wh, dagster_instance)
    assert not run.success
    assert result["status"] == "FAILED"
    assert result["api_calls"] == 4
    message = result["errors"][-1]["error"]
    assert "Billingo server error 500 for company 4" in message and "trace id" in message
    status = "SELECT payment_status FROM invoices WHERE invoice_id = ?"
    assert scalar(wh, status, [unpaid["id"]]) == "outstanding"  # as before the failed sync
    assert scalar(wh, "SELECT count(*) FROM invoices") == 50


def test_rejected_api_key_fails_with_a_clear_message(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=10)
    emulator.script_faults(api_key, ["401"])
    _, result = sync(wh, dagster_instance)
    assert result["status"] == "FAILED"
    assert result["errors"][-1]["error"] == "Billingo rejected the API key for company 4"
    assert result["api_calls"] == 1


def test_an_invalid_document_makes_the_sync_partial(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=30)
    bad = emulator.documents(api_key)[5]
    emulator.replace_document(
        api_key, bad["id"], {**bad, "gross_total": "not money", "items": "nope"}
    )
    run, result = sync(wh, dagster_instance)
    assert run.success
    assert result["status"] == "PARTIAL"
    assert result["invoices_created"] == 29
    [error] = result["errors"]
    assert error["invoice_id"] == bad["id"]
    assert error["invoice_number"] == bad["invoice_number"]
    assert "gross_total" in error["error"] or "items" in error["error"]
    assert scalar(wh, "SELECT count(*) FROM invoices WHERE invoice_id = ?", [bad["id"]]) == 0


def test_money_is_exact_to_the_filler(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=300, seed=9)
    sync(wh, dagster_instance)
    url = f"{emulator.base_url}/documents"
    docs = []
    for page in (1, 2, 3):
        body = httpx.get(
            url, params={"page": page, "per_page": 100}, headers={"X-API-KEY": api_key}
        ).content
        docs += json.loads(body, parse_float=Decimal)["data"]
    assert scalar(wh, "SELECT sum(gross_total) FROM invoices") == sum(
        Decimal(d["gross_total"]) for d in docs
    )
    line_gross = sum(Decimal(i["gross_amount"]) for d in docs for i in d["items"])
    assert scalar(wh, "SELECT sum(gross_amount) FROM invoice_items") == line_gross
    assert scalar(wh, "SELECT typeof(gross_total) FROM invoices LIMIT 1") == "DECIMAL(18,4)"
    eur = [d for d in docs if d["currency"] == "EUR"]
    assert eur and scalar(wh, "SELECT count(*) FROM invoices WHERE currency = 'EUR'") == len(eur)


def test_paid_date_is_kept_only_for_paid_documents(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=200)
    sync(wh, dagster_instance)
    assert (
        scalar(
            wh,
            "SELECT count(*) FROM invoices WHERE paid_date IS NOT NULL "
            "AND payment_status NOT IN ('paid', 'partially_paid')",
        )
        == 0
    )
    assert (
        scalar(
            wh, "SELECT count(*) FROM invoices WHERE payment_status = 'paid' AND paid_date IS NULL"
        )
        == 0
    )
    assert scalar(wh, "SELECT count(*) FROM invoices WHERE partner_tax_number = ''") == 0


def test_a_sync_that_died_is_marked_failed_by_the_next(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=5)
    with wh.write() as con:  # what a killed process leaves behind
        con.execute(
            "INSERT INTO sync_logs (id, company_id, source, sync_type, status, started_at, "
            "host, pid) VALUES (nextval('sync_log_ids'), 4, 'billingo', 'MANUAL', 'RUNNING', "
            "now(), 'gone-host', 1)"
        )
    _, result = sync(wh, dagster_instance)
    assert result["status"] == "COMPLETED"
    with wh.read() as con:
        rows = con.execute("SELECT status, errors FROM sync_logs ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["FAILED", "COMPLETED"]
    assert "interrupted" in rows[0][1]


def test_unchanged_pages_are_skipped_by_fingerprint_and_a_change_in_place_is_caught(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=350)
    sync(wh, dagster_instance)
    assert scalar(wh, "SELECT count(*) FROM page_fingerprints") == 4
    page_3 = emulator.documents(api_key)[200:300]
    target = next(d for d in page_3 if d["payment_status"] in ("outstanding", "expired"))
    emulator.pay(api_key, target["id"], paid_date=date(2026, 11, 21))  # no page shifts
    _, result = sync(wh, dagster_instance)
    assert (result["invoices_updated"], result["invoices_created"]) == (1, 0)
    assert result["invoices_skipped"] == 349
    paid = "SELECT payment_status, paid_date FROM invoices WHERE invoice_id = ?"
    with wh.read() as con:
        assert con.execute(paid, [target["id"]]).fetchone() == ("paid", date(2026, 11, 21))
    _, again = sync(wh, dagster_instance)
    assert again["invoices_skipped"] == 350 and again["invoices_updated"] == 0


def test_a_page_that_stays_malformed_fails_the_sync_and_keeps_the_warehouse(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=40)
    sync(wh, dagster_instance)
    before = scalar(wh, "SELECT sum(gross_total) FROM invoices")
    emulator.script_faults(api_key, ["html"] * 4)  # the first attempt and all 3 retries
    run, result = sync(wh, dagster_instance)
    assert not run.success and result["status"] == "FAILED"
    message = result["errors"][-1]["error"]
    assert "Billingo sent a malformed response for company 4" in message
    assert "\n" not in message
    assert scalar(wh, "SELECT count(*) FROM invoices") == 40
    assert scalar(wh, "SELECT sum(gross_total) FROM invoices") == before


def test_documents_whose_normalized_rows_lag_are_rebuilt_without_the_api(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    """Raw documents whose ``normalized_hash`` lags their content (a mapping change, rows of
    an older version) get their invoices and lines rebuilt from the stored payload by the
    next run's ``normalized_tables``, while the unchanged pages are not loaded again."""
    configure(wh, emulator, api_key, docs=60)
    sync(wh, dagster_instance)
    lagging = [d["id"] for d in emulator.documents(api_key)[:5]]
    lines = sum(len(d["items"]) for d in emulator.documents(api_key)[:5])
    with wh.write() as con:
        ids = {"ids": lagging}
        con.execute(
            "UPDATE raw_documents SET normalized_hash = NULL "
            "WHERE list_contains($ids, document_id)",
            ids,
        )
        con.execute("DELETE FROM invoices WHERE list_contains($ids, invoice_id)", ids)
        con.execute("DELETE FROM invoice_items WHERE list_contains($ids, invoice_id)", ids)
    run, result = sync(wh, dagster_instance)
    assert (result["status"], result["invoices_skipped"]) == ("COMPLETED", 60)
    written = {
        m.asset_key.path[-1]: m.metadata
        for m in run.asset_materializations_for_node("normalized_tables")
    }
    assert written["invoices"]["invoices_written"].value == 5
    assert written["invoice_items"]["lines_written"].value == lines
    assert scalar(wh, "SELECT count(*) FROM invoices") == 60
    assert scalar(wh, "SELECT count(*) FROM invoice_items") == _lines(emulator, api_key)
    lag = "SELECT count(*) FROM raw_documents WHERE normalized_hash IS DISTINCT FROM content_hash"
    assert scalar(wh, lag) == 0


def test_a_batch_of_new_documents_deletes_nothing_and_a_changed_one_replaces_its_rows(
    wh: Warehouse, emulator: BillingoEmulator, api_key: str
) -> None:
    """``load_batch`` on a real warehouse, its statements read from DuckDB's query log: rows
    of a document are only written with its raw document, so a batch of new documents
    deletes no invoice or line (the deletes would scan the company's rows batch after
    batch); a batch with a changed document replaces that document's rows, nothing else."""
    emulator.add_account(api_key, docs=150, seed=5)
    client = BillingoClient(
        company_id=4, api_key=api_key, base_url=emulator.base_url,
        policy=RetryPolicy(requests_per_minute=None),
    )  # fmt: skip

    def load() -> tuple[BatchCounts, list[str]]:
        pages = list(client.document_pages())
        with wh.session() as session:
            with session.staging_cursor() as staging:
                stage_batch(staging, MAPPING, pages, [[] for _ in pages], "staged")
            with session.transaction() as con:
                con.execute("CALL truncate_duckdb_logs()")
                con.execute("CALL enable_logging('QueryLog')")
                counts = load_batch(con, MAPPING, 4, "staged")
                con.execute("CALL disable_logging()")
                logged = con.execute("SELECT message FROM duckdb_logs WHERE type = 'QueryLog'")
                deletes = [
                    m for (m,) in logged.fetchall() if m.lstrip().upper().startswith("DELETE")
                ]
            drop_staged(con, "staged")
        return counts, deletes

    with client:
        first, deletes = load()
        assert (first.created, first.updated, deletes) == (150, 0, [])
        doc = next(d for d in emulator.documents(api_key) if d["payment_status"] != "paid")
        emulator.pay(api_key, doc["id"], paid_date=date(2026, 11, 20))
        again, deletes = load()
    assert (again.created, again.updated, again.skipped) == (0, 1, 149)
    assert len(deletes) == 3  # its raw document, invoice and lines
    assert scalar(wh, "SELECT count(*) FROM invoices") == 150
    assert scalar(wh, "SELECT count(*) FROM invoice_items") == _lines(emulator, api_key)
    assert scalar(wh, f"SELECT paid_date FROM invoices WHERE invoice_id = {doc['id']}") == date(
        2026, 11, 20
    )


def test_a_crawl_that_shifts_loads_each_document_once_across_reconnects(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A document created mid-crawl shifts the later pages by one, so one document is listed
    twice. With small reconnects the writer reopens its connection every 100 documents
    while the duplicate is found; the counts stay exact."""
    configure(wh, emulator, api_key, docs=450)
    monkeypatch.setattr(connection, "RECONNECT_DOCUMENTS", 100)
    monkeypatch.setenv("INVOICE_PIPELINE_BATCH_DOCUMENTS", "100")
    reconnects: list[int] = []
    real_reconnect = WriteSession.reconnect

    def counted(session: WriteSession) -> None:
        reconnects.append(1)
        real_reconnect(session)

    monkeypatch.setattr(WriteSession, "reconnect", counted)

    def add_before_page_three(request: Request) -> Response | None:
        if request.path == "/v3/documents" and ("page", "3") in request.query:
            emulator.before_request = None
            emulator.add_document(api_key)
        return None

    emulator.before_request = add_before_page_three
    _, result = sync(wh, dagster_instance)
    assert (result["status"], result["errors"]) == ("COMPLETED", [])
    assert result["invoices_processed"] == result["invoices_created"] == 450
    assert result["invoices_skipped"] == 0
    assert len(reconnects) >= 3  # after 200 (batches of 100 after the first), 300, 400
    assert scalar(wh, "SELECT count(DISTINCT document_id) FROM raw_documents") == 450
    assert scalar(wh, "SELECT count(*) FROM invoices") == 450
