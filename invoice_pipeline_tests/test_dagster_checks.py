"""Asset checks, the failure hook and sensor, alerts, retries and the UI metadata, against the
emulator and deliberately corrupted warehouses."""

import dataclasses
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.features import set_feature
from invoice_pipeline.orchestration import company_checks
from invoice_pipeline.orchestration.company_checks import ASSET_CHECKS
from invoice_pipeline.orchestration.jobs import sync_job
from invoice_pipeline.orchestration.notify import (
    WEBHOOK_ENV,
    Alert,
    LogNotifier,
    WebhookNotifier,
    notifier_from_env,
)
from invoice_pipeline.orchestration.sensors import sync_failure_alerts
from invoice_pipeline.orchestration.source_assets import documents_asset, extraction_retry_policy
from invoice_pipeline.orchestration.sync_checks import syncs_are_fresh
from invoice_pipeline.partitions import SYNC_TYPE_TAG
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import log
from invoice_pipeline.sync.service import SOURCES
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import ASSETS, FAST_API, configure, scalar

CHECKS = ASSET_CHECKS
BLOCKING = {"unique_invoice_keys", "no_orphan_items", "complete_invoice_lines"}
Evaluations = dict[str, dg.AssetCheckEvaluation]


def resources(wh: Warehouse, notifier: Any = None) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(db_path=str(wh.path)),
        "source_api": FAST_API,
        "notifier": notifier or LogNotifier(),
    }


def run_job(
    wh: Warehouse,
    instance: dg.DagsterInstance,
    company_id: int = 4,
    assets: list[Any] = ASSETS,
    sync_type: str = log.MANUAL,
) -> dg.ExecuteInProcessResult:
    """The real ``sync_job`` for one company, on this test's warehouse."""
    instance.add_dynamic_partitions("companies", [str(company_id)])
    defs = dg.Definitions(
        assets=assets, asset_checks=CHECKS, jobs=[sync_job], resources=resources(wh)
    )
    return defs.resolve_job_def("sync_job").execute_in_process(
        partition_key=str(company_id),
        instance=instance,
        tags={SYNC_TYPE_TAG: sync_type},
        raise_on_error=False,
    )


def evaluations(run: dg.ExecuteInProcessResult) -> Evaluations:
    return {e.check_name: e for e in run.get_asset_check_evaluations()}


def steps(run: dg.ExecuteInProcessResult) -> list[str]:
    return [e.step_key for e in run.all_events if e.is_step_start and e.step_key]


def meta(found: Evaluations | dg.AssetCheckResult, check: str, key: str = "examples") -> Any:
    """A metadata value of one check's evaluation (or of a result), as plain data."""
    metadata = found.metadata if isinstance(found, dg.AssetCheckResult) else found[check].metadata
    return metadata[key].value


def log_rows(wh: Warehouse, run_id: str) -> list[tuple[Any, ...]]:
    with wh.read() as con:
        return con.execute(
            "SELECT status, errors FROM sync_logs WHERE run_id = ? ORDER BY id", [run_id]
        ).fetchall()


def invoice_ids(wh: Warehouse, where: str = "true", n: int = 1, order: str = "ASC") -> list[int]:
    with wh.read() as con:
        rows = con.execute(
            f"SELECT invoice_id FROM invoices WHERE {where} ORDER BY invoice_id {order} LIMIT {n}"
        ).fetchall()
    assert len(rows) == n
    return [r[0] for r in rows]


def number_of(wh: Warehouse, invoice_id: int) -> str:
    return scalar(wh, "SELECT invoice_number FROM invoices WHERE invoice_id = ?", [invoice_id])


def corrupt_totals_and_tax_numbers(wh: Warehouse) -> tuple[str, str]:
    """One invoice's gross total off by 1,000; one Hungarian partner's tax number malformed
    (the newest such invoices: the other corruptions take the oldest)."""
    hungarian = "partner_country_code = 'HU' AND partner_tax_number IS NOT NULL"
    off, bad_tax = invoice_ids(wh, f"{hungarian} AND item_count > 0", 2, order="DESC")
    with wh.write() as con:
        con.execute(
            "UPDATE invoices SET gross_total = gross_total + 1000 WHERE invoice_id = ?", [off]
        )
        con.execute(
            "UPDATE invoices SET partner_tax_number = '1234567-8' WHERE invoice_id = ?", [bad_tax]
        )
    return number_of(wh, off), number_of(wh, bad_tax)


