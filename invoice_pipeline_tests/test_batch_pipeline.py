"""The extraction loop's two workers (``sync/extract.py``): the next batch is staged while
one is written, and a failure on either side fails the sync with nothing half-written."""

import threading
from typing import Any

import dagster as dg
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.sync import extract as extract_module
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import configure, scalar, sync


@pytest.fixture
def three_batches(
    wh: Warehouse, emulator: BillingoEmulator, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> Warehouse:
    """A company of 300 documents synced in three batches."""
    configure(wh, emulator, api_key, docs=300)
    monkeypatch.setenv("INVOICE_PIPELINE_BATCH_DOCUMENTS", "100")
    return wh


def test_the_next_batch_is_staged_while_one_is_written(
    three_batches: Warehouse, dagster_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first batch's write waits until the second batch's staging has begun: were the
    two steps taken one after the other, it would wait in vain (and fail the sync)."""
    wh = three_batches
    second_staging = threading.Event()
    real_stage, real_load = extract_module.stage_batch, extract_module.load_batch
    staged: list[str] = []

    def stage(*args: Any) -> None:
        staged.append(args[-1])
        if len(staged) == 2:
            second_staging.set()
        real_stage(*args)

    def load(*args: Any) -> Any:
        if args[-1] == staged[0] and not second_staging.wait(timeout=10):
            raise AssertionError("the second batch was not staged while the first was written")
        return real_load(*args)

    monkeypatch.setattr(extract_module, "stage_batch", stage)
    monkeypatch.setattr(extract_module, "load_batch", load)
    _, result = sync(wh, dagster_instance)
    assert (result["status"], result["errors"]) == ("COMPLETED", [])
    assert result["invoices_created"] == 300
    assert len(staged) == 3
    assert scalar(wh, "SELECT count(*) FROM invoices") == 300


def test_a_failed_staging_fails_the_sync_and_keeps_the_batches_written(
    three_batches: Warehouse, dagster_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = three_batches
    real_stage, calls = extract_module.stage_batch, []

    def third_fails(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("DuckDB ran out of memory")
        real_stage(*args)

    monkeypatch.setattr(extract_module, "stage_batch", third_fails)
    _, result = sync(wh, dagster_instance)
    assert result["status"] == "FAILED"
    assert "DuckDB ran out of memory" in str(result["errors"])
    assert result["invoices_created"] == 200
    assert scalar(wh, "SELECT count(*) FROM raw_documents") == 200
    assert scalar(wh, "SELECT count(*) FROM invoices") == 200
    monkeypatch.setattr(extract_module, "stage_batch", real_stage)
    _, again = sync(wh, dagster_instance)
    assert (again["status"], again["invoices_created"], again["invoices_skipped"]) == (
        "COMPLETED",
        100,
        200,
    )
