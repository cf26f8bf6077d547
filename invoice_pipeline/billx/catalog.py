"""BillX customers and products -> ``partners`` and ``products``.

Both lists are small, so they are fetched in full on every sync (after the invoices, by
``BillxClient.sync_pages``) and upserted here by content hash, in one transaction. They add
API calls to the sync log but no invoice counts; a rejected entry is a sync-log error.
"""

from __future__ import annotations

from typing import Any

import duckdb

from invoice_pipeline.billx.client import BillxClient
from invoice_pipeline.billx.mapping import (
    CUSTOMER_STRUCTURE,
    PARTNER_COLUMNS,
    PRODUCT_COLUMNS,
    PRODUCT_STRUCTURE,
)
from invoice_pipeline.sync.catalog import CatalogTable, upsert_catalog

PARTNERS = CatalogTable("partners", "partner_id", CUSTOMER_STRUCTURE, PARTNER_COLUMNS)
PRODUCTS = CatalogTable("products", "product_id", PRODUCT_STRUCTURE, PRODUCT_COLUMNS)


def store(con: duckdb.DuckDBPyConnection, client: Any, company_id: int) -> dict[str, int]:
    """Upsert the catalog the client fetched in this sync (nothing if it did not get there);
    returns created/updated counts per table."""
    catalog = client.catalog if isinstance(client, BillxClient) else None
    if catalog is None:
        return {}
    counts: dict[str, int] = {}
    for target, pages in ((PARTNERS, catalog.customers), (PRODUCTS, catalog.products)):
        created, updated = upsert_catalog(con, target, "billx", company_id, pages)
        counts[f"{target.table}_created"] = created
        counts[f"{target.table}_updated"] = updated
    return counts