def test_every_check_passes_on_a_clean_sync_and_the_ui_metadata_is_typed(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=300)
    run = run_job(wh, dagster_instance)
    assert run.success
    # The six company checks are one step (one warehouse connection); freshness is its own.
    assert steps(run) == [
        "billingo_documents", "normalized_tables", "company_checks", "sync_logs",
        "sync_logs_syncs_are_fresh",
    ]  # fmt: skip
    found = evaluations(run)
    assert set(found) == {key.name for c in CHECKS for key in c.check_keys}
    assert all(e.passed for e in found.values()), {n: e.metadata for n, e in found.items()}
    assert {n for n, e in found.items() if e.blocking} == BLOCKING | {"invoice_count_matches_api"}
    [compared] = meta(found, "invoice_count_matches_api", "compared")
    assert compared["api_listed"] == compared["in_warehouse"] == 300
    assert scalar(wh, "SELECT status FROM sync_logs") == "COMPLETED"

    [extracted] = run.asset_materializations_for_node("billingo_documents")
    for name in ("processed", "created", "updated", "skipped", "rejected", "api_calls"):
        assert isinstance(extracted.metadata[name], dg.IntMetadataValue), name
    assert isinstance(extracted.metadata["duration_s"], dg.FloatMetadataValue)
    assert extracted.metadata["processed"].value == 300
    invoices = next(
        m for m in run.asset_materializations_for_node("normalized_tables")
        if m.asset_key == dg.AssetKey("invoices")
    )  # fmt: skip
    preview = invoices.metadata["latest_invoices"]
    assert isinstance(preview, dg.MarkdownMetadataValue)
    with wh.read() as con:
        latest = con.execute(
            "SELECT invoice_number FROM invoices ORDER BY invoice_date DESC, invoice_id DESC "
            "LIMIT 5"
        ).fetchall()
    text = preview.value or ""
    assert text.count("\n") == 6 and all(number in text for (number,) in latest)
    assert ("Ft |" in text or "EUR |" in text) and api_key not in text


