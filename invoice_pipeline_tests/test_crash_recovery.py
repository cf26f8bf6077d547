"""``kill -9`` of a real ``invoice-pipeline sync`` process in the middle of a sync, and syncs
of the same company racing in one process.

After a kill the warehouse opens and holds the previous state or whole committed batches
(every invoice with exactly its lines and its raw document), the dead sync's log is closed
as FAILED by the next sync, and that sync converges to exactly what the emulator serves.
Concurrent syncs in separate processes (three companies; the same company twice) are in
``test_secrets_and_concurrency.py``; what it does not cover is here: the same company twice
in one process (threads, as an HTTP API would start them) with the data checked line by
line afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import date
from typing import Any

import dagster as dg
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.server import Request
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import configure, sync
from invoice_pipeline_tests.warehouse_checks import (
    content_problems,
    integrity_problems,
    running_logs,
    served_documents,
    snapshot,
    stored_ids,
)


@pytest.fixture(scope="module")
def instance() -> dg.DagsterInstance:
    """In-memory run storage (the shared test instance's sqlite fsyncs slow every sync)."""
    return dg.DagsterInstance.ephemeral()


def page_of(request: Request) -> int:
    return int(dict(request.query).get("page") or 1)


def start_sync_process(company_id: int = 4) -> subprocess.Popen[str]:
    """``invoice-pipeline sync`` in its own process, on the test's warehouse and key."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoice_pipeline", "sync", "--company", str(company_id), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def kill_9(proc: subprocess.Popen[str]) -> None:
    assert proc.poll() is None, proc.communicate()
    proc.kill()  # SIGKILL: no handler, no finally, no atexit
    proc.communicate(timeout=30)
    assert proc.returncode == -9


def log_rows(wh: Warehouse) -> list[tuple[Any, ...]]:
    with wh.read() as con:
        return con.execute("SELECT status, errors FROM sync_logs ORDER BY id").fetchall()


def assert_converged(wh: Warehouse, emu: BillingoEmulator, key: str) -> None:
    served = served_documents(emu, key)
    assert stored_ids(wh) == sorted(d["id"] for d in served)
    assert content_problems(wh, served) == []
    assert integrity_problems(wh) == []
    assert running_logs(wh) == 0


def test_kill_during_the_crawl_keeps_the_previous_state_and_the_next_sync_converges(
    wh: Warehouse, instance: dg.DagsterInstance, api_key: str
) -> None:
    with BillingoEmulator() as emu:
        configure(wh, emu, api_key, docs=500, seed=3)
        _, first = sync(wh, instance)
        assert first["status"] == "COMPLETED"
        before = snapshot(wh)
        docs = emu.documents(api_key)
        unpaid = [d for d in docs if d["payment_status"] in ("outstanding", "expired")][:3]
        for doc in unpaid:  # changes the interrupted sync would have written
            emu.pay(api_key, doc["id"], paid_date=date(2026, 11, 20))
        emu.add_document(api_key)
        emu.latency_ms = 50  # a slow API; page 3 of 6 is held back until the kill
        at_page_3, release = threading.Event(), threading.Event()

        def hold_page_3(request: Request) -> None:
            if page_of(request) == 3:
                at_page_3.set()
                release.wait(30)

        emu.before_request = hold_page_3
        proc = start_sync_process()
        try:
            assert at_page_3.wait(120), "the sync never reached page 3"
            kill_9(proc)
        finally:
            release.set()
            emu.before_request, emu.latency_ms = None, 0

        assert integrity_problems(wh) == []  # the file opens and is consistent
        assert snapshot(wh) == before  # no batch was committed: as before the sync
        assert running_logs(wh) == 1  # the dead sync's log

        _, result = sync(wh, instance)
        assert result["status"] == "COMPLETED", result["errors"]
        assert (result["invoices_created"], result["invoices_updated"]) == (1, len(unpaid))
        statuses = log_rows(wh)
        assert [s for s, _ in statuses] == ["COMPLETED", "FAILED", "COMPLETED"]
        assert "the sync was interrupted: its process ended" in statuses[1][1]
        assert_converged(wh, emu, api_key)


def test_kill_during_a_batch_write_keeps_whole_batches_and_the_next_sync_converges(
    wh: Warehouse, instance: dg.DagsterInstance, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 1,000 documents: the first is committed while pages 11-20 are fetched, the
    second is written while page 21 is fetched. Page 21 is held back, and the process is
    killed as soon as the write-ahead log grows past the first batch: during the commit of
    the second."""
    monkeypatch.setenv("INVOICE_PIPELINE_BATCH_DOCUMENTS", "1000")
    docs = 2_550
    wal = wh.path.with_name(wh.path.name + ".wal")
    with BillingoEmulator() as emu:
        configure(wh, emu, api_key, docs=docs, seed=5)
        at_page_21, release = threading.Event(), threading.Event()

        def hold_page_21(request: Request) -> None:
            if 11 <= page_of(request) <= 20:
                # The client fetches pages ahead of the loader: pages 11-20 are slowed down
                # so that the first batch is committed before page 21 is asked for.
                time.sleep(0.03)
            if page_of(request) == 21 and not at_page_21.is_set():
                at_page_21.set()
                release.wait(30)  # the batch writer works meanwhile

        emu.before_request = hold_page_21
        proc = start_sync_process()
        try:
            assert at_page_21.wait(120), proc.communicate()
            first_batch = wal.stat().st_size if wal.exists() else 0
            deadline = time.monotonic() + 30
            while not (wal.exists() and wal.stat().st_size > first_batch):
                assert time.monotonic() < deadline and proc.poll() is None, "no second batch"
                time.sleep(0.002)
            kill_9(proc)
        finally:
            release.set()
            emu.before_request = None

        assert integrity_problems(wh) == []
        with wh.read() as con:
            row = con.execute(
                "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM raw_documents)"
            ).fetchone()
        assert row is not None and row[0] == row[1]
        assert row[0] in (1_000, 2_000)  # whole batches: the first, or both
        newest = [d["id"] for d in emu.documents(api_key)][: row[0]]
        assert stored_ids(wh) == sorted(newest)  # exactly the documents of those pages
        assert running_logs(wh) == 1

        _, result = sync(wh, instance)
        assert result["status"] == "COMPLETED", result["errors"]
        assert (result["invoices_created"], result["invoices_skipped"]) == (
            docs - row[0],
            row[0],
        )
        assert [s for s, _ in log_rows(wh)] == ["FAILED", "COMPLETED"]
        assert_converged(wh, emu, api_key)


def test_the_same_company_synced_twice_at_once_in_one_process(wh: Warehouse, api_key: str) -> None:
    """Two threads start a sync of company 4 together: one runs, the other waits for it
    or is refused with a clear message; either way nothing is written twice."""
    with BillingoEmulator(latency_ms=40) as emu:
        configure(wh, emu, api_key, docs=700, seed=11)
        results: list[dict[str, Any]] = []

        def run() -> None:
            # An instance each: one SQLite-backed instance is not written from two threads.
            with dg.DagsterInstance.ephemeral() as own:
                outcome, result = sync(wh, own)
            if not result:  # refused before its sync log opened: the run says why
                failure = next(e for e in outcome.all_events if e.is_step_failure)
                data = failure.step_failure_data
                reason = data.user_failure_data.description if data.user_failure_data else ""
                result = {"status": "FAILED", "invoices_created": 0, "errors": [{"error": reason}]}
            results.append(result)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert len(results) == 2
        by_status = sorted(results, key=lambda r: r["invoices_created"], reverse=True)
        assert (by_status[0]["status"], by_status[0]["invoices_created"]) == ("COMPLETED", 700)
        other = by_status[1]
        if other["status"] == "COMPLETED":  # it waited, then found nothing new
            assert other["invoices_skipped"] == 700
        else:
            assert other["status"] == "FAILED"
            assert other["errors"][-1]["error"].startswith(
                "a billingo sync of company 4 is already running"
            )
        assert_converged(wh, emu, api_key)
