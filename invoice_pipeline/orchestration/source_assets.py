"""The per-source extraction asset, built once per source from the registry."""

import dagster as dg

from invoice_pipeline.partitions import OWNER, SYNC_TYPE_TAG, companies
from invoice_pipeline.resources import SourceApiResource, WarehouseResource
from invoice_pipeline.sync import log
from invoice_pipeline.sync.service import Source, extract_company


def sync_type_of(context: dg.AssetExecutionContext) -> str:
    """Runs launched by a schedule are AUTOMATIC; others MANUAL unless tagged otherwise."""
    tags = context.run.tags
    if "dagster/schedule_name" in tags:
        return log.AUTOMATIC
    return tags.get(SYNC_TYPE_TAG, log.MANUAL)


def documents_asset(source: Source) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{source.name}_documents",
        partitions_def=companies,
        group_name=source.name,
        kinds={"python", "duckdb"},
        owners=[OWNER],
        description=(
            f"Raw {source.display} documents of one company, validated and stored as received "
            "in `raw_documents` with a content hash, batch by batch with their invoices and "
            "lines. Only new and changed documents are written; rejected ones are listed in "
            "the sync log."
        ),
    )
    def _documents(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        source_api: SourceApiResource,
    ) -> dg.MaterializeResult:
        company_id = int(context.partition_key)
        try:
            outcome = extract_company(
                warehouse.get(),
                source,
                company_id,
                run_id=context.run.run_id,
                sync_type=sync_type_of(context),
                policy=source_api.policy(),
            )
        except log.SyncAlreadyRunningError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        if outcome is None:
            return dg.MaterializeResult(metadata={"configured": False})
        m = outcome.metrics
        metadata = {
            "configured": True,
            "processed": m.invoices_processed,
            "created": m.invoices_created,
            "updated": m.invoices_updated,
            "skipped": m.invoices_skipped,
            "rejected": len(m.errors),
            "api_calls": m.api_calls_made,
            "duration_s": round(outcome.seconds, 3),
            "sync_log_id": outcome.log_id,
        }
        if outcome.failure is not None:
            raise dg.Failure(description=outcome.failure, metadata=metadata, allow_retries=False)
        return dg.MaterializeResult(metadata=metadata)

    return _documents
