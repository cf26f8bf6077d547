"""API keys never leak; concurrent syncs take turns on the warehouse file instead of failing."""

import json
import logging
import subprocess
import sys
import time

import dagster as dg
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import configure, scalar, sync


def test_api_key_never_appears_in_logs_metadata_output_or_the_database_file(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    configure(wh, emulator, api_key, docs=150)
    emulator.script_faults(api_key, ["429", "500", "html"])  # retries log warnings
    instance = dagster_instance
    run, result = sync(wh, dagster_instance)
    assert result["status"] == "COMPLETED"
    failing = "bad-" + api_key  # a rejected key: its error path must not leak it either
    configure(wh, emulator, "unused-" + api_key, company_id=5)
    from invoice_pipeline import settings_store

    settings_store.upsert(wh, company_id=5, source="billingo", api_key=failing)
    run2, failed = sync(wh, dagster_instance, company_id=5)
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


def _sync_process(company_id: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "invoice_pipeline", "sync", "--company", str(company_id), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_three_companies_sync_at_once_in_separate_processes(
    wh: Warehouse, emulator: BillingoEmulator
) -> None:
    for company_id in (4, 5, 6):
        configure(
            wh, emulator, f"key-{company_id}", company_id=company_id, docs=400, seed=company_id
        )
    procs = {c: _sync_process(c) for c in (4, 5, 6)}
    outputs = {c: p.communicate(timeout=120) for c, p in procs.items()}
    for company_id, (out, err) in outputs.items():
        assert procs[company_id].returncode == 0, err
        [result] = json.loads(out)
        assert (result["status"], result["invoices_created"]) == ("COMPLETED", 400)
    assert scalar(wh, "SELECT count(*) FROM invoices") == 1200
    assert scalar(wh, "SELECT count(DISTINCT company_id) FROM invoice_items") == 3


def test_a_second_sync_of_the_same_company_waits_or_is_refused(wh: Warehouse, api_key: str) -> None:
    with BillingoEmulator(latency_ms=100) as slow:
        configure(wh, slow, api_key, docs=1500)
        first = _sync_process(4)
        deadline = time.monotonic() + 60
        while scalar(wh, "SELECT count(*) FROM sync_logs WHERE status = 'RUNNING'") == 0:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = _sync_process(4)
        out2, _ = second.communicate(timeout=120)
        out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert json.loads(out1)[0]["invoices_created"] == 1500
    [second_result] = json.loads(out2)
    if second.returncode == 0:  # it waited for the writer and ran after the first
        assert (second_result["status"], second_result["invoices_skipped"]) == ("COMPLETED", 1500)
    else:  # it got the writer between the first's steps and was refused
        assert second_result["status"] == "FAILED"
        assert (
            "a billingo sync of company 4 is already running" in second_result["errors"][0]["error"]
        )
    assert scalar(wh, "SELECT count(*) FROM invoices") == 1500
    assert scalar(wh, "SELECT count(*) FROM sync_logs WHERE status = 'RUNNING'") == 0
