"""The sync job and its schedule."""

import dagster as dg

from invoice_pipeline.partitions import (
    SYNC_TYPE_TAG,
    active_company_keys,
    register_companies,
)
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import log

# One process per run: the steps of a company's sync share the process that owns its sync logs.
sync_job = dg.define_asset_job(
    "sync_job",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Full sync of one company (partition): every configured source, then the sync log.",
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
