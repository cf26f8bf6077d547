"""The sync job (one company per run) and the freshness check job; the schedules that run
them are in ``schedules.py``."""

from collections.abc import Iterable

import dagster as dg

from invoice_pipeline.orchestration.sensors import close_sync_logs_on_failure
from invoice_pipeline.orchestration.sync_checks import syncs_are_fresh

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

WAREHOUSE_ASSETS = ("invoices", "invoice_items", "sync_logs")


def sync_selection(sources: Iterable[str]) -> list[dg.AssetKey]:
    """The assets of a ``sync_job`` run that syncs only ``sources`` (their checks follow)."""
    names = [f"{source}_documents" for source in sources] + list(WAREHOUSE_ASSETS)
    return [dg.AssetKey(name) for name in names]
