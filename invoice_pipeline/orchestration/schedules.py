"""The sync schedules (nightly full, optional frequent incremental) and the hourly freshness check.

Each sync schedule requests one AUTOMATIC run of ``sync_job`` per company that
``sync/eligibility.py`` allows for it (active settings, feature flag on, the company's switch
for this schedule on), selecting only the allowed sources, with a run key per tick and
company so a tick evaluated twice never starts a company twice. A schedule's Dagster status
is its global switch (UI, or ``dagster schedule start|stop``); the per-company switches are
the ``nightly_sync`` and ``frequent_sync`` settings.
"""

import dagster as dg

from invoice_pipeline.orchestration.jobs import sync_freshness_job, sync_job, sync_selection
from invoice_pipeline.orchestration.sensors import SENSOR_LOCK_TIMEOUT_S
from invoice_pipeline.orchestration.source_assets import sync_run_config
from invoice_pipeline.partitions import SYNC_TYPE_TAG, register_companies
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import eligibility, log
from invoice_pipeline.warehouse import Warehouse

TIMEZONE = "Europe/Budapest"
NIGHTLY_CRON = "0 2 * * *"
# The seed's high-volume limit is 4 syncs a day: through the working day, away from 02:00.
FREQUENT_CRON = "0 8,12,16,20 * * *"


def sync_requests(
    context: dg.ScheduleEvaluationContext,
    warehouse: WarehouseResource,
    schedule: str,
    mode: str,
) -> list[dg.RunRequest] | dg.SkipReason:
    """One run request per company the schedule may sync: its allowed sources in ``mode``."""
    # Schedules are evaluated within a time limit: wait for a writer's batch, not its sync.
    wh = Warehouse(warehouse.db_path, lock_timeout_s=SENSOR_LOCK_TIMEOUT_S)
    targets = eligibility.targets(wh, schedule=schedule)
    if not targets:
        return dg.SkipReason(f"no company has active settings with {schedule} on")
    keys = [str(company) for company in targets]
    register_companies(context.instance, keys)
    when = context.scheduled_execution_time
    stamp = when.strftime("%Y-%m-%dT%H:%M") if when else "now"
    return [
        dg.RunRequest(
            run_key=f"{stamp}:{company}",
            partition_key=str(company),
            asset_selection=sync_selection(sources),
            run_config=sync_run_config(mode, sources),
            tags={SYNC_TYPE_TAG: log.AUTOMATIC},
        )
        for company, sources in targets.items()
    ]


@dg.schedule(
    name=eligibility.NIGHTLY,
    job=sync_job,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Full sync at 02:00 Budapest time (AUTOMATIC) of every company and source with active "
        "settings, its feature flag on and nightly_sync on."
    ),
)
def nightly_sync(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
) -> list[dg.RunRequest] | dg.SkipReason:
    return sync_requests(context, warehouse, eligibility.NIGHTLY, "full")


@dg.schedule(
    name=eligibility.FREQUENT,
    job=sync_job,
    cron_schedule=FREQUENT_CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Optional high-volume sync: incremental, at 08:00, 12:00, 16:00 and 20:00 Budapest "
        "time (AUTOMATIC), of every company and source with active settings, its feature flag "
        "on and frequent_sync on. Stopped until switched on."
    ),
)
def frequent_sync(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
) -> list[dg.RunRequest] | dg.SkipReason:
    return sync_requests(context, warehouse, eligibility.FREQUENT, "incremental")


sync_freshness = dg.ScheduleDefinition(
    name="sync_freshness",
    job=sync_freshness_job,
    cron_schedule="15 * * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: warns in the UI when an active company's last good sync is over 26 h old.",
)
