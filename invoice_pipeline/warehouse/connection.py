"""Connections to the DuckDB warehouse, with one writer at a time across processes.

DuckDB allows one read-write process or many read-only ones. Every write goes through
``Warehouse.write()``, which holds an exclusive ``flock`` on ``<db>.lock`` for the length of
one transaction, so concurrent syncs (threads or processes) queue instead of failing on
DuckDB's own file lock. Readers take a shared lock for the length of a read. A connection
is the warehouse attached to a cursor on one of the process's in-memory DuckDB instances,
detached when the connection is given back (``instances.py``).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from invoice_pipeline import config
from invoice_pipeline.warehouse import instances, snapshot
from invoice_pipeline.warehouse.schema import ensure_schema


class WarehouseBusyError(RuntimeError):
    """The warehouse lock could not be taken in time."""


# Committed data waits in memory until a checkpoint: large enough to checkpoint every few
# batches rather than every one, small enough that memory stays flat as accounts grow.
CHECKPOINT_THRESHOLD = "128MB"

# Row groups an insert buffers before it writes them to the file (DuckDB's default: 5). One:
# each is compressed and written as soon as it is full, rather than five at a time and at
# the commit. The batch writer alone stored 100,000 documents in 2.27-2.44 s against
# 2.48-2.60 (its commits 0.18 s against 0.82); full syncs 7.45 and 7.76 s against 7.62 and
# 8.06 (medians of five interleaved pairs, twice; faster in 7 of 10).
WRITE_BUFFER_ROW_GROUPS = 1

# How often a write session looks for waiting writers and readers between its transactions.
YIELD_CHECK_S = 0.05

# DuckDB keeps the metadata of each row group a connection wrote (about 1 MB per 8,192
# documents, outside its memory limit) until the warehouse is detached: a session reconnects
# after this many written documents (``WriteSession.wrote``), so a sync's memory does not
# grow with the account. A reconnect costs about 0.1 s (its checkpoint, on the batch
# writer, the slower side of a crawl): every 32,768 documents cost a 100,000-document sync
# 0.12 s (10 pairs). Every 131,072 holds at most 16 MB of such metadata for about 1% of a
# large sync's time.
RECONNECT_DOCUMENTS = 131072

# The name of the warehouse in a writer's in-memory connection.
_ALIAS = "warehouse"


def _duckdb_config(db_path: Path) -> dict[str, str]:
    """Bounded memory (the buffer pool otherwise grows to most of RAM), and spill space
    beside the warehouse: an in-memory database, which the writer's connection is, would
    spill to ``.tmp`` in whatever directory the process runs in."""
    return {
        "memory_limit": config.duckdb_memory(),
        "preserve_insertion_order": "false",
        "temp_directory": f"{db_path}.tmp",
    }


class WriteSession:
    """A writer connection for a series of transactions, each committed on its own.

    The lock is taken and the warehouse attached at the first transaction, and kept while
    nobody else waits. ``yield_to_waiting()`` between transactions hands the file to
    waiting writers or readers (the next transaction takes it back), so a long sync holds
    the warehouse only while it writes and other companies' syncs interleave by batch.

    The session's DuckDB instance lives as long as the session: yielding and reconnecting
    only detach the warehouse, so ``staging_cursor()``'s work in the instance's in-memory
    catalog (a batch staged while the last one is written) goes on through both.
    """

    def __init__(
        self, warehouse: Warehouse, memory_limit: str | None = None, threads: int | None = None
    ) -> None:
        self._wh = warehouse
        self._memory_limit = memory_limit
        self._threads = threads
        self._fd: int | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._attached = False
        self._staging = False  # a staging cursor was handed out
        self._checked_at = 0.0
        self._written = 0  # documents written since the warehouse was attached

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The session's connection, the warehouse attached (and the lock taken) if needed."""
        con = self._instance()
        if not self._attached:
            try:
                if self._fd is None:
                    self._fd = self._wh._acquire(fcntl.LOCK_EX)
                self._wh._attach_writer(con)
            except BaseException:
                self.close()
                raise
            self._attached = True
            self._written = 0
        return con

    def staging_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the session's instance, for work that needs no warehouse and no
        lock: it sees the instance's in-memory catalog (``memory``), which the session's
        connection sees too. The caller closes it."""
        self._staging = True
        return self._instance().cursor()

    def _instance(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            settings: dict[str, str | int] = {
                "checkpoint_threshold": CHECKPOINT_THRESHOLD,
                "write_buffer_row_group_count": WRITE_BUFFER_ROW_GROUPS,
            }
            if self._memory_limit is not None:
                settings["memory_limit"] = self._memory_limit
            if self._threads is not None:
                settings["threads"] = self._threads
            self._con = self._wh._take(**settings)
        return self._con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self.connection
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def yield_to_waiting(self) -> bool:
        """If anyone waits for the warehouse, detach it and let them in; True if so. Looks
        at most every ``YIELD_CHECK_S`` (a look is a file open and a lock attempt: called for
        every page fetched, it cost an unchanged re-sync of 1,000 pages 0.1-0.4 s)."""
        now = time.monotonic()
        if not self._attached or now - self._checked_at < YIELD_CHECK_S:
            return False
        self._checked_at = now
        if not self._wh._others_waiting():
            return False
        self._detach()
        self._unlock()
        deadline = time.monotonic() + self._wh.lock_timeout_s
        while self._wh._others_waiting() and time.monotonic() < deadline:
            time.sleep(0.005)  # waiters stop announcing once they hold the lock: hand it over
        return True

    def wrote(self, documents: int) -> None:
        """Count documents written; after ``RECONNECT_DOCUMENTS`` since the warehouse was
        attached, ``reconnect``."""
        self._written += documents
        if self._written >= RECONNECT_DOCUMENTS:
            self.reconnect()

    def reconnect(self) -> None:
        """Detach the warehouse (checkpointed) but keep the lock: the next transaction
        attaches it again (``RECONNECT_DOCUMENTS``)."""
        self._detach()

    def _detach(self) -> None:
        if self._con is None or not self._attached:
            return
        self._attached = False
        try:
            detach(self._con)
        except BaseException:
            self.close()
            raise

    def _unlock(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def close(self) -> None:
        """Give the connection back (checkpointed, the warehouse detached), release the lock."""
        try:
            if self._con is not None:
                instances.give_back(self._con, staged=self._staging)
        finally:
            self._con = None
            self._attached = False
            self._unlock()


class Warehouse:
    def __init__(self, path: Path | str, lock_timeout_s: float = 3600.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._schema_ready = False

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def _want_path(self) -> Path:
        return self.path.with_name(self.path.name + ".want")

    def _acquire(self, mode: int) -> int:
        """Take the flock (exclusive or shared); while waiting, hold a shared lock on the
        ``.want`` file so the holder can see that someone waits."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        want = os.open(self._want_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(want, fcntl.LOCK_SH)
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseBusyError(
                            f"the warehouse {self.path} stayed locked by another writer "
                            f"for {self.lock_timeout_s:.0f} s"
                        ) from None
                    time.sleep(0.02)
        except BaseException:
            os.close(fd)
            raise
        finally:
            os.close(want)

    def _others_waiting(self) -> bool:
        want = os.open(self._want_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(want, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(want)

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        fd = self._acquire(mode)
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _attach_writer(self, con: duckdb.DuckDBPyConnection) -> None:
        """Attach the warehouse read-write to ``con`` (a session's), its schema ensured."""
        _attach(con, self.path)
        if not self._schema_ready:
            ensure_schema(con)
            self._schema_ready = True

    def _take(self, **settings: str | int) -> duckdb.DuckDBPyConnection:
        """A cursor on an in-memory DuckDB instance of this process (``instances``), in UTC,
        with ``settings`` set."""
        con = instances.take(_duckdb_config(self.path))
        try:
            for name, value in {"TimeZone": "UTC", **settings}.items():
                con.execute(f"SET {name} = ?", [value])
        except BaseException:
            instances.give_back(con)
            raise
        return con

    def _open_reader(self) -> duckdb.DuckDBPyConnection:
        """The warehouse attached read-only to a new cursor (``_take``)."""
        con = self._take()
        try:
            _attach(con, self.path, read_only=True)
        except BaseException:
            instances.give_back(con)
            raise
        return con

    @contextmanager
    def write(
        self, publish: bool = False, memory_limit: str | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction under the exclusive lock: committed on success, else rolled back.

        ``publish`` makes a new read snapshot after the commit (still under the lock), for
        writes that finish a sync or change what readers see of settings. ``memory_limit``
        overrides DuckDB's for the transaction (as for a ``session``).
        """
        with self.session(memory_limit) as session:
            with session.transaction() as con:
                yield con
            if publish:
                _publish(session, self.path)

    def publish(self) -> Path:
        """Publish a read snapshot of the warehouse as it is now."""
        with self.session() as session:
            return _publish(session, self.path)

    @contextmanager
    def session(
        self, memory_limit: str | None = None, threads: int | None = None
    ) -> Iterator[WriteSession]:
        """Hold the writer lock and one connection for a series of transactions.

        Opening and closing the file per transaction makes DuckDB checkpoint every time
        (a second or more per batch of 10,000 documents); a session checkpoints every
        ``CHECKPOINT_THRESHOLD`` of changes, when it yields to a waiting writer, and when
        it ends. ``memory_limit`` and ``threads`` override DuckDB's for the session
        (``config.duckdb_load_memory``).
        """
        session = WriteSession(self, memory_limit, threads)
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection under the shared lock (writers wait until it closes)."""
        if not self.path.exists():
            with self.write():
                pass
        with self._locked(fcntl.LOCK_SH):
            con = self._open_reader()
            try:
                yield con
            finally:
                instances.give_back(con)


def _attach(con: duckdb.DuckDBPyConnection, db_path: Path, read_only: bool = False) -> None:
    """Attach the warehouse to an in-memory connection, as its default database."""
    path = str(db_path).replace("'", "''")
    options = "READ_ONLY" if read_only else f"ROW_GROUP_SIZE {config.ROW_GROUP_SIZE}"
    con.execute(f"ATTACH '{path}' AS {_ALIAS} ({options})")
    con.execute(f"USE {_ALIAS}")


def attach_anew(con: duckdb.DuckDBPyConnection) -> None:
    """Attach ``con``'s warehouse anew, in the same mode, as its default database again.
    DuckDB keeps the metadata of every row group a connection's scans loaded until the
    warehouse is detached, so a series of scans over a large company (the checks' rounds,
    the snapshot's) would hold all of it by the end."""
    row = con.execute(
        "SELECT path, readonly FROM duckdb_databases() WHERE database_name = ?", [_ALIAS]
    ).fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("the connection has no warehouse attached")
    detach(con)
    _attach(con, Path(row[0]), read_only=bool(row[1]))


def detach(con: duckdb.DuckDBPyConnection) -> None:
    """Detach the warehouse from ``con`` (which checkpoints it and closes its file)."""
    con.execute("USE memory")
    con.execute(f"DETACH {_ALIAS}")


def _publish(session: WriteSession, db_path: Path) -> Path:
    """The session's last work: a snapshot (under its own memory limits), copied in rounds
    from a large warehouse (``snapshot_ranges``)."""
    con = session.connection
    return snapshot.publish(con, db_path, reattach=lambda: attach_anew(con))
