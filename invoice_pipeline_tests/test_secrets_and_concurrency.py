"""API keys never leak; concurrent syncs take turns on the warehouse file instead of failing."""

import logging
import threading

import dagster as dg
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import configure, scalar, sync


def test_api_key_never_appears_in_logs_metadata_output_or_the_database_file(
    wh: Warehouse,
    emulator: BillingoEmulator,
    api_key: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    configure(wh, emulator, api_key, docs=150)
    emulator.script_faults(api_key, ["429", "500", "html"])  # retries log warnings
    instance = dg.DagsterInstance.ephemeral()
    run, result = sync(wh, instance=instance)
    assert result["status"] == "COMPLETED"
    failing = "bad-" + api_key  # a rejected key: its error path must not leak it either
    configure(wh, emulator, "unused-" + api_key, company_id=5)
    from invoice_pipeline import settings_store

    settings_store.upsert(wh, company_id=5, source="billingo", api_key=failing)
    run2, failed = sync(wh, company_id=5, instance=instance)
    assert failed["status"] == "FAILED"
    events = [str(e) for rid in (run.run_id, run2.run_id) for e in instance.all_logs(rid)]
    metadata = [
        str(m.metadata)
        for r in (run, run2)
        for m in r.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]  # type: ignore[union-attr]
    ]
    out, err = capfd.readouterr()
    haystacks = {
        "dagster events": "\n".join(events),
        "metadata": "\n".join(metadata),
        "python logs": caplog.text,
        "stdout/stderr": out + err,
        "sync results": str(result) + str(failed),
    }
    assert "429" in caplog.text  # the retries were logged, so the search is meaningful
    for where, text in haystacks.items():
        assert api_key not in text, where
    wh_bytes = wh.path.read_bytes() + b"".join(p.read_bytes() for p in wh.path.parent.glob("*.wal"))
    assert api_key.encode() not in wh_bytes
    assert (
        scalar(wh, "SELECT count(*) FROM company_settings WHERE api_key_encrypted LIKE 'gAAAA%'")
        == 2
    )


def test_two_companies_sync_at_once_without_lock_errors(
    wh: Warehouse, emulator: BillingoEmulator
) -> None:
    for company_id in (4, 5, 6):
        configure(
            wh, emulator, f"key-{company_id}", company_id=company_id, docs=400, seed=company_id
        )
    results: dict[int, dict] = {}

    def run(company_id: int) -> None:
        results[company_id] = sync(wh, company_id=company_id)[1]

    threads = [threading.Thread(target=run, args=(c,)) for c in (4, 5, 6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {c: r["status"] for c, r in results.items()} == {
        4: "COMPLETED",
        5: "COMPLETED",
        6: "COMPLETED",
    }
    assert scalar(wh, "SELECT count(*) FROM invoices") == 1200
    assert scalar(wh, "SELECT count(DISTINCT company_id) FROM invoice_items") == 3


def test_a_second_sync_of_the_same_company_is_refused_while_one_runs(
    wh: Warehouse, api_key: str
) -> None:
    with BillingoEmulator(latency_ms=150) as slow:
        configure(wh, slow, api_key, docs=600)
        first: dict = {}
        t = threading.Thread(target=lambda: first.update(sync(wh)[1]))
        t.start()
        while scalar(wh, "SELECT count(*) FROM sync_logs WHERE status = 'RUNNING'") == 0:
            pass
        run, second = sync(wh)
        t.join()
    assert first["status"] == "COMPLETED"
    assert not run.success and second == {}  # refused before it opened a sync log
    [failure] = [e for e in run.all_events if e.is_step_failure]
    assert "a billingo sync of company 4 is already running" in str(failure.step_failure_data)
    assert scalar(wh, "SELECT count(*) FROM invoices") == 600
