"""Incremental syncs and deletion detection, end to end: emulators over real HTTP -> Dagster
assets (mode as run config) -> DuckDB file; the CLI in a real subprocess."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from invoice_pipeline import queries, users
from invoice_pipeline.api.app import create_app
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.billx import BillxEmulator
from invoice_pipeline.emulators.server import Request, Response
from invoice_pipeline.orchestration.source_assets import sync_run_config
from invoice_pipeline.sync import deletions
from invoice_pipeline.warehouse import Warehouse, snapshot
from invoice_pipeline.warehouse.schema import SCHEMA_VERSION, ensure_schema
from invoice_pipeline_tests.helpers import (
    ASSETS,
    billx_assets,
    configure,
    configure_billx,
    materialize,
    scalar,
)
from invoice_pipeline_tests.test_api_support import TestClient
from invoice_pipeline_tests.test_cli import cli, configure_company

PAST = date(2025, 10, 27)  # a fixed emulator day: its clock is far from this machine's


def run(
    wh: Warehouse,
    instance: dg.DagsterInstance,
    mode: str,
    *,
    company_id: int = 4,
    source: str = "billingo",
) -> tuple[dg.ExecuteInProcessResult, dict[str, Any]]:
    """Materialize one source's sync assets with ``mode`` as run config; the run and result."""
    assets = ASSETS if source == "billingo" else billx_assets()
    config = sync_run_config(mode, [source])
    result, [found] = materialize(wh, instance, assets, company_id, run_config=config)
    return result, found


def invoice(wh: Warehouse, invoice_id: int, columns: str) -> tuple[Any, ...]:
    with wh.read() as con:
        row = con.execute(
            f"SELECT {columns} FROM invoices WHERE invoice_id = ?", [invoice_id]
        ).fetchall()
    assert len(row) == 1, row
    return row[0]


def unpaid(docs: list[dict[str, Any]], n: int, outstanding: bool = False) -> list[dict[str, Any]]:
    wanted = ("outstanding",) if outstanding else ("outstanding", "expired")
    return [d for d in docs if d["payment_status"] in wanted and d["type"] == "invoice"][:n]


def active_invoices(docs: list[dict[str, Any]], skip: list[dict[str, Any]]) -> Iterator[Any]:
    taken = {d["id"] for d in skip}
    return (
        d for d in docs if d["type"] == "invoice" and not d["cancelled"] and d["id"] not in taken
    )


def test_incremental_catches_new_documents_payments_cancellations_and_status_changes(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=3000)
    _, full = run(wh, dagster_instance, "full")
    assert (full["status"], full["invoices_created"], full["sync_mode"]) == (
        "COMPLETED",
        3000,
        "full",
    )
    docs = emulator.documents(api_key)
    paid = unpaid(docs, 3)
    originals = list(active_invoices(docs, paid))[:2]
    taken = paid + originals
    status = [
        next(d for d in unpaid(docs, 50, outstanding=True) if d not in taken),
        next(d for d in active_invoices(docs, taken) if d["online_szamla_status"] != "done"),
    ]
    for doc in paid:
        emulator.pay(api_key, doc["id"])
    stornos = [emulator.cancel(api_key, doc["id"]) for doc in originals]
    new = [emulator.add_document(api_key), emulator.add_document(api_key, type="proforma")]
    emulator.update_document(api_key, status[0]["id"], payment_status="expired")
    emulator.update_document(api_key, status[1]["id"], online_szamla_status="done")

    outcome, result = run(wh, dagster_instance, "incremental")
    assert outcome.success
    assert (result["status"], result["sync_mode"], result["sync_mode_reason"]) == (
        "COMPLETED", "incremental", None,
    )  # fmt: skip
    assert (result["invoices_created"], result["invoices_updated"]) == (4, 7)
    assert result["errors"] == [] and result["invoices_deleted"] == 0
    assert result["api_calls"] <= full["api_calls"] * 0.2  # 4-5 calls against 30
    materialized = outcome.asset_materializations_for_node("billingo_documents")[0]
    assert materialized.metadata["mode"] == dg.MetadataValue.text("incremental")
    for doc in paid:
        assert invoice(wh, doc["id"], "payment_status") == ("paid",)
    for doc, storno in zip(originals, stornos, strict=True):
        assert invoice(wh, doc["id"], "cancelled") == (True,)
        assert invoice(wh, storno["id"], "type, cancelled") == ("cancellation", False)
    assert invoice(wh, status[0]["id"], "payment_status") == ("expired",)
    assert invoice(wh, status[1]["id"], "online_szamla_status") == ("done",)
    assert {invoice(wh, d["id"], "type")[0] for d in new} == {"invoice", "proforma"}
    with wh.read() as con:
        since, mode = con.execute(
            "SELECT changes_since, mode FROM sync_logs ORDER BY id DESC LIMIT 1"
        ).fetchall()[0]
    assert mode == "incremental" and since is not None
    # nothing was left for a full sync to find
    _, again = run(wh, dagster_instance, "full")
    assert (again["invoices_created"], again["invoices_updated"], again["invoices_skipped"]) == (
        0, 0, 3004,
    )  # fmt: skip


