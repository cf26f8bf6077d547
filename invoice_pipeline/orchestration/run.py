"""Running the sync job in process, as the CLI (and later the HTTP API) does."""

import os
from typing import Any

import dagster as dg

from invoice_pipeline.orchestration.run_logger import LOGGER_KEY
from invoice_pipeline.partitions import SYNC_TYPE_TAG, register_companies
from invoice_pipeline.sync import eligibility, log
from invoice_pipeline.sync.eligibility import NothingToSyncError
from invoice_pipeline.sync.service import SOURCES
from invoice_pipeline.warehouse import Warehouse


def _instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs show in the UI), else ephemeral."""
    return (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )


def sync_targets(wh: Warehouse, company_id: int | None, source: str | None) -> dict[int, list[str]]:
    """Company -> the sources a manual sync may touch (``sync/eligibility.py``): active
    settings whose feature flag is on. Refuses, saying why, when nothing matches."""
    verdicts = eligibility.verdicts(wh, company_id=company_id, source=source)
    targets = eligibility.allowed(verdicts)
    if targets:
        return targets
    refused = [v for v in verdicts if v.settings.is_active]  # active, but not allowed
    if refused:
        reasons = "; ".join(f"company {v.settings.company_id}: {v.refusal}" for v in refused)
        raise NothingToSyncError(f"nothing may be synced: {reasons}")
    which = f"company {company_id}" if company_id is not None else "any company"
    what = f"{source} " if source else ""
    raise NothingToSyncError(f"{which} has no active {what}settings to sync")


def run_sync(
    wh: Warehouse,
    *,
    company_id: int | None = None,
    source: str | None = None,
    sync_type: str = log.MANUAL,
    mode: str = log.FULL,
) -> list[dict[str, Any]]:
    """Run ``sync_job`` once per company (its sources only), each extraction in ``mode``
    ('full' or 'incremental'); returns the seed's result shape per company and source."""
    from invoice_pipeline.definitions import defs  # imported late: reads the environment
    from invoice_pipeline.orchestration.jobs import sync_selection
    from invoice_pipeline.orchestration.source_assets import sync_run_config

    if mode not in log.MODES:
        raise ValueError(f"unknown sync mode {mode!r}: expected one of {', '.join(log.MODES)}")
    targets = sync_targets(wh, company_id, source)
    instance = _instance()
    register_companies(instance, [str(c) for c in targets])
    job = defs.resolve_job_def("sync_job")
    results: list[dict[str, Any]] = []
    for company, sources in sorted(targets.items()):
        synced = [s for s in sources if s in SOURCES]
        outcome = job.execute_in_process(
            partition_key=str(company),
            instance=instance,
            tags={SYNC_TYPE_TAG: sync_type},
            asset_selection=sync_selection(synced),
            raise_on_error=False,
            run_config={
                "loggers": {LOGGER_KEY: {"config": {"log_level": "WARNING"}}},
                **sync_run_config(mode, synced),
            },
        )
        found = log.results_for_run(wh, outcome.run_id)
        if not found and not outcome.success:  # refused or broken before any sync log opened
            found = [_refused(company, s, _failure_message(outcome), mode) for s in sources]
        elif not outcome.success:  # a step after the syncs failed (the read snapshot's publish)
            _add_run_failure(found, _failure_message(outcome))
        results.extend(found)
    return results


def _failure_message(outcome: dg.ExecuteInProcessResult) -> str:
    for event in outcome.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            error = data.error
            while error is not None and error.cause is not None:  # the error the step raised
                error = error.cause
            if error is not None:
                return error.message.strip().splitlines()[0]
    return "the sync run failed before it started"


def _add_run_failure(results: list[dict[str, Any]], message: str) -> None:
    """The syncs keep the status their logs closed with; each that did not fail says that
    the run failed after it (its data is stored, readers see it after the next publish)."""
    for r in results:
        if r["status"] != log.FAILED:
            r["errors"].append(
                {"invoice_id": None, "invoice_number": None,
                 "error": f"the run failed after the sync: {message}"}
            )  # fmt: skip


def _refused(company_id: int, source: str, message: str, mode: str) -> dict[str, Any]:
    error = {"invoice_id": None, "invoice_number": None, "error": message}
    return log.result(
        company_id=company_id,
        source=source,
        status=log.FAILED,
        metrics=log.SyncMetrics(errors=[error]),
        duration_seconds=0.0,
        sync_mode=mode,
    )
