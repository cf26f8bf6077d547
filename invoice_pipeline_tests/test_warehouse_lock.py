"""The single-writer lock: a long write session lets a waiting writer in between batches."""

import threading
import time
from pathlib import Path

import pytest

from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline.warehouse.connection import WriteSession


def test_a_long_session_yields_to_a_waiting_writer_between_transactions(tmp_path: Path) -> None:
    wh = _with_marks(tmp_path)
    with wh.session() as session:
        with session.transaction() as con:
            con.execute("INSERT INTO marks VALUES ('first batch')")
        assert not session.yield_to_waiting()  # nobody waits: keep the file
        _let_in_another_writer(session, wh)
        with session.transaction() as con:
            con.execute("INSERT INTO marks VALUES ('second batch')")
            marks = [r[0] for r in con.execute("SELECT who FROM marks").fetchall()]
    assert marks == ["first batch", "other", "second batch"]


def test_a_writer_spills_beside_the_warehouse_not_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB spills an in-memory database to ``.tmp`` under the working directory, and the
    writer's connection is one (the warehouse is attached to it): it spills to
    ``<warehouse>.tmp`` instead, whichever directory the sync runs from."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    wh = Warehouse(tmp_path / "w.duckdb")
    with wh.session(memory_limit="32MB", threads=1) as session:
        sorted_ = session.connection.execute(
            "SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS m FROM range(1000000) t(i) ORDER BY m)"
        ).fetchone()
        assert sorted_ == (1_000_000,)  # 45 MB of strings sorted under 32 MB: DuckDB spilled
        assert (tmp_path / "w.duckdb.tmp").is_dir()  # removed again when the session closes
        assert list(elsewhere.iterdir()) == []
    assert list(elsewhere.iterdir()) == []


def test_a_staged_table_outlives_a_yield_and_a_reconnect(tmp_path: Path) -> None:
    """Work on a session's staging cursor (a batch staged while another is written) lives
    in the instance's in-memory catalog, which yielding the file to another writer and
    reconnecting leave alone: they only detach the warehouse."""
    wh = _with_marks(tmp_path)
    with wh.session() as session:
        with session.staging_cursor() as staging:
            staging.execute("CREATE TABLE memory.main.staged AS SELECT 'staged' AS who")
        with session.transaction() as con:
            con.execute("INSERT INTO marks VALUES ('first batch')")
        _let_in_another_writer(session, wh)
        session.reconnect()
        with session.transaction() as con:
            con.execute("INSERT INTO marks SELECT who FROM memory.main.staged")
        session.connection.execute("DROP TABLE memory.main.staged")
    with wh.read() as con:
        marks = [r[0] for r in con.execute("SELECT who FROM marks").fetchall()]
    assert marks == ["first batch", "other", "staged"]


def test_a_staged_table_spilled_to_disk_outlives_another_writers_spills(tmp_path: Path) -> None:
    """Every writer spills to ``<warehouse>.tmp``, and a session's instance now lives on
    while another writer has the file. DuckDB 2.0.1 names spill files after their instance
    and removes only its own when it closes (before, two instances in one directory read
    and deleted each other's: ``duckdb>=2.0.1`` in pyproject)."""
    wh = _with_marks(tmp_path)
    spill = "SELECT md5(range::VARCHAR) AS m FROM range(1000000)"  # 45 MB under 16 MB
    with wh.session(memory_limit="16MB", threads=1) as session:
        with session.staging_cursor() as staging:
            staging.execute(f"CREATE TABLE memory.main.staged AS {spill}")

        def other_writer() -> None:
            with (
                wh.session(memory_limit="16MB", threads=1) as other,
                other.staging_cursor() as theirs,
            ):
                theirs.execute(f"CREATE TABLE memory.main.theirs AS {spill}")
                theirs.execute("DROP TABLE memory.main.theirs")

        writer = threading.Thread(target=other_writer)
        writer.start()
        writer.join(timeout=60)
        counted = session.connection.execute(
            "SELECT count(DISTINCT m) FROM memory.main.staged"
        ).fetchone()
        assert counted == (1_000_000,)
        session.connection.execute("DROP TABLE memory.main.staged")


def _with_marks(tmp_path: Path) -> Warehouse:
    """A warehouse with an empty table ``marks`` for writers to sign."""
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    with wh.write() as con:
        con.execute("CREATE TABLE marks (who VARCHAR)")
    return wh


def _let_in_another_writer(session: WriteSession, wh: Warehouse) -> None:
    """Another writer waits for the file and marks ``marks``; ``session`` lets it in."""

    def other_writer() -> None:
        with Warehouse(wh.path).write() as con:
            con.execute("INSERT INTO marks VALUES ('other')")

    waiting = threading.Thread(target=other_writer)
    waiting.start()
    deadline = time.monotonic() + 10
    while not session.yield_to_waiting():
        assert time.monotonic() < deadline, "the waiting writer was never let in"
        time.sleep(0.01)
    waiting.join(timeout=10)
