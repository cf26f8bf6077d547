"""Companies as Dagster partitions: one per company with settings, added without code changes.

The ``company_partitions`` sensor (``orchestration/partition_sensor.py``) adds a partition
for every company whose settings exist, active or not; the schedules and ``invoice-pipeline
sync`` also add the companies they are about to sync, so no run waits for the sensor.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from invoice_pipeline.queries.reader import snapshot_cursor

companies = dg.DynamicPartitionsDefinition(name="companies")

SYNC_TYPE_TAG = "invoice_pipeline/sync_type"
OWNER = "team:data-engineering"


def configured_company_keys(db_path: Path | str) -> list[str]:
    """Every company with settings of any source, as partition keys, from the read snapshot
    (published after every settings change; reading it never makes a running sync wait)."""
    with snapshot_cursor(db_path) as cur:
        rows = cur.execute(
            "SELECT DISTINCT company_id FROM company_settings ORDER BY company_id"
        ).fetchall()
    return [str(r[0]) for r in rows]


def missing_company_keys(instance: dg.DagsterInstance, keys: Iterable[str]) -> list[str]:
    existing = set(instance.get_dynamic_partitions(companies.name))
    return [k for k in keys if k not in existing]


def register_companies(instance: dg.DagsterInstance, keys: Iterable[str]) -> None:
    missing = missing_company_keys(instance, keys)
    if missing:
        instance.add_dynamic_partitions(companies.name, missing)
