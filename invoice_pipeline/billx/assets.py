"""BillX's Dagster asset: raw invoice details per company partition."""

from invoice_pipeline.orchestration.source_assets import documents_asset
from invoice_pipeline.sync.service import SOURCES

billx_documents = documents_asset(SOURCES["billx"])
