"""The read snapshot: what analysts, the CLI and the HTTP API read while a sync writes.

DuckDB lets one process write a database file or many read it, never both, so readers do
not open the warehouse itself. After every write that finishes a sync (or changes
settings) the writer publishes a new snapshot file, ``<db>.read.<generation>.duckdb``, and
repoints the symlink ``<db>.read.duckdb`` at it with an atomic rename. Readers resolve the
link and open that generation read-only: they never wait for, block or see a lock error
from a sync, and a published file never changes.

Each (source, company) in a snapshot holds the data of its last successful sync
(COMPLETED or PARTIAL): while a sync of it runs, or after one failed, its rows are carried
over from the previous snapshot, so readers never see a half-written sync. Sync logs and
settings (``has_api_key`` only, never the encrypted key), feature flags and API users are
always current. Rows are
sorted by company, newest first, so a company's page reads only its own row groups.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from invoice_pipeline.warehouse.schema import SNAPSHOT_CURRENT, SNAPSHOT_DATA, VIEWS

_STALE = """
    SELECT source, company_id FROM (
        SELECT source, company_id, status,
               row_number() OVER (PARTITION BY source, company_id ORDER BY id DESC) AS n
        FROM main.sync_logs)
    WHERE n = 1 AND status IN ('RUNNING', 'FAILED')
"""

_AS_OF = """
    SELECT source, company_id, max(completed_at) AS data_as_of
    FROM main.sync_logs WHERE status IN ('COMPLETED', 'PARTIAL')
    GROUP BY ALL
"""


def link_path(db_path: Path) -> Path:
    """The stable name readers open: ``<db stem>.read.duckdb`` beside the warehouse."""
    return db_path.with_name(f"{db_path.stem}.read.duckdb")


def current_file(db_path: Path) -> Path | None:
    """The generation the link points at now, or None before the first publish."""
    link = link_path(db_path)
    try:
        return link.parent / os.readlink(link)
    except FileNotFoundError:
        return None


def publish(con: duckdb.DuckDBPyConnection, db_path: Path) -> Path:
    """Write a new snapshot from the writer connection ``con`` (outside a transaction,
    under the writer lock) and make it current; returns its path."""
    db_path = Path(db_path)
    previous = current_file(db_path)
    target = db_path.with_name(f"{db_path.stem}.read.{uuid.uuid4().hex[:12]}.duckdb")
    home = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    con.execute(f"ATTACH '{target}' AS snap")
    try:
        has_prev = previous is not None and previous.exists()
        if has_prev:
            con.execute(f"ATTACH '{previous}' AS prev (READ_ONLY)")
        con.execute(f"CREATE TEMP TABLE stale AS {_STALE}")
        for table, order in SNAPSHOT_DATA.items():
            carried = (
                f"UNION ALL BY NAME SELECT * FROM prev.{table} "
                "WHERE (source, company_id) IN (SELECT * FROM stale)"
                if has_prev
                else ""
            )
            con.execute(
                f"CREATE TABLE snap.{table} AS SELECT * FROM ("
                f"SELECT * FROM main.{table} "
                f"WHERE (source, company_id) NOT IN (SELECT * FROM stale) {carried}"
                f") ORDER BY {order}"
            )
        carried_as_of = (
            "UNION ALL SELECT * FROM prev.snapshot_companies "
            "WHERE (source, company_id) IN (SELECT * FROM stale)"
            if has_prev
            else ""
        )
        con.execute(
            f"CREATE TABLE snap.snapshot_companies AS SELECT * FROM ({_AS_OF}) "
            f"WHERE (source, company_id) NOT IN (SELECT * FROM stale) {carried_as_of}"
        )
        for table, order in SNAPSHOT_CURRENT.items():
            con.execute(f"CREATE TABLE snap.{table} AS SELECT * FROM main.{table} ORDER BY {order}")
        con.execute(
            "CREATE TABLE snap.company_settings AS SELECT * EXCLUDE (api_key_encrypted), "
            "api_key_encrypted IS NOT NULL AS has_api_key FROM main.company_settings"
        )
        con.execute("CREATE TABLE snap.snapshot_meta AS SELECT now() AS published_at")
        con.execute("USE snap")
        try:
            for statement in VIEWS.values():
                con.execute(statement)
        finally:
            con.execute(f'USE "{home}"')
    finally:
        con.execute("DROP TABLE IF EXISTS temp.stale")
        for alias in ("snap", "prev"):
            if alias in {r[0] for r in con.execute("SHOW DATABASES").fetchall()}:
                con.execute(f"DETACH {alias}")
    _repoint(link_path(db_path), target)
    _remove_old(db_path, keep={target, previous})
    return target


def _repoint(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target.name, tmp)
    os.replace(tmp, link)
    fd = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old(db_path: Path, keep: set[Path | None]) -> None:
    """Delete older generations. Readers that still have one open keep reading it (the
    file lives until they close it); the previous one stays for readers about to open it."""
    for path in db_path.parent.glob(f"{db_path.stem}.read.*.duckdb"):
        if path not in keep:
            path.unlink(missing_ok=True)
