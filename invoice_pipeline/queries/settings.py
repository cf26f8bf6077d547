"""The settings list: whether a key is stored (``has_api_key``), never the key itself."""

from __future__ import annotations

from pathlib import Path

from invoice_pipeline.queries import arguments, formatting
from invoice_pipeline.queries.models import SettingsEntry
from invoice_pipeline.queries.reader import snapshot_cursor

# The id is the settings row's position in creation order: rows are never deleted, so it
# is stable, and it needs no column of its own.
_QUERY = """
    SELECT * FROM (
        SELECT row_number() OVER (ORDER BY created_at, company_id, source) AS id,
               source, company_id, company_name, has_api_key, last_sync_time, is_active,
               created_at, updated_at
        FROM company_settings)
    WHERE company_id = ? AND (? IS NULL OR source = ?)
    ORDER BY source
"""


def list_settings(
    company_id: int, *, source: str | None = None, db_path: Path | str | None = None
) -> list[SettingsEntry]:
    """The company's settings per source (empty when not configured)."""
    company = arguments.integer("company_id", company_id)
    arguments.source(source)
    with snapshot_cursor(db_path) as cur:
        rows = cur.execute(_QUERY, [company, source, source]).fetchall()
    return [
        SettingsEntry(
            id=row[0],
            source=row[1],
            company=row[2],
            company_name=row[3],
            has_api_key=row[4],
            last_sync_time=formatting.local(row[5]),
            last_sync_time_formatted=formatting.timestamp_formatted(row[5]),
            is_active=row[6],
            created_at=formatting.local(row[7]),
            updated_at=formatting.local(row[8]),
        )
        for row in rows
    ]
