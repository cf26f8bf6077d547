"""Idle DuckDB instances (``warehouse/instances.py``): reused, and clean when reused."""

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse, instances
from invoice_pipeline.warehouse.connection import _duckdb_config
from invoice_pipeline_tests.helpers import configure, scalar
from invoice_pipeline_tests.test_dagster_checks import run_job


def _settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())


def _idle(wh: Warehouse) -> list[duckdb.DuckDBPyConnection]:
    config = _duckdb_config(wh.path)
    return [instance.con for instance in instances._idle if instance.config == config]


def _assert_clean(wh: Warehouse) -> None:
    """Every idle instance of ``wh`` is as a new one with its config would be."""
    fresh = duckdb.connect(":memory:", config=_duckdb_config(wh.path))
    try:
        for instance in _idle(wh):
            assert _settings(instance) == _settings(fresh)
            assert instance.execute("SELECT database_name FROM duckdb_databases()").fetchall() == (
                fresh.execute("SELECT database_name FROM duckdb_databases()").fetchall()
            )
            assert instance.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
    finally:
        fresh.close()


def test_a_given_back_writer_is_checkpointed_closed_and_its_instance_reused(
    wh: Warehouse, tmp_path: Path
) -> None:
    with wh.session(threads=1) as session:
        with session.transaction() as con:
            con.execute("CREATE TABLE t AS SELECT range AS x FROM range(1000)")
            con.execute("CREATE TEMP TABLE scratch_rows AS SELECT 1 AS y")
            con.execute("SET checkpoint_threshold = '1GB'")
            con.execute("SET GLOBAL preserve_insertion_order = true")
        session.connection.execute(f"ATTACH '{tmp_path / 'other.duckdb'}' AS other")
    assert not wh.path.with_name(wh.path.name + ".wal").exists()
    [instance] = _idle(wh)
    _assert_clean(wh)

    # another process opens the file read-write while this one keeps the idle instance
    probe = "import duckdb, sys; print(duckdb.connect(sys.argv[1]).sql('FROM t').fetchall()[-1])"
    out = subprocess.run(
        [sys.executable, "-c", probe, str(wh.path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "(999,)"

    with wh.read() as con:  # the idle instance, not a new one
        assert _idle(wh) == []
        assert con.execute("SELECT count(*) FROM t").fetchone() == (1000,)
        temporary = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary")
        assert temporary.fetchone() == (0,)
    assert _idle(wh) == [instance]


def test_instances_are_clean_after_a_whole_sync(
    wh: Warehouse, emulator: BillingoEmulator, api_key: str, dagster_instance: dg.DagsterInstance
) -> None:
    """The sync job sets memory limits, threads and the checkpoint threshold, publishes a
    snapshot (attaching three more databases) and runs the checks: none of it stays."""
    configure(wh, emulator, api_key, docs=250)
    run = run_job(wh, dagster_instance)
    assert run.success
    assert scalar(wh, "SELECT count(*) FROM invoices") == 250
    assert _idle(wh)
    _assert_clean(wh)


_FORKING = """
import os, sys
from invoice_pipeline.warehouse import Warehouse
wh = Warehouse(sys.argv[1])
with wh.write() as con:
    con.execute("CREATE TABLE t AS SELECT range AS x FROM range(7)")
with wh.read() as held:  # an idle instance, and a connection open at the fork
    pid = os.fork()
    if pid == 0:  # the child reads on its own instance and exits normally (finalization)
        with Warehouse(sys.argv[1]).read() as con:
            print("child", con.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    print("child exit", os.waitstatus_to_exitcode(status))
    print("parent", held.execute("SELECT count(*) FROM t").fetchone()[0])
"""


def test_a_forked_child_opens_its_own_instances_and_exits_cleanly(tmp_path: Path) -> None:
    """The child inherits the parent's idle instance and a connection open at the fork: it
    uses neither and leaves them alone when it exits (closing one there aborts it)."""
    out = subprocess.run(
        [sys.executable, "-c", _FORKING, str(tmp_path / "forked.duckdb")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["child 7", "child exit 0", "parent 7"], out.stderr


def test_a_use_with_a_memory_limit_of_its_own_closes_its_instance(wh: Warehouse) -> None:
    """Loading, the checks and publishing set their own limits, and DuckDB's allocator
    keeps what they freed while the instance lives: theirs are closed, not kept. Even a
    limit too low for any query to run is no problem."""
    with wh.write() as con:
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(100000)")
    [instance] = _idle(wh)
    with wh.read() as con:
        con.execute("SET memory_limit = '4KB'")
        with pytest.raises(duckdb.OutOfMemoryException):
            con.execute("SELECT sum(x) FROM t GROUP BY x % 1000").fetchall()
    assert _idle(wh) == []
    with pytest.raises(duckdb.ConnectionException):
        instance.execute("SELECT 1")
    with wh.session(memory_limit="64MB") as session, session.transaction() as con:
        con.execute("INSERT INTO t VALUES (-1)")
    assert _idle(wh) == []
    with wh.read() as con:  # a use without a limit of its own leaves its instance idle
        assert con.execute("SELECT count(*) FROM t").fetchone() == (100001,)
    assert len(_idle(wh)) == 1
    _assert_clean(wh)


def test_an_instance_left_with_staged_tables_is_closed_not_kept(wh: Warehouse) -> None:
    """A sync that failed between staging a batch and dropping it leaves the table in the
    instance's in-memory catalog: the instance is closed, not lent again with it."""
    with wh.session() as session:
        with session.staging_cursor() as staging:
            staging.execute("CREATE TABLE memory.main.staged_1 AS SELECT range AS x FROM range(10)")
        with session.transaction() as con:
            con.execute("CREATE TABLE t AS SELECT 1 AS x")
    assert _idle(wh) == []
    with wh.read() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)
    _assert_clean(wh)


def test_a_closed_instance_is_replaced_by_a_spare_made_in_the_background(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uses with limits of their own close their instances, one after the other (as a sync
    does after its crawl): each next take finds a spare made on another thread."""
    with wh.write() as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    made_on: list[str] = []
    connect = duckdb.connect

    def recording(*args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        made_on.append(threading.current_thread().name)
        return connect(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", recording)
    for n in range(3):
        with wh.session(memory_limit="64MB") as session, session.transaction() as con:
            con.execute("INSERT INTO t VALUES (?)", [n])
        assert _idle(wh) == []  # closed
    with wh.read() as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (3,)
    assert made_on and set(made_on) == {"duckdb-spare"}
    _assert_clean(wh)
