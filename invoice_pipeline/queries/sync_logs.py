"""The sync log list, newest first, with the seed's Hungarian labels and Budapest times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from invoice_pipeline.queries import arguments, formatting, scope
from invoice_pipeline.queries.models import Page, SyncLogEntry
from invoice_pipeline.queries.reader import snapshot_read

SYNC_TYPES = tuple(formatting.SYNC_TYPE_DISPLAY)
STATUSES = tuple(formatting.STATUS_DISPLAY)

_COLUMNS = (
    "id, source, sync_type, mode, status, invoices_processed, invoices_created, "
    "invoices_updated, invoices_skipped, items_extracted, api_calls_made, "
    "sync_duration_seconds, started_at, completed_at, CAST(errors AS VARCHAR)"
)


def list_sync_logs(
    company_id: int,
    *,
    source: str | None = None,
    sync_type: str | None = None,
    status: str | None = None,
    page: int = 1,
    page_size: int = 100,
    db_path: Path | str | None = None,
) -> Page[SyncLogEntry]:
    number, size = arguments.page_args(page, page_size)
    arguments.source(source)
    sync_type = arguments.choice("sync_type", sync_type, SYNC_TYPES)
    status = arguments.choice("status", status, STATUSES)
    condition = (
        "company_id = ? AND (? IS NULL OR source = ?) AND (? IS NULL OR sync_type = ?) "
        "AND (? IS NULL OR status = ?)"
    )
    with snapshot_read(db_path) as (cur, memo):
        company, name = scope.company_name(cur, company_id, memo)
        args = [company, source, source, sync_type, sync_type, status, status]
        total = cur.execute(f"SELECT count(*) FROM sync_logs WHERE {condition}", args).fetchone()
        rows = cur.execute(
            f"SELECT {_COLUMNS} FROM sync_logs WHERE {condition} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*args, size, (number - 1) * size],
        ).fetchall()
        info = scope.snapshot_info(cur, company, source, memo)
    count = total[0] if total else 0
    following, previous = scope.pages(count, number, size)
    return Page[SyncLogEntry](
        count=count,
        next=following,
        previous=previous,
        page=number,
        page_size=size,
        results=[SyncLogEntry(**_entry(row, company, name)) for row in rows],
        snapshot=info,
    )


def _entry(row: tuple[Any, ...], company: int, name: str) -> dict[str, Any]:
    (log_id, source, sync_type, mode, status, processed, created, updated, skipped, items,
     calls, seconds, started, completed, errors) = row  # fmt: skip
    parsed = json.loads(errors) if errors else []
    return {
        "id": log_id,
        "source": source,
        "company": company,
        "company_name": name,
        "sync_type": sync_type,
        "sync_type_display": formatting.SYNC_TYPE_DISPLAY.get(sync_type, sync_type),
        "mode": mode,
        "status": status,
        "status_display": formatting.STATUS_DISPLAY.get(status, status),
        "invoices_processed": processed,
        "invoices_created": created,
        "invoices_updated": updated,
        "invoices_skipped": skipped,
        "items_extracted": items,
        "api_calls_made": calls,
        "sync_duration_seconds": round(seconds, 3) if seconds is not None else None,
        "duration_formatted": formatting.duration_formatted(seconds),
        "started_at": formatting.local(started),
        "started_at_formatted": formatting.timestamp_formatted(started),
        "completed_at": formatting.local(completed),
        "completed_at_formatted": formatting.timestamp_formatted(completed),
        "errors": json.dumps(parsed, ensure_ascii=False) if parsed else "",
        "errors_parsed": parsed,
    }
