"""The per-source extraction asset, built once per source from the registry.

Failures are either transient (the API kept failing with 429, 5xx, timeouts, dropped
connections or malformed bodies through all of the HTTP layer's own retries) or
deterministic (a rejected key, a missing subscription, bad settings, a crawl that does not
end, a sync already running). In unattended runs (AUTOMATIC: the nightly schedule) a
transient failure raises a retryable ``dg.Failure`` and the asset's retry policy runs the
extraction again minutes later (exponential backoff, jittered so that the companies of the
nightly run do not retry in step); each attempt has its own sync log row. Everything else
raises ``dg.Failure(allow_retries=False)``: deterministic failures cannot heal, and a
person running a MANUAL sync (CLI, UI) gets the failure at once rather than minutes later.

The asset's run config (``SyncConfig``) picks the mode: ``full`` (the default: every
document, and deletion detection) or ``incremental`` (what changed since the last COMPLETED
sync; ``sync/service.py``). ``sync_run_config`` builds the run config of ``sync_job`` for a
mode, for the CLI and for schedules.
"""

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import dagster as dg

from invoice_pipeline.http import (
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from invoice_pipeline.partitions import OWNER, SYNC_TYPE_TAG, companies
from invoice_pipeline.resources import SourceApiResource, WarehouseResource
from invoice_pipeline.sync import log
from invoice_pipeline.sync.service import Source, extract_company

TRANSIENT_ERRORS = (RateLimitedError, ServerError, TransportError, MalformedResponseError)


class SyncConfig(dg.Config):
    """How the extraction runs: ``full`` lists every document (and detects deletions),
    ``incremental`` asks only for what changed since the last COMPLETED sync (a full sync
    when there is none)."""

    mode: Literal["full", "incremental"] = "full"


def sync_run_config(mode: str, sources: Iterable[str]) -> dict[str, Any]:
    """The run config of ``sync_job`` (or a selection of it) that runs the extraction of
    each of ``sources`` in ``mode`` ('full' or 'incremental')."""
    if mode not in log.MODES:
        raise ValueError(f"unknown sync mode {mode!r}: expected one of {', '.join(log.MODES)}")
    return {"ops": {f"{s}_documents": {"config": {"mode": mode}} for s in sources}}


def extraction_retry_policy(delay_s: float = 30.0, max_retries: int = 3) -> dg.RetryPolicy:
    """Retries of a transiently failed unattended extraction: 30 s, 90 s, 210 s later (± 30 s)."""
    return dg.RetryPolicy(
        max_retries=max_retries,
        delay=delay_s,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def _watching_errors(source: Source, seen: list[Exception]) -> Source:
    """``source`` whose API calls (its pages, and any extras fetched after them) remember the
    error they raised: ``extract_company`` turns every error into a reason string, and the
    type tells transient from deterministic."""

    def watched(walk: Any) -> Any:
        def pages(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from walk(*args, **kwargs)
            except Exception as exc:
                seen.append(exc)
                raise

        return pages

    def store_extras(*args: Any, **kwargs: Any) -> object:
        assert source.store_extras is not None
        try:
            return source.store_extras(*args, **kwargs)
        except Exception as exc:
            seen.append(exc)
            raise

    extras = store_extras if source.store_extras is not None else None
    incremental = source.incremental_pages
    return dataclasses.replace(
        source,
        pages=watched(source.pages),
        store_extras=extras,
        incremental_pages=watched(incremental) if incremental is not None else None,
    )


def sync_type_of(context: dg.AssetExecutionContext) -> str:
    """Runs launched by a schedule are AUTOMATIC; others MANUAL unless tagged otherwise."""
    tags = context.run.tags
    if "dagster/schedule_name" in tags:
        return log.AUTOMATIC
    return tags.get(SYNC_TYPE_TAG, log.MANUAL)


def documents_asset(
    source: Source, retry_policy: dg.RetryPolicy | None = None
) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{source.name}_documents",
        partitions_def=companies,
        retry_policy=retry_policy or extraction_retry_policy(),
        group_name=source.name,
        kinds={"python", "duckdb"},
        owners=[OWNER],
        description=(
            f"Raw {source.display} documents of one company, validated and stored as received "
            "in `raw_documents` with a content hash, batch by batch with their invoices and "
            "lines. Only new and changed documents are written; rejected ones are listed in "
            "the sync log. Run config `mode`: `full` (default; marks documents no longer "
            "listed as deleted) or `incremental` (only what changed since the last COMPLETED "
            "sync)."
        ),
    )
    def _documents(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        warehouse: WarehouseResource,
        source_api: SourceApiResource,
    ) -> dg.MaterializeResult:
        company_id = int(context.partition_key)
        sync_type = sync_type_of(context)
        errors: list[Exception] = []
        try:
            outcome = extract_company(
                warehouse.get(),
                _watching_errors(source, errors),
                company_id,
                run_id=context.run.run_id,
                sync_type=sync_type,
                policy=source_api.policy(),
                mode=config.mode,
            )
        except log.SyncAlreadyRunningError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except Exception as exc:  # before the sync log opened, e.g. the warehouse lock timed out
            if sync_type == log.AUTOMATIC:
                raise  # environmental: the retry policy tries again later
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise dg.Failure(description=reason, allow_retries=False) from exc
        if outcome is None:
            return dg.MaterializeResult(metadata={"configured": dg.MetadataValue.bool(False)})
        if outcome.mode_reason is not None:
            context.log.warning(outcome.mode_reason)
        m = outcome.metrics
        count = dg.MetadataValue.int
        metadata = {
            "configured": dg.MetadataValue.bool(True),
            "mode": dg.MetadataValue.text(outcome.mode),
            "processed": count(m.invoices_processed),
            "created": count(m.invoices_created),
            "updated": count(m.invoices_updated),
            "skipped": count(m.invoices_skipped),
            "deleted": count(m.invoices_deleted),
            "rejected": count(len(m.errors)),
            "api_calls": count(m.api_calls_made),
            "duration_s": dg.MetadataValue.float(round(outcome.seconds, 3)),
            "sync_log_id": count(outcome.log_id),
        }
        if outcome.failure is not None:
            transient = any(isinstance(e, TRANSIENT_ERRORS) for e in errors)
            retry = transient and sync_type == log.AUTOMATIC
            raise dg.Failure(description=outcome.failure, metadata=metadata, allow_retries=retry)
        return dg.MaterializeResult(metadata=metadata)

    return _documents