def test_safety_nets_catch_changes_the_modification_filter_does_not_show(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, api_key: str
) -> None:
    """Every change here is left unstamped, so ``last_modified_date`` misses all of them; the
    emulator's clock is a year off this machine's (the watermark moves by the measured skew)."""
    with BillingoEmulator(today=PAST) as emu:
        configure(wh, emu, api_key, docs=400)
        run(wh, dagster_instance, "full")
        docs = emu.documents(api_key)
        emu.today = PAST + timedelta(days=10)  # the calendar moves: some invoices fall due
        due = [
            d for d in unpaid(docs, 100, outstanding=True) if d["due_date"] < emu.today.isoformat()
        ]
        assert due
        expired = emu.update_document(api_key, due[0]["id"], touch=False, payment_status="expired")
        payment = emu.pay(api_key, due[1]["id"], touch=False)
        month_ago = (PAST - timedelta(days=30)).isoformat()
        old = next(
            d
            for d in active_invoices(docs, due[:2])
            if d["payment_status"] == "paid" and d["paid_date"] < month_ago
        )  # outside every window: only the follow-up of its cancellation finds it
        storno = emu.cancel(api_key, old["id"], touch=False)  # only the new document is stamped
        new = emu.add_document(api_key, touch=False)
        gets: list[str] = []

        def record(request: Request) -> Response | None:
            gets.append(request.path)
            return None

        emu.before_request = record
        _, result = run(wh, dagster_instance, "incremental")
        emu.before_request = None

    assert (result["status"], result["sync_mode"]) == ("COMPLETED", "incremental")
    assert (result["invoices_created"], result["invoices_updated"]) == (2, 3)
    assert gets.count("/v3/utils/time") == 1
    assert [p for p in gets if p.startswith("/v3/documents/")] == [f"/v3/documents/{old['id']}"]
    assert invoice(wh, expired["id"], "payment_status") == ("expired",)
    assert invoice(wh, payment["id"], "payment_status") == ("paid",)
    assert invoice(wh, old["id"], "cancelled") == (True,)
    assert invoice(wh, storno["id"], "type") == ("cancellation",)
    assert invoice(wh, new["id"], "invoice_date") == (emu.today,)


def test_incremental_without_a_completed_sync_runs_full_and_says_so(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=120)
    emulator.script_faults(api_key, ["401"])
    _, failed = run(wh, dagster_instance, "incremental")
    assert (failed["status"], failed["sync_mode"]) == ("FAILED", "full")
    _, result = run(wh, dagster_instance, "incremental")
    assert (result["status"], result["sync_mode"], result["invoices_created"]) == (
        "COMPLETED", "full", 120,
    )  # fmt: skip
    assert result["sync_mode_reason"] == (
        "incremental sync requested, but no Billingo sync of company 4 has COMPLETED yet: "
        "ran a full sync"
    )
    assert result["api_calls"] == 2  # a full crawl, no clock call
    _, next_one = run(wh, dagster_instance, "incremental")
    assert (next_one["sync_mode"], next_one["invoices_created"]) == ("incremental", 0)
    assert next_one["invoices_updated"] == 0 and next_one["invoices_processed"] < 120


