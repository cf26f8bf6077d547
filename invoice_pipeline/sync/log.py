"""The sync log: one row per company, source and sync, RUNNING until it ends."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from invoice_pipeline.warehouse import Warehouse

MANUAL, AUTOMATIC = "MANUAL", "AUTOMATIC"
RUNNING, COMPLETED, PARTIAL, FAILED = "RUNNING", "COMPLETED", "PARTIAL", "FAILED"
FULL, INCREMENTAL = "full", "incremental"  # sync_logs.mode
MODES = (FULL, INCREMENTAL)


@dataclass
class SyncMetrics:
    invoices_processed: int = 0
    invoices_created: int = 0
    invoices_updated: int = 0
    invoices_skipped: int = 0
    items_extracted: int = 0
    api_calls_made: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    invoices_deleted: int = 0  # stored documents a complete full sync no longer saw


class SyncAlreadyRunningError(RuntimeError):
    """Another live process is syncing the same company and source."""


_HOST = socket.gethostname()
_ACTIVE: set[int] = set()  # sync log ids RUNNING in this process


def _alive(host: str | None, pid: int | None, log_id: int) -> bool:
    if host != _HOST or pid is None:
        return False
    if pid == os.getpid():
        return log_id in _ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(
    wh: Warehouse,
    *,
    company_id: int,
    source: str,
    sync_type: str,
    run_id: str | None,
    mode: str = FULL,
    mode_reason: str | None = None,
) -> int:
    """Open a RUNNING sync log, after closing as FAILED any earlier one whose process is gone.

    ``mode`` is what this sync does ('full' or 'incremental'); ``mode_reason`` says why it
    differs from what was asked (an incremental sync with nothing to continue from).
    Refuses when a live process is already syncing this company and source. The check and
    the insert share one write transaction, so two syncs starting together cannot both pass.
    """
    with wh.write() as con:
        running = con.execute(
            "SELECT id, host, pid, run_id FROM sync_logs "
            "WHERE company_id = ? AND source = ? AND status = 'RUNNING'",
            [company_id, source],
        ).fetchall()
        for log_id, host, pid, other_run in running:
            if _alive(host, pid, log_id):
                raise SyncAlreadyRunningError(
                    f"a {source} sync of company {company_id} is already running "
                    f"(run {other_run}, pid {pid}); try again when it has finished"
                )
            finish(con, log_id, failure="the sync was interrupted: its process ended")
        row = con.execute(
            """
            INSERT INTO sync_logs (id, company_id, source, sync_type, mode, mode_reason,
                                   status, started_at, run_id, host, pid)
            VALUES (nextval('sync_log_ids'), ?, ?, ?, ?, ?, 'RUNNING', now(), ?, ?, ?)
            RETURNING id
            """,
            [company_id, source, sync_type, mode, mode_reason, run_id, _HOST, os.getpid()],
        ).fetchone()
    assert row is not None
    _ACTIVE.add(int(row[0]))
    return int(row[0])


def record(con: duckdb.DuckDBPyConnection, log_id: int, metrics: SyncMetrics) -> None:
    """Store the metrics so far (the row stays RUNNING)."""
    con.execute(
        """
        UPDATE sync_logs SET invoices_processed = ?, invoices_created = ?, invoices_updated = ?,
            invoices_skipped = ?, items_extracted = ?, api_calls_made = ?, errors = ?,
            invoices_deleted = ?
        WHERE id = ?
        """,
        [
            metrics.invoices_processed,
            metrics.invoices_created,
            metrics.invoices_updated,
            metrics.invoices_skipped,
            metrics.items_extracted,
            metrics.api_calls_made,
            json.dumps(metrics.errors, ensure_ascii=False),
            metrics.invoices_deleted,
            log_id,
        ],
    )


def record_changes_since(con: duckdb.DuckDBPyConnection, log_id: int, since: datetime) -> None:
    """Store from when (UTC, the source's clock) an incremental sync asked for changes."""
    con.execute("UPDATE sync_logs SET changes_since = ? WHERE id = ?", [since, log_id])


def last_completed_start(
    con: duckdb.DuckDBPyConnection, company_id: int, source: str
) -> datetime | None:
    """When the last COMPLETED sync (full or incremental) of the company and source started:
    everything the source held then is in the warehouse, so an incremental sync continues
    from there. None when no sync ever completed (PARTIAL and FAILED ones do not count)."""
    rows = con.execute(
        "SELECT started_at FROM sync_logs WHERE company_id = ? AND source = ? "
        "AND status = 'COMPLETED' ORDER BY id DESC LIMIT 1",
        [company_id, source],
    ).fetchall()
    return rows[0][0] if rows else None


def finish(con: duckdb.DuckDBPyConnection, log_id: int, failure: str | None = None) -> str:
    """Close a RUNNING sync: FAILED with ``failure``, else PARTIAL if any document was
    rejected, else COMPLETED. Returns the final status."""
    _ACTIVE.discard(log_id)
    if failure is not None:
        con.execute(
            """
            UPDATE sync_logs SET status = 'FAILED', completed_at = now(),
                sync_duration_seconds = epoch(now() - started_at),
                errors = to_json(list_append(CAST(errors AS JSON[]), CAST(? AS JSON)))
            WHERE id = ? AND status = 'RUNNING'
            """,
            [json.dumps({"invoice_id": None, "invoice_number": None, "error": failure}), log_id],
        )
    else:
        con.execute(
            """
            UPDATE sync_logs SET
                status = CASE WHEN json_array_length(errors) > 0
                              THEN 'PARTIAL' ELSE 'COMPLETED' END,
                completed_at = now(), sync_duration_seconds = epoch(now() - started_at)
            WHERE id = ? AND status = 'RUNNING'
            """,
            [log_id],
        )
        con.execute(
            """
            UPDATE company_settings SET last_sync_time = l.completed_at
            FROM sync_logs l
            WHERE l.id = ? AND company_settings.company_id = l.company_id
              AND company_settings.source = l.source
            """,
            [log_id],
        )
    row = con.execute("SELECT status FROM sync_logs WHERE id = ?", [log_id]).fetchone()
    assert row is not None
    return str(row[0])


def fail_running(wh: Warehouse, run_id: str, reason: str) -> int:
    """Close every sync log of a Dagster run that is still RUNNING as FAILED with ``reason``
    (the run failed or died before its ``sync_logs`` step) and publish the read snapshot.
    Returns how many were closed (none: nothing is written)."""
    running = "SELECT id FROM sync_logs WHERE run_id = ? AND status = 'RUNNING' ORDER BY id"
    with wh.read() as con:
        if not con.execute(running, [run_id]).fetchall():
            return 0
    with wh.write(publish=True) as con:
        ids = con.execute(running, [run_id]).fetchall()
        for (log_id,) in ids:
            finish(con, log_id, failure=reason)
    return len(ids)


def results_for_run(wh: Warehouse, run_id: str) -> list[dict[str, Any]]:
    """The seed's sync result shape for every company and source of one Dagster run: the
    latest sync log of each (a retried step opens one per attempt)."""
    with wh.read() as con:
        rows = con.execute(
            """
            SELECT company_id, source, status, invoices_processed, invoices_created,
                   invoices_updated, invoices_skipped, items_extracted, api_calls_made,
                   sync_duration_seconds, errors, invoices_deleted, mode, mode_reason
            FROM sync_logs WHERE run_id = ?
            QUALIFY row_number() OVER (PARTITION BY company_id, source ORDER BY id DESC) = 1
            ORDER BY company_id, source
            """,
            [run_id],
        ).fetchall()
    return [
        result(
            company_id=r[0],
            source=r[1],
            status=r[2],
            metrics=SyncMetrics(*r[3:9], errors=json.loads(r[10]), invoices_deleted=r[11]),
            duration_seconds=round(r[9], 3) if r[9] is not None else None,
            sync_mode=r[12],
            mode_reason=r[13],
        )
        for r in rows
    ]


def result(
    *,
    company_id: int,
    source: str,
    status: str,
    metrics: SyncMetrics,
    duration_seconds: float | None,
    sync_mode: str = FULL,
    mode_reason: str | None = None,
) -> dict[str, Any]:
    """The seed's sync result shape (``api_calls``, not the log's ``api_calls_made``), plus
    ``sync_mode`` (what the sync did: 'full' or 'incremental'), ``sync_mode_reason`` (why
    a requested incremental sync ran full, else None) and ``invoices_deleted``."""
    return {
        "company_id": company_id,
        "source": source,
        "status": status,
        "invoices_processed": metrics.invoices_processed,
        "invoices_created": metrics.invoices_created,
        "invoices_updated": metrics.invoices_updated,
        "invoices_skipped": metrics.invoices_skipped,
        "items_extracted": metrics.items_extracted,
        "api_calls": metrics.api_calls_made,
        "duration_seconds": duration_seconds,
        "errors": metrics.errors,
        "sync_mode": sync_mode,
        "sync_mode_reason": mode_reason,
        "invoices_deleted": metrics.invoices_deleted,
    }
