"""The extraction loop's two workers (``sync/extract.py``): the next batch is staged while
one is written, and a failure on either side fails the sync with nothing half-written; the
batch sizes leave DuckDB no row groups to merge."""

import itertools
import threading
from typing import Any

import dagster as dg
import duckdb
import pytest

from invoice_pipeline import config
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.sync import extract as extract_module
from invoice_pipeline.sync import service
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


def test_a_full_sync_leaves_no_row_groups_for_the_next_checkpoint_to_merge(
    wh: Warehouse,
    emulator: BillingoEmulator,
    api_key: str,
    dagster_instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DuckDB's checkpoint merges adjacent row groups whose rows fit in fewer, rewriting them;
    the batch sizes (``extract.RAMP_ROW_GROUPS``) leave it nothing to merge after the crawl, so
    the read snapshot's publish, which checkpoints next, does not wait for such a rewrite."""
    configure(wh, emulator, api_key, docs=20_000)
    layouts: list[tuple[dict[str, int], dict[str, int]]] = []
    real_extract = service.extract

    def extract(*args: Any, **kwargs: Any) -> Any:
        listed = real_extract(*args, **kwargs)
        with wh.session() as session:
            con = session.connection
            before = _row_groups(con)
            con.execute("CREATE TABLE probe (a INTEGER)")  # a change, so that it checkpoints
            con.execute("CHECKPOINT")
            layouts.append((before, _row_groups(con)))
            con.execute("DROP TABLE probe")
        return listed

    monkeypatch.setattr(service, "extract", extract)
    _, result = sync(wh, dagster_instance)
    assert (result["status"], result["invoices_created"]) == ("COMPLETED", 20_000)
    [(before, after)] = layouts
    assert before["invoices"] >= 20_000 // config.ROW_GROUP_SIZE
    assert after == before


def _row_groups(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {
        table: int(
            con.execute(
                f"SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('{table}')"
            ).fetchone()[0]  # type: ignore[index]
        )
        for table in ("raw_documents", "invoices", "invoice_items")
    }


def test_batches_start_at_one_row_group_then_three_then_the_configured_size() -> None:
    rows = config.ROW_GROUP_SIZE
    assert list(itertools.islice(extract_module.batch_targets(4 * rows), 4)) == [
        rows,
        3 * rows,
        4 * rows,
        4 * rows,
    ]
    assert list(itertools.islice(extract_module.batch_targets(100), 3)) == [100, 100, 100]