def test_a_filtered_crawl_that_grows_while_it_runs_is_not_a_false_partial(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=300)
    run(wh, dagster_instance, "full")
    for doc in emulator.documents(api_key)[100:250]:  # 150 changes: two filtered pages
        emulator.update_document(api_key, doc["id"], comment=f"edited {doc['id']}")
    requests: list[str] = []

    def add_before_page_two(request: Request) -> Response | None:
        if request.path == "/v3/documents":
            requests.append(request.path)
            if len(requests) == 2:  # page 2 of the last_modified_date crawl: pages shift
                emulator.add_document(api_key)
        return None

    emulator.before_request = add_before_page_two
    _, result = run(wh, dagster_instance, "incremental")
    emulator.before_request = None
    assert (result["status"], result["errors"]) == ("COMPLETED", [])
    assert (result["invoices_created"], result["invoices_updated"]) == (1, 150)


def _deleted_through_cli_and_api(
    wh: Warehouse, ids: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--include-deleted`` (CLI) and ``include_deleted`` (HTTP API) list the deleted
    invoices with their ``deleted_at``; without it they are not found."""
    env = {"INVOICE_PIPELINE_DB": str(wh.path)}
    args = ("invoices", "list", "--company", "4", "--page-size", "500", "--format", "json")
    plain, marked = cli(*args, env=env), cli(*args, "--include-deleted", env=env)
    assert plain.returncode == 0 and marked.returncode == 0, marked.stderr
    assert json.loads(plain.stdout)["count"] == 198
    rows = json.loads(marked.stdout)["results"]
    assert sorted(r["id"] for r in rows if r["deleted_at"]) == ids
    shown = cli("invoices", "show", str(ids[0]), "--company", "4", "--include-deleted",
                "--format", "json", env=env)  # fmt: skip
    assert shown.returncode == 0 and json.loads(shown.stdout)["deleted_at"], shown.stderr
    missing = cli("invoices", "show", str(ids[0]), "--company", "4", env=env)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr

    monkeypatch.setenv("INVOICE_PIPELINE_JWT_SECRET", secrets.token_urlsafe(40))
    users.create_user(wh, username="reader4", password="correct horse battery",
                      role="USER", company_id=4)  # fmt: skip
    app = create_app(wh.path)
    user = users.get_user("reader4", wh.path)
    assert user is not None
    auth = {"Authorization": f"Bearer {app.state.signer.issue(user)}"}
    with TestClient(app, base_url="http://testserver") as client:
        base = "/api/billingo-invoices/"
        page = client.get(base, params={"page_size": 500}, headers=auth).json()
        assert page["count"] == 198
        page = client.get(base, params={"page_size": 500, "include_deleted": "true"},
                          headers=auth).json()  # fmt: skip
        assert sorted(r["id"] for r in page["results"] if r["deleted_at"]) == ids
        assert client.get(f"{base}{ids[0]}/", headers=auth).status_code == 404
        detail = client.get(f"{base}{ids[0]}/", params={"include_deleted": "true"}, headers=auth)
        assert detail.status_code == 200 and detail.json()["deleted_at"]


def test_full_syncs_detect_deletions_and_incremental_ones_do_not(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(wh, emulator, api_key, docs=200)
    run(wh, dagster_instance, "full")
    docs = emulator.documents(api_key)
    gone = [docs[3], docs[40]]
    for doc in gone:
        emulator.delete_document(api_key, doc["id"])
    _, incremental = run(wh, dagster_instance, "incremental")
    assert incremental["invoices_deleted"] == 0
    assert scalar(wh, "SELECT count(*) FROM invoices WHERE deleted_at IS NOT NULL") == 0

    broken = docs[7]
    emulator.replace_document(api_key, broken["id"], {"id": broken["id"], "gross_total": "x"})
    _, partial = run(wh, dagster_instance, "full")
    assert (partial["status"], partial["invoices_deleted"]) == ("PARTIAL", 0)
    emulator.replace_document(api_key, broken["id"], broken)

    _, full = run(wh, dagster_instance, "full")
    assert (full["status"], full["invoices_deleted"], full["invoices_processed"]) == (
        "COMPLETED", 2, 198,
    )  # fmt: skip
    ids = sorted(d["id"] for d in gone)
    with wh.read() as con:
        marked = con.execute(
            "SELECT r.document_id FROM raw_documents r JOIN invoices i "
            "ON i.invoice_id = r.document_id AND i.deleted_at = r.deleted_at "
            "WHERE r.deleted_at IS NOT NULL ORDER BY 1"
        ).fetchall()
        assert [m[0] for m in marked] == ids
        assert con.execute("SELECT invoices_deleted FROM sync_logs ORDER BY id DESC").fetchall()[
            0
        ] == (2,)
    listed = queries.list_invoices(4, page_size=500, db_path=wh.path)
    assert listed.count == 198 and not {r.id for r in listed.results} & set(ids)
    everything = queries.list_invoices(4, page_size=500, include_deleted=True, db_path=wh.path)
    assert everything.count == 200
    assert queries.list_invoices(4, search=gone[0]["invoice_number"], db_path=wh.path).count == 0
    with pytest.raises(queries.NotFoundError):
        queries.get_invoice(4, ids[0], db_path=wh.path)
    found = queries.get_invoice(4, ids[0], include_deleted=True, db_path=wh.path)
    assert found.id == ids[0] and str(found.deleted_at.tzinfo) == "Europe/Budapest"  # type: ignore[union-attr]
    assert {r.id for r in everything.results if r.deleted_at is not None} == set(ids)
    assert all(r.deleted_at is None for r in listed.results)
    _deleted_through_cli_and_api(wh, ids, monkeypatch)
    path = snapshot.current_file(wh.path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM v_invoices").fetchall() == [(198,)]
        assert con.execute("SELECT invoice_id FROM v_deleted_invoices ORDER BY 1").fetchall() == [
            (i,) for i in ids
        ]
        items = con.execute("SELECT count(*) FROM v_invoice_items WHERE invoice_id IN ?", [ids])
        assert items.fetchall() == [(0,)]
    finally:
        con.close()

    # a deleted document that reappears (unchanged) is no longer marked, incrementally too
    emulator.add_document(api_key, **gone[0])
    _, back = run(wh, dagster_instance, "incremental")
    assert (back["invoices_created"], back["invoices_updated"]) == (0, 0)
    with wh.read() as con:
        still = con.execute(
            "SELECT r.document_id FROM raw_documents r JOIN invoices i "
            "ON i.invoice_id = r.document_id WHERE r.deleted_at IS NOT NULL "
            "AND i.deleted_at IS NOT NULL"
        ).fetchall()
    assert still == [(gone[1]["id"],)]
    _, again = run(wh, dagster_instance, "full")
    assert (again["invoices_deleted"], again["invoices_processed"]) == (0, 199)


def test_billx_incremental_reads_the_newest_pages_only(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, api_key: str
) -> None:
    with BillxEmulator(today=PAST) as billx:
        configure_billx(wh, billx, api_key, company_id=9, invoices=600)
        _, full = run(wh, dagster_instance, "full", company_id=9, source="billx")
        assert full["status"] == "COMPLETED"
        invoices = billx.invoices(api_key)  # newest first
        window = (PAST - timedelta(days=20)).isoformat()
        old_cutoff = (PAST - timedelta(days=120)).isoformat()
        recent = [i for i in invoices if i["invoice_date"] >= window and i["status"] == "unpaid"]
        old = [i for i in invoices if i["invoice_date"] < old_cutoff and i["status"] == "overdue"]
        assert len(recent) >= 2 and old
        billx.pay(api_key, recent[0]["id"])
        billx.cancel(api_key, recent[1]["id"])
        billx.pay(api_key, old[0]["id"])  # before the window: left to the next full sync
        new = [billx.add_invoice(api_key), billx.add_invoice(api_key)]
        _, result = run(wh, dagster_instance, "incremental", company_id=9, source="billx")
        assert (result["status"], result["sync_mode"]) == ("COMPLETED", "incremental")
        assert (result["invoices_created"], result["invoices_updated"]) == (2, 2)
        assert result["api_calls"] < full["api_calls"]
        for inv in new:
            assert invoice(wh, inv["id"], "source") == ("billx",)
        assert invoice(wh, recent[0]["id"], "payment_status") == ("paid",)
        assert invoice(wh, old[0]["id"], "payment_status") == ("expired",)  # not seen yet
        _, again = run(wh, dagster_instance, "full", company_id=9, source="billx")
        assert (again["invoices_created"], again["invoices_updated"]) == (0, 1)
        assert invoice(wh, old[0]["id"], "payment_status") == ("paid",)


def test_cli_sync_incremental_json(emulator: BillingoEmulator, api_key: str) -> None:
    emulator.add_account(api_key, docs=150, seed=3)
    configure_company(emulator, api_key)
    first = cli("sync", "--incremental", "--company", "4", "--source", "billingo", "--json")
    assert first.returncode == 0, first.stderr
    [result] = json.loads(first.stdout)
    assert set(result) == {
        "company_id", "source", "status", "invoices_processed", "invoices_created",
        "invoices_updated", "invoices_skipped", "items_extracted", "api_calls",
        "duration_seconds", "errors", "sync_mode", "sync_mode_reason", "invoices_deleted",
    }  # fmt: skip
    assert (result["sync_mode"], result["invoices_created"], result["api_calls"]) == (
        "full",
        150,
        2,
    )
    assert "ran a full sync" in result["sync_mode_reason"]
    target = next(d for d in emulator.documents(api_key) if d["payment_status"] == "outstanding")
    emulator.pay(api_key, target["id"])
    emulator.add_document(api_key)
    second = cli("sync", "--incremental", "--json")
    assert second.returncode == 0, second.stderr
    [result] = json.loads(second.stdout)
    assert (result["status"], result["sync_mode"], result["sync_mode_reason"]) == (
        "COMPLETED", "incremental", None,
    )  # fmt: skip
    assert (result["invoices_created"], result["invoices_updated"]) == (1, 1)
    assert 3 <= result["api_calls"] <= 6
    assert api_key not in first.stdout + first.stderr + second.stdout + second.stderr


def test_migration_3_adds_the_deletion_and_mode_columns_to_an_older_warehouse(
    tmp_path: Path,
) -> None:
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        ensure_schema(con)
        for table, column in [
            ("raw_documents", "deleted_at"), ("invoices", "deleted_at"),
            ("sync_logs", "invoices_deleted"), ("sync_logs", "mode_reason"),
            ("sync_logs", "changes_since"),
        ]:  # fmt: skip
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        con.execute(
            "INSERT INTO sync_logs (id, company_id, source, sync_type, status, started_at) "
            "VALUES (1, 4, 'billingo', 'MANUAL', 'COMPLETED', now())"
        )
        con.execute("UPDATE schema_meta SET version = 2")
        ensure_schema(con)
        assert con.execute("SELECT version FROM schema_meta").fetchall() == [(SCHEMA_VERSION,)]
        row = con.execute("SELECT mode, invoices_deleted, mode_reason FROM sync_logs").fetchall()
        assert row == [("full", 0, None)]
        for table in ("raw_documents", "invoices"):
            columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            assert "deleted_at" in columns
    finally:
        con.close()


def test_an_empty_listing_of_a_stored_account_marks_nothing_deleted(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    """Every document gone at once is far likelier an API fault: PARTIAL, nothing marked."""
    configure(wh, emulator, api_key, docs=30)
    run(wh, dagster_instance, "full")
    for doc in emulator.documents(api_key):
        emulator.delete_document(api_key, doc["id"])
    _, empty = run(wh, dagster_instance, "full")
    assert (empty["status"], empty["invoices_deleted"]) == ("PARTIAL", 0)
    assert "listed no documents for company 4" in empty["errors"][-1]["error"]
    assert scalar(wh, "SELECT count(*) FROM invoices WHERE deleted_at IS NOT NULL") == 0


def test_a_failing_deletion_query_raises_its_own_error(wh: Warehouse) -> None:
    """The listed ids are a registered table for the query; when the query fails, its own
    error reaches the sync log, not DuckDB's refusal to unregister in an aborted transaction."""
    with wh.write() as con:
        con.execute("ALTER TABLE raw_documents RENAME TO raw_documents_gone")
    with pytest.raises(duckdb.CatalogException, match="raw_documents"), wh.write() as con:
        deletions.mark_unseen(con, "billingo", 4, {1, 2, 3})
