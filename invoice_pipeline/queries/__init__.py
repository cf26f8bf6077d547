"""The analysts' read side: every reader (Python, CLI, HTTP API) goes through these.

All queries read the published snapshot (``warehouse/snapshot.py``), never the file a sync
writes, and are scoped to one company.
"""

from invoice_pipeline.queries.errors import NotFoundError, QueryError
from invoice_pipeline.queries.invoices import get_invoice, list_invoices
from invoice_pipeline.queries.models import (
    InvoiceDetail,
    InvoiceLine,
    InvoiceSummary,
    Page,
    SettingsEntry,
    Snapshot,
    SyncLogEntry,
)
from invoice_pipeline.queries.settings import list_settings
from invoice_pipeline.queries.sync_logs import list_sync_logs

__all__ = [
    "InvoiceDetail",
    "InvoiceLine",
    "InvoiceSummary",
    "NotFoundError",
    "Page",
    "QueryError",
    "SettingsEntry",
    "Snapshot",
    "SyncLogEntry",
    "get_invoice",
    "list_invoices",
    "list_settings",
    "list_sync_logs",
]
