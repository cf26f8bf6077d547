"""Failed sync runs: their RUNNING sync logs become FAILED with the reason, and an alert goes out.

Two places record a failure. ``close_sync_logs_on_failure`` is a failure hook on ``sync_job``:
it runs in the run's own process as soon as a step fails for good (a blocking check, the
normalization step), so in-process runs of the CLI never leave a sync RUNNING either. The
``sync_failure_alerts`` run failure sensor (daemon) covers every run of the code location,
including runs whose process died and ad-hoc materializations without the hook: it closes
what is still RUNNING, then writes one ``ALERT sync failed: ...`` line per failed company
and source to the Dagster log and hands each alert to the notifier.
"""

from typing import Protocol

import dagster as dg

from invoice_pipeline.orchestration.company_checks import ASSET_CHECKS
from invoice_pipeline.orchestration.notify import Alert, Notifier, one_line
from invoice_pipeline.resources import WarehouseResource
from invoice_pipeline.sync import log
from invoice_pipeline.warehouse import Warehouse

PARTITION_TAG = "dagster/partition"
# A sync holds the warehouse lock for minutes: the sensor gives up well inside its evaluation
# timeout, and the next tick handles the run again (its cursor only moves on success).
SENSOR_LOCK_TIMEOUT_S = 40.0
# Steps whose failure does not keep sync_logs from running (it closes the logs itself): the
# check steps without a blocking check (``syncs_are_fresh``; ``company_checks`` gates).
_NOT_GATING = {
    c.node_def.name for c in ASSET_CHECKS if not any(spec.blocking for spec in c.check_specs)
}
_STEP_ERROR = "DagsterExecutionStepExecutionError"  # Dagster's wrapper around a user error


class _ErrorInfo(Protocol):  # the fields used of Dagster's SerializableErrorInfo
    message: str
    cls_name: str | None
    cause: "_ErrorInfo | None"


def _error_text(error: _ErrorInfo) -> str:
    """The user's error rather than Dagster's wrapper, without the exception's module path."""
    if error.cls_name == _STEP_ERROR and error.cause is not None:
        error = error.cause
    head, sep, rest = error.message.partition(": ")
    return rest if sep and " " not in head else error.message


def run_failure_reason(context: dg.RunFailureSensorContext) -> str:
    """One line: the first failed step and why, else the run's own failure message."""
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            text = data.user_failure_data.description
        elif data.error is not None:
            text = _error_text(data.error)
        else:
            continue
        return one_line(f"step {event.step_key} failed: {one_line(text)}")
    return one_line(context.failure_event.message)


def alerts_for_run(wh: Warehouse, run: dg.DagsterRun, reason: str) -> list[Alert]:
    """One alert per FAILED company and source of the run (with the sync log's own reason),
    or one for the run when it failed before any sync log said why."""
    results = log.results_for_run(wh, run.run_id)
    failed = [r for r in results if r["status"] == log.FAILED]
    if failed:
        return [
            Alert(
                company_id=str(r["company_id"]),
                source=r["source"],
                run_id=run.run_id,
                reason=one_line(r["errors"][-1]["error"] if r["errors"] else reason),
            )
            for r in failed
        ]
    sources = ",".join(sorted({r["source"] for r in results})) or "-"
    company = run.tags.get(PARTITION_TAG, "-")
    return [Alert(company_id=company, source=sources, run_id=run.run_id, reason=reason)]


@dg.run_failure_sensor(
    name="sync_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Closes the sync logs a failed run left RUNNING as FAILED with the run's failure "
        "reason, logs one ALERT line per failed company and source, and notifies."
    ),
)
def sync_failure_alerts(
    context: dg.RunFailureSensorContext,
    warehouse: WarehouseResource,
    notifier: dg.ResourceParam[Notifier],
) -> None:
    run = context.dagster_run
    reason = run_failure_reason(context)
    wh = Warehouse(warehouse.db_path, lock_timeout_s=SENSOR_LOCK_TIMEOUT_S)
    closed = log.fail_running(wh, run.run_id, reason)
    if closed:
        context.log.info(f"closed {closed} RUNNING sync log(s) of run {run.run_id} as FAILED")
    for alert in alerts_for_run(wh, run, reason):
        context.log.error(alert.line)
        notifier.notify(alert)


@dg.failure_hook(required_resource_keys={"warehouse"})
def close_sync_logs_on_failure(context: dg.HookContext) -> None:
    """A step failed for good: this run's sync logs can no longer be closed by ``sync_logs``."""
    if context.op.name in _NOT_GATING:
        return
    error = context.op_exception
    text = str(error) if error is not None else "no error recorded"
    reason = one_line(f"step {context.step_key} failed: {one_line(text)}")
    closed = log.fail_running(context.resources.warehouse.get(), context.run_id, reason)
    if closed:
        context.log.warning(f"closed {closed} RUNNING sync log(s) as FAILED: {reason}")
