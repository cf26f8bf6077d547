"""The single-writer lock: a long write session lets a waiting writer in between batches."""

import threading
import time
from pathlib import Path

from invoice_pipeline.warehouse import Warehouse


def test_a_long_session_yields_to_a_waiting_writer_between_transactions(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    with wh.write() as con:
        con.execute("CREATE TABLE marks (who VARCHAR)")

    def other_writer() -> None:
        with Warehouse(wh.path).write() as con:
            con.execute("INSERT INTO marks VALUES ('other')")

    with wh.session() as session:
        with session.transaction() as con:
            con.execute("INSERT INTO marks VALUES ('first batch')")
        assert not session.yield_to_waiting()  # nobody waits: keep the file
        waiting = threading.Thread(target=other_writer)
        waiting.start()
        deadline = time.monotonic() + 10
        while not session.yield_to_waiting():
            assert time.monotonic() < deadline, "the waiting writer was never let in"
            time.sleep(0.01)
        waiting.join(timeout=10)
        with session.transaction() as con:
            con.execute("INSERT INTO marks VALUES ('second batch')")
            marks = [r[0] for r in con.execute("SELECT who FROM marks").fetchall()]
    assert marks == ["first batch", "other", "second batch"]
