"""The sync job and its schedule; the hourly freshness check of every active sync."""

import dagster as dg

from invoice_pipeline.orchestration.sensors import close_sync_logs_on_failure
from invoice_pipeline.orchestration.sync_checks import syncs_are_fresh
from invoice_pipeline.partitions import (
    SYNC_TYPE_TAG,
    active_company_keys,
    register_companies,
)
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import log

# One process per run: the steps of a company's sync share the process that owns its sync logs.
# Every run is one company: a failing company never stops another's run. The failure hook
# closes the run's sync logs as FAILED when a later step (a blocking check) fails for good.
sync_job = dg.define_asset_job(
    "sync_job",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    hooks={close_sync_logs_on_failure},
    description=(
        "Full sync of one company (partition): every configured source, the normalized tables "
        "and their checks (blocking ones before the sync log is closed), then the sync log."
    ),
)

sync_freshness_job = dg.define_asset_job(
    "sync_freshness_job",
    selection=dg.AssetSelection.checks(syncs_are_fresh),
    description="Evaluates the freshness of every active company's syncs (no sync runs).",
)


sync_freshness = dg.ScheduleDefinition(
    name="sync_freshness",
    job=sync_freshness_job,
    cron_schedule="15 * * * *",
    execution_timezone="Europe/Budapest",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: warns in the UI when an active company's last good sync is over 26 h old.",
)


@dg.schedule(
    name="nightly_sync",
    job=sync_job,
    cron_schedule="0 2 * * *",
    execution_timezone="Europe/Budapest",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Full sync of every active company at 02:00 Budapest time (AUTOMATIC).",
)
def nightly_sync(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    keys = active_company_keys(warehouse.get())
    if not keys:
        return dg.SkipReason("no active company settings")
    register_companies(context.instance, keys)
    stamp = (
        context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
        if context.scheduled_execution_time
        else "now"
    )
    return [
        dg.RunRequest(
            run_key=f"{stamp}:{key}", partition_key=key, tags={SYNC_TYPE_TAG: log.AUTOMATIC}
        )
        for key in keys
    ]
