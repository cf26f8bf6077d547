"""Billingo's Dagster asset: raw documents per company partition."""

from invoice_pipeline.orchestration.source_assets import documents_asset
from invoice_pipeline.sync.service import SOURCES

billingo_documents = documents_asset(SOURCES["billingo"])
