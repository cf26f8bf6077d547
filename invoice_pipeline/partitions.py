"""Companies as Dagster partitions: one per company with settings, added without code changes."""

from __future__ import annotations

import dagster as dg

from invoice_pipeline import settings_store
from invoice_pipeline.warehouse import Warehouse

companies = dg.DynamicPartitionsDefinition(name="companies")

SYNC_TYPE_TAG = "invoice_pipeline/sync_type"
OWNER = "team:data-engineering"


def active_company_keys(wh: Warehouse) -> list[str]:
    """Companies with at least one active source setting, as partition keys."""
    ids = {s.company_id for s in settings_store.list_settings(wh) if s.is_active}
    return [str(i) for i in sorted(ids)]


def register_companies(instance: dg.DagsterInstance, keys: list[str]) -> None:
    existing = set(instance.get_dynamic_partitions(companies.name))
    missing = [k for k in keys if k not in existing]
    if missing:
        instance.add_dynamic_partitions(companies.name, missing)
