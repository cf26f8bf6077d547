"""Connections to the DuckDB warehouse, with one writer at a time across processes.

DuckDB allows one read-write process or many read-only ones. Every write goes through
``Warehouse.write()``, which holds an exclusive ``flock`` on ``<db>.lock`` for the length of
one transaction, so concurrent syncs (threads or processes) queue instead of failing on
DuckDB's own file lock. Readers take a shared lock for the length of a read.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from invoice_pipeline.warehouse import snapshot
from invoice_pipeline.warehouse.schema import ensure_schema


class WarehouseBusyError(RuntimeError):
    """The warehouse lock could not be taken in time."""


# Committed data waits in memory until a checkpoint: large enough to checkpoint every few
# batches rather than every one, small enough that memory stays flat as accounts grow.
CHECKPOINT_THRESHOLD = "128MB"


def _duckdb_config() -> dict[str, str]:
    """Bounded memory (the buffer pool otherwise grows to most of RAM) and spill space."""
    return {
        "memory_limit": os.environ.get("INVOICE_PIPELINE_DUCKDB_MEMORY", "256MB"),
        "preserve_insertion_order": "false",
    }


class WriteSession:
    """One writer connection; each ``transaction()`` commits or rolls back on its own."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The session's connection, for work outside a transaction (ATTACH, publishing)."""
        return self._con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")


class Warehouse:
    def __init__(self, path: Path | str, lock_timeout_s: float = 3600.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._schema_ready = False

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseBusyError(
                            f"the warehouse {self.path} stayed locked by another writer "
                            f"for {self.lock_timeout_s:.0f} s"
                        ) from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path), read_only=read_only, config=_duckdb_config())
        con.execute("SET TimeZone = 'UTC'")
        return con

    @contextmanager
    def write(self, publish: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction under the exclusive lock: committed on success, else rolled back.

        ``publish`` makes a new read snapshot after the commit (still under the lock), for
        writes that finish a sync or change what readers see of settings.
        """
        with self.session() as session:
            with session.transaction() as con:
                yield con
            if publish:
                snapshot.publish(con, self.path)

    def publish(self) -> Path:
        """Publish a read snapshot of the warehouse as it is now."""
        with self.session() as session:
            return snapshot.publish(session.connection, self.path)

    @contextmanager
    def session(self) -> Iterator[WriteSession]:
        """Hold the writer lock and one connection for a series of transactions.

        Opening and closing the file per transaction makes DuckDB checkpoint every time
        (a second or more per batch of 10,000 documents); a session checkpoints every
        ``CHECKPOINT_THRESHOLD`` of changes and when it ends.
        """
        with self._locked(fcntl.LOCK_EX):
            con = self._connect(read_only=False)
            try:
                if not self._schema_ready:
                    ensure_schema(con)
                    self._schema_ready = True
                con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
                yield WriteSession(con)
            finally:
                con.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection under the shared lock (writers wait until it closes)."""
        if not self.path.exists():
            with self.write():
                pass
        with self._locked(fcntl.LOCK_SH):
            con = self._connect(read_only=True)
            try:
                yield con
            finally:
                con.close()
