"""Test helpers: configure a company against the emulator and run the Dagster assets."""

from typing import Any

import dagster as dg

from invoice_pipeline import settings_store
from invoice_pipeline.billingo.assets import billingo_documents
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.orchestration.warehouse_assets import normalized_tables, sync_logs
from invoice_pipeline.partitions import companies
from invoice_pipeline.resources import SourceApiResource, WarehouseResource
from invoice_pipeline.sync import log
from invoice_pipeline.warehouse import Warehouse

FAST_API = SourceApiResource(
    retries=3, requests_per_minute=0, backoff_base_s=0.01, max_wait_s=0.3, timeout_s=1.0
)
ASSETS = [billingo_documents, normalized_tables, sync_logs]


def configure(
    wh: Warehouse,
    emu: BillingoEmulator,
    key: str,
    *,
    company_id: int = 4,
    docs: int = 50,
    seed: int = 1,
) -> None:
    emu.add_account(key, docs=docs, seed=seed)
    settings_store.upsert(
        wh, company_id=company_id, source="billingo", company_name=f"Company {company_id} Kft.",
        api_key=key, base_url=emu.base_url,
    )  # fmt: skip


def sync(
    wh: Warehouse,
    instance: dg.DagsterInstance,
    company_id: int = 4,
    api: SourceApiResource = FAST_API,
) -> tuple[dg.ExecuteInProcessResult, dict[str, Any]]:
    """Materialize the sync assets for one company; returns the run and its Billingo result."""
    instance.add_dynamic_partitions(companies.name, [str(company_id)])
    result = dg.materialize(
        ASSETS,
        partition_key=str(company_id),
        resources={"warehouse": WarehouseResource(db_path=str(wh.path)), "source_api": api},
        instance=instance,
        raise_on_error=False,
    )
    results = log.results_for_run(wh, result.run_id)
    assert len(results) <= 1, results
    return result, results[0] if results else {}


def scalar(wh: Warehouse, sql: str, params: list[Any] | None = None) -> Any:
    with wh.read() as con:
        row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None
