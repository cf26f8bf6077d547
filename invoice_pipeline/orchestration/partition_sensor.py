"""Companies become partitions of ``companies`` as soon as their settings exist.

The ``company_partitions`` sensor (running by default, so ``make dev`` shows every configured
company within a minute) compares the companies with settings in the read snapshot with the
instance's partitions and adds what is missing through the tick's result, so the UI's tick
history says which companies were added and when. Partitions are never removed: settings
rows are never deleted, and a partition keeps the history of an inactive company.
"""

import dagster as dg

from invoice_pipeline.partitions import companies, configured_company_keys, missing_company_keys
from invoice_pipeline.queries import QueryError
from invoice_pipeline.resources import WarehouseResource

INTERVAL_S = 30


@dg.sensor(
    name="company_partitions",
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Adds a `companies` partition for every company with settings of any source "
        "(read from the published read snapshot; never waits for a sync)."
    ),
)
def company_partitions(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult | dg.SkipReason:
    try:
        keys = configured_company_keys(warehouse.db_path)
    except QueryError as exc:  # no warehouse yet, or its first snapshot is still being written
        return dg.SkipReason(str(exc))
    missing = missing_company_keys(context.instance, keys)
    if not missing:
        return dg.SkipReason(f"all {len(keys)} companies with settings are partitions")
    return dg.SensorResult(dynamic_partitions_requests=[companies.build_add_request(missing)])
