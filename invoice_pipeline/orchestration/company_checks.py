"""Every per-company asset check as one Dagster step on one warehouse connection.

A step costs Dagster's step overhead and a DuckDB connection (50-70 ms): the six company checks
(``checks.py``, ``quality_checks.py``, ``sync_checks.py``) are one ``multi_asset_check``, whose
check keys, severities, blocking flags, metadata and descriptions are those of six separate
checks. Dagster gates on each blocking spec of the step: after the step has yielded every
result, it fails the step when a blocking check failed with ERROR severity, so ``sync_logs``
does not run and the failure hook closes the run's sync logs as FAILED. A check that raises
is recorded as failed, saying why, with the severity it would have had: a blocking one
blocks, a warning one warns.
``syncs_are_fresh`` is not partitioned (it checks every company) and stays a step of its own.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb

from invoice_pipeline import config
from invoice_pipeline.orchestration.checks import INTEGRITY_CHECKS, company_of
from invoice_pipeline.orchestration.quality_checks import QUALITY_CHECKS
from invoice_pipeline.orchestration.sync_checks import COUNT_CHECKS, syncs_are_fresh
from invoice_pipeline.resources import WarehouseResource

COMPANY_CHECKS = [*INTEGRITY_CHECKS, *QUALITY_CHECKS, *COUNT_CHECKS]


@dg.multi_asset_check(specs=[check.spec() for check in COMPANY_CHECKS], can_subset=True)
def company_checks(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    """Evaluate the selected company checks (all of them in ``sync_job``) on one read
    connection, closed before the results are handed to Dagster."""
    company_id = company_of(context)
    selected = context.selected_asset_check_keys
    results: list[dg.AssetCheckResult] = []
    with warehouse.get().read() as con:
        try:
            con.execute("SET memory_limit = ?", [config.duckdb_check_memory()])
            unset = None
        except duckdb.Error as exc:  # a limit DuckDB cannot even switch to: no check runs
            unset = _reason(exc)
        for check in COMPANY_CHECKS:
            if dg.AssetCheckKey(dg.AssetKey(check.asset), check.name) not in selected:
                continue
            reason = unset
            if reason is None:
                try:
                    results.append(check.evaluate(con, company_id, context.run.run_id))
                    continue
                except Exception as exc:  # the other checks are still evaluated and recorded
                    reason = _reason(exc)
            context.log.error(f"check {check.name} could not be evaluated: {reason}")
            results.append(check.not_evaluated(reason))
    yield from results


def _reason(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


ASSET_CHECKS = [company_checks, syncs_are_fresh]
"""Every asset check of the code location."""
