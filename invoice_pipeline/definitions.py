"""The Dagster code location (loaded by workspace.yaml)."""

from __future__ import annotations

import os

import dagster as dg

from invoice_pipeline import config
from invoice_pipeline.billingo.assets import billingo_documents
from invoice_pipeline.orchestration.jobs import nightly_sync, sync_job
from invoice_pipeline.orchestration.warehouse_assets import normalized_tables, sync_logs
from invoice_pipeline.resources import SourceApiResource, WarehouseResource


def _db_path() -> str | dg.EnvVar:
    return (
        dg.EnvVar("INVOICE_PIPELINE_DB")
        if os.environ.get("INVOICE_PIPELINE_DB")
        else str(config.db_path())
    )


defs = dg.Definitions(
    assets=[billingo_documents, normalized_tables, sync_logs],
    jobs=[sync_job],
    schedules=[nightly_sync],
    resources={
        "warehouse": WarehouseResource(db_path=_db_path()),
        "source_api": SourceApiResource.from_env(),
    },
)
