"""The settings list: whether a key is stored (``has_api_key``), never the key itself."""

from __future__ import annotations

from pathlib import Path

from invoice_pipeline.queries import arguments, formatting
from invoice_pipeline.queries.models import SettingsEntry
from invoice_pipeline.queries.reader import snapshot_cursor

# The id is the settings row's position in creation order: rows are never deleted, so it
# is stable, and it needs no column of its own.
# ``*``: a snapshot published before the schedule switches existed (schema v4) lacks them.
_QUERY = """
    SELECT * FROM (
        SELECT row_number() OVER (ORDER BY created_at, company_id, source) AS id, *
        FROM company_settings)
    WHERE company_id = ? AND (? IS NULL OR source = ?)
    ORDER BY source
"""
_SWITCH_DEFAULTS = {"nightly_sync": True, "frequent_sync": False}  # the schema's defaults


def list_settings(
    company_id: int, *, source: str | None = None, db_path: Path | str | None = None
) -> list[SettingsEntry]:
    """The company's settings per source (empty when not configured)."""
    company = arguments.integer("company_id", company_id)
    arguments.source(source)
    with snapshot_cursor(db_path) as cur:
        result = cur.execute(_QUERY, [company, source, source])
        names = [d[0] for d in result.description]
        rows = [{**_SWITCH_DEFAULTS, **dict(zip(names, r, strict=True))} for r in result.fetchall()]
    return [
        SettingsEntry(
            id=row["id"],
            source=row["source"],
            company=row["company_id"],
            company_name=row["company_name"],
            has_api_key=row["has_api_key"],
            last_sync_time=formatting.local(row["last_sync_time"]),
            last_sync_time_formatted=formatting.timestamp_formatted(row["last_sync_time"]),
            is_active=row["is_active"],
            created_at=formatting.local(row["created_at"]),
            updated_at=formatting.local(row["updated_at"]),
            nightly_sync=row["nightly_sync"],
            frequent_sync=row["frequent_sync"],
        )
        for row in rows
    ]
