"""Cursors on the current read snapshot, one cached database per process.

Opening a DuckDB file costs milliseconds, so each process keeps the current snapshot open
and hands out cursors (cheap, one per query, safe across threads). When the writer
publishes a new generation, the next query opens that one; queries already running finish
on the generation they started with.

A published file never changes, so what a query learns about it once (a company's name,
when it was published) can be kept with the open generation: ``snapshot_read`` hands out
that generation's memo with the cursor, and it is dropped with the generation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from invoice_pipeline import config
from invoice_pipeline.queries.errors import QueryError
from invoice_pipeline.warehouse import Warehouse, WarehouseBusyError, snapshot

_lock = threading.Lock()
_open: dict[Path, tuple[Path, duckdb.DuckDBPyConnection, dict[Any, Any]]] = {}


def _first_publish(db_path: Path) -> Path:
    if not db_path.exists():
        raise QueryError(
            f"there is no warehouse at {db_path} yet: configure a company with "
            "`invoice-pipeline settings set` and run a sync"
        )
    try:
        return Warehouse(db_path, lock_timeout_s=5).publish()
    except WarehouseBusyError:
        raise QueryError(
            "nothing is published for reading yet and the first sync is still writing: "
            "try again when it ends"
        ) from None


def _connection(db_path: Path) -> tuple[duckdb.DuckDBPyConnection, dict[Any, Any]]:
    for _ in range(5):
        target = snapshot.current_file(db_path) or _first_publish(db_path)
        with _lock:
            cached = _open.get(db_path)
            if cached is not None and cached[0] == target:
                return cached[1], cached[2]
            try:
                con = duckdb.connect(str(target), read_only=True)
            except duckdb.IOException:
                continue  # superseded and removed between resolving and opening: re-resolve
            con.execute("SET TimeZone = 'UTC'")
            memo: dict[Any, Any] = {}
            _open[db_path] = (target, con, memo)
            return con, memo
    raise QueryError("the read snapshot kept changing while opening it: try again")


@contextmanager
def snapshot_read(
    db_path: Path | str | None = None,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[Any, Any]]]:
    """A cursor on the current snapshot of the warehouse at ``db_path`` (default: config),
    and the memo of that snapshot generation (facts about the file, never per query)."""
    path = Path(db_path) if db_path is not None else config.db_path()
    con, memo = _connection(path.absolute())
    cursor = con.cursor()
    try:
        yield cursor, memo
    finally:
        cursor.close()


@contextmanager
def snapshot_cursor(db_path: Path | str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the current snapshot of the warehouse at ``db_path`` (default: config)."""
    with snapshot_read(db_path) as (cursor, _memo):
        yield cursor
