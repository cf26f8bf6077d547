"""The Dagster code location (loaded by workspace.yaml)."""

from __future__ import annotations

import os

import dagster as dg

from invoice_pipeline import config
from invoice_pipeline.billingo.assets import billingo_documents
from invoice_pipeline.billx.assets import billx_documents
from invoice_pipeline.orchestration.company_checks import ASSET_CHECKS
from invoice_pipeline.orchestration.jobs import sync_freshness_job, sync_job
from invoice_pipeline.orchestration.notify import notifier_from_env
from invoice_pipeline.orchestration.partition_sensor import company_partitions
from invoice_pipeline.orchestration.run_logger import LOGGERS
from invoice_pipeline.orchestration.schedules import frequent_sync, nightly_sync, sync_freshness
from invoice_pipeline.orchestration.sensors import sync_failure_alerts
from invoice_pipeline.orchestration.warehouse_assets import normalized_tables, sync_logs
from invoice_pipeline.resources import NoValuesIOManager, SourceApiResource, WarehouseResource


def _db_path() -> str | dg.EnvVar:
    return (
        dg.EnvVar("INVOICE_PIPELINE_DB")
        if os.environ.get("INVOICE_PIPELINE_DB")
        else str(config.db_path())
    )


defs = dg.Definitions(
    assets=[billingo_documents, billx_documents, normalized_tables, sync_logs],
    asset_checks=ASSET_CHECKS,
    jobs=[sync_job, sync_freshness_job],
    schedules=[nightly_sync, frequent_sync, sync_freshness],
    sensors=[sync_failure_alerts, company_partitions],
    resources={
        "warehouse": WarehouseResource(db_path=_db_path()),
        "source_api": SourceApiResource.from_env(),
        "notifier": notifier_from_env(),
        "io_manager": NoValuesIOManager(),
    },
    loggers=LOGGERS,
)