def test_a_corrupted_warehouse_fails_the_blocking_checks_and_the_sensor_records_it(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure(wh, emulator, api_key, docs=150)
    assert run_job(wh, dagster_instance).success
    dup, short, gone_a, gone_b = invoice_ids(wh, "item_count > 1", 4)
    off_number, tax_number = corrupt_totals_and_tax_numbers(wh)
    with wh.write() as con:
        con.execute("INSERT INTO invoices SELECT * FROM invoices WHERE invoice_id = ?", [dup])
        con.execute(
            "INSERT INTO invoice_items (source, company_id, invoice_id, line_no, name) "
            "VALUES ('billingo', 4, 999999999, 1, 'a line without its invoice')"
        )
        con.execute("DELETE FROM invoice_items WHERE invoice_id = ? AND line_no = 1", [short])
        for table in ("invoice_items", "invoices"):
            con.execute(f"DELETE FROM {table} WHERE invoice_id IN (?, ?)", [gone_a, gone_b])

    # An ad-hoc materialization (as the UI's "Materialize" button runs it): no failure hook.
    run = dg.materialize(
        [*ASSETS, *CHECKS],
        partition_key="4",
        resources=resources(wh),
        instance=dagster_instance,
        raise_on_error=False,
    )
    assert not run.success
    found = evaluations(run)
    failed = {n for n, e in found.items() if not e.passed}
    assert failed == BLOCKING | {
        "invoice_count_matches_api", "line_totals_match", "partner_tax_numbers",
    }  # fmt: skip
    error = dg.AssetCheckSeverity.ERROR
    assert {n for n in failed if found[n].severity == error} == failed - {
        "line_totals_match", "partner_tax_numbers",
    }  # fmt: skip
    assert meta(found, "unique_invoice_keys") == [
        {"source": "billingo", "invoice_id": dup, "invoice_number": number_of(wh, dup),
         "copies": 2},
    ]  # fmt: skip
    assert meta(found, "no_orphan_items", "offending") == 1
    [incomplete] = meta(found, "complete_invoice_lines")
    assert incomplete["invoice_number"] == number_of(wh, short)
    assert incomplete["lines"] == incomplete["item_count"] - 1
    [compared] = meta(found, "invoice_count_matches_api", "compared")
    assert (compared["api_valid"], compared["in_warehouse"]) == (150, 149)  # +1 copy, -2 gone
    off = {x["invoice_number"]: x for x in meta(found, "line_totals_match")}
    assert off[off_number]["gross_diff"] == "1000.0000"
    [bad_tax] = meta(found, "partner_tax_numbers")
    assert (bad_tax["invoice_number"], bad_tax["partner_tax_number"]) == (tax_number, "1234567-8")
    # The blocking failures kept sync_logs from closing the log: it is still RUNNING.
    assert not run.asset_materializations_for_node("sync_logs")
    assert [r[0] for r in log_rows(wh, run.run_id)] == ["RUNNING"]

    sent: list[Alert] = []

    class Recorder:
        def notify(self, alert: Alert) -> None:
            sent.append(alert)

    capfd.readouterr()
    with dg.build_run_status_sensor_context(
        sensor_name="sync_failure_alerts",
        dagster_event=run.get_run_failure_event(),
        dagster_instance=dagster_instance,
        dagster_run=run.dagster_run,
        resources=resources(wh, Recorder()),
    ).for_run_failure() as context:
        sync_failure_alerts(context)
        dagster_log = capfd.readouterr().err  # the sensor's context.log (Dagster's handler)
        sync_failure_alerts(context)  # evaluated again: nothing left RUNNING, the same alert

    [(status, errors)] = log_rows(wh, run.run_id)
    reason = json.loads(errors)[-1]["error"]
    assert status == "FAILED"
    assert "blocking asset check" in reason and "failed" in reason and "\n" not in reason
    alert = sent[0]
    assert (alert.company_id, alert.source, alert.run_id) == ("4", "billingo", run.run_id)
    assert alert.reason == reason
    expected = f"ALERT sync failed: company=4 source=billingo run={run.run_id} reason={reason}"
    assert alert.line == expected
    assert f"ERROR - {expected}" in dagster_log and api_key not in dagster_log
    assert "closed 1 RUNNING sync log(s)" in dagster_log
    assert [r[0] for r in log_rows(wh, run.run_id)] == ["FAILED"]
    assert sent == [alert, alert]


def test_warnings_never_fail_the_run_but_a_blocking_failure_closes_the_log_at_once(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key, docs=40)
    assert run_job(wh, dagster_instance).success
    corrupt_totals_and_tax_numbers(wh)
    warned = run_job(wh, dagster_instance)
    assert warned.success
    found = evaluations(warned)
    assert {n for n, e in found.items() if not e.passed} == {
        "line_totals_match", "partner_tax_numbers",
    }  # fmt: skip
    assert [r[0] for r in log_rows(wh, warned.run_id)] == ["COMPLETED"]

    [dup] = invoice_ids(wh)
    with wh.write() as con:
        con.execute("INSERT INTO invoices SELECT * FROM invoices WHERE invoice_id = ?", [dup])
    blocked = run_job(wh, dagster_instance)  # sync_job: its failure hook closes the log
    assert not blocked.success
    assert not blocked.asset_materializations_for_node("sync_logs")
    # Every company check was still evaluated and recorded in the failed step (the copy also
    # makes one invoice more than the API listed: a WARN); freshness never ran.
    found = evaluations(blocked)
    assert set(found) == {c.name for c in company_checks.COMPANY_CHECKS}
    assert {n for n, e in found.items() if not e.passed} == {
        "unique_invoice_keys", "invoice_count_matches_api", "line_totals_match",
        "partner_tax_numbers",
    }  # fmt: skip
    assert found["invoice_count_matches_api"].severity == dg.AssetCheckSeverity.WARN
    [(status, errors)] = log_rows(wh, blocked.run_id)
    assert status == "FAILED"
    reason = json.loads(errors)[-1]["error"]
    assert reason.startswith("step company_checks failed: 1 blocking asset check")
    assert log.results_for_run(wh, blocked.run_id)[0]["status"] == "FAILED"


@pytest.mark.parametrize("broken", ["partner_tax_numbers", "no_orphan_items"])
def test_a_check_that_raises_is_recorded_as_failed_with_its_severity(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
) -> None:
    """A warning check that raises warns (the sync completes); a blocking one blocks."""
    configure(wh, emulator, api_key, docs=20)

    def raising(con: Any, company_id: int) -> dg.AssetCheckResult:
        raise RuntimeError("the table is gone")

    raising.__name__ = broken
    checks = [
        dataclasses.replace(c, fn=raising) if c.name == broken else c
        for c in company_checks.COMPANY_CHECKS
    ]
    monkeypatch.setattr(company_checks, "COMPANY_CHECKS", checks)
    run = run_job(wh, dagster_instance)
    found = evaluations(run)
    found.pop("syncs_are_fresh", None)  # runs after sync_logs, when nothing blocked
    assert set(found) == {c.name for c in checks}
    assert [n for n, e in found.items() if not e.passed] == [broken]
    assert found[broken].description == "could not be evaluated: the table is gone"
    blocking = broken == "no_orphan_items"
    assert found[broken].severity == (
        dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN
    )
    assert run.success is not blocking
    assert bool(run.asset_materializations_for_node("sync_logs")) is not blocking
    [(status, _)] = log_rows(wh, run.run_id)
    assert status == ("FAILED" if blocking else "COMPLETED")


def test_one_company_check_runs_alone(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    """As the UI's "Execute" of a single check: the step evaluates only the selected check."""
    configure(wh, emulator, api_key, docs=20)
    assert run_job(wh, dagster_instance).success
    key = dg.AssetCheckKey(dg.AssetKey("invoices"), "partner_tax_numbers")
    job = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(key))
    defs = dg.Definitions(assets=ASSETS, asset_checks=CHECKS, jobs=[job], resources=resources(wh))
    # The partition as a tag: execute_in_process(partition_key=...) needs a partitioned asset.
    run = defs.resolve_job_def("one_check").execute_in_process(
        tags={"dagster/partition": "4"}, instance=dagster_instance
    )
    assert steps(run) == ["company_checks"]
    assert [(e.asset_key, e.check_name, e.passed) for e in run.get_asset_check_evaluations()] == [
        (key.asset_key, key.name, True)
    ]


def test_unattended_runs_retry_transient_failures_only_and_companies_are_independent(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, emulator: BillingoEmulator, api_key: str
) -> None:
    fast = documents_asset(SOURCES["billingo"], extraction_retry_policy(delay_s=0.01))
    assets = [fast, *ASSETS[1:]]
    other = "other-" + api_key
    configure(wh, emulator, api_key, docs=30)
    configure(wh, emulator, other, company_id=5, docs=20, seed=2)

    emulator.script_faults(other, ["401"])  # deterministic: never retried
    rejected = run_job(wh, dagster_instance, 5, assets, sync_type=log.AUTOMATIC)
    assert not rejected.success
    assert [r[0] for r in log_rows(wh, rejected.run_id)] == ["FAILED"]
    assert emulator.request_count(other) == 1

    emulator.script_faults(api_key, ["500"] * 4)  # the HTTP layer's 1 + 3 attempts all fail
    manual = run_job(wh, dagster_instance, 4, assets)  # a person is waiting: fails at once
    assert [r[0] for r in log_rows(wh, manual.run_id)] == ["FAILED"]

    emulator.script_faults(api_key, ["500"] * 4)
    retried = run_job(wh, dagster_instance, 4, assets, sync_type=log.AUTOMATIC)
    assert retried.success  # company 5's failure did not stop company 4
    assert [r[0] for r in log_rows(wh, retried.run_id)] == ["FAILED", "COMPLETED"]
    [result] = log.results_for_run(wh, retried.run_id)
    assert (result["status"], result["invoices_created"]) == ("COMPLETED", 30)
    assert scalar(wh, "SELECT count(*) FROM invoices WHERE company_id = 4") == 30


def test_freshness_warns_about_nightly_syncs_without_a_good_sync_in_26_hours(
    wh: Warehouse, emulator: BillingoEmulator, api_key: str
) -> None:
    configure(wh, emulator, api_key)
    configure(wh, emulator, "other-" + api_key, company_id=5)
    configure(wh, emulator, "third-" + api_key, company_id=6)
    configure(wh, emulator, "fourth-" + api_key, company_id=7)
    with wh.write() as con:  # never synced, but none of them is the nightly sync's to do
        con.execute("UPDATE company_settings SET is_active = false WHERE company_id = 5")
        con.execute("UPDATE company_settings SET nightly_sync = false WHERE company_id = 6")
    set_feature(wh, 7, "BILLINGO_SYNC", False)
    warehouse = WarehouseResource(db_path=str(wh.path))

    def evaluate() -> dg.AssetCheckResult:
        return syncs_are_fresh(warehouse=warehouse)  # type: ignore[return-value]

    never = evaluate()
    assert not never.passed and never.severity == dg.AssetCheckSeverity.WARN
    assert meta(never, "syncs_are_fresh") == [
        {"company_id": 4, "source": "billingo", "company_name": "Company 4 Kft.",
         "last_success": None, "age_hours": None},
    ]  # fmt: skip

    def add_log(status: str, hours_ago: float) -> None:
        with wh.write() as con:
            con.execute(
                "INSERT INTO sync_logs (id, company_id, source, sync_type, status, started_at, "
                "completed_at) VALUES (nextval('sync_log_ids'), 4, 'billingo', 'AUTOMATIC', ?, "
                "now() - ?, now() - ?)",
                [status, timedelta(hours=hours_ago + 0.1), timedelta(hours=hours_ago)],
            )

    add_log("COMPLETED", 30)
    add_log("FAILED", 1)
    stale = evaluate()
    assert not stale.passed
    [example] = meta(stale, "syncs_are_fresh")
    assert example["age_hours"] == pytest.approx(30, abs=0.2)
    add_log("PARTIAL", 2)
    fresh = evaluate()
    assert fresh.passed and meta(fresh, "syncs_are_fresh", "active_syncs") == 1


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any], list[int]]]:
    """A local HTTP server: (its URL, the JSON bodies it received, the statuses to answer)."""
    bodies: list[Any] = []
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(statuses.pop(0) if statuses else 204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook?token=s3cret", bodies, statuses
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_notifier_posts_json_and_swallows_errors(
    webhook: tuple[str, list[Any], list[int]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, bodies, statuses = webhook
    alert = Alert(company_id="4", source="billingo", run_id="r-1", reason="Billingo is down")
    notifier = WebhookNotifier(url=url, timeout_s=2.0)
    notifier.notify(alert)
    assert bodies == [
        {"text": alert.line, "company_id": "4", "source": "billingo", "run_id": "r-1",
         "reason": "Billingo is down"},
    ]  # fmt: skip
    assert alert.line.startswith("ALERT sync failed: company=4 source=billingo run=r-1 reason=")

    caplog.set_level(logging.WARNING, logger="invoice_pipeline.alerts")
    statuses.append(500)
    notifier.notify(alert)  # an error answer: logged, not raised
    WebhookNotifier(url="http://127.0.0.1:9/closed", timeout_s=0.5).notify(alert)  # refused
    assert "alert webhook answered 500" in caplog.text
    assert "alert webhook failed: ConnectError" in caplog.text
    assert "s3cret" not in caplog.text and len(bodies) == 2

    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    assert isinstance(notifier_from_env(), LogNotifier)
    monkeypatch.setenv(WEBHOOK_ENV, url)
    assert isinstance(notifier_from_env(), WebhookNotifier)
