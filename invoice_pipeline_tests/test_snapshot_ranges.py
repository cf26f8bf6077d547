"""A read snapshot copied in rounds (``warehouse/snapshot_ranges.py``) holds exactly the rows a
one-statement copy holds, sorted the same way: several companies, NULL dates, and a company
carried over from the previous snapshot after a failed sync."""

import dagster as dg
import duckdb
import pytest

from invoice_pipeline import settings_store
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse, connection, snapshot, snapshot_ranges
from invoice_pipeline_tests.helpers import configure, sync

SIZES = {4: 250, 7: 60, 9: 130}


def _sorted_and_equal(target: str, wh: Warehouse, carried: int | None = None) -> dict[str, int]:
    """Row counts of the snapshot's data tables; asserts each is physically in its sort
    order and holds the warehouse's rows (the previous snapshot's for ``carried``)."""
    counts = {}
    con = duckdb.connect(target, read_only=True)
    try:
        for table, order in snapshot.SNAPSHOT_DATA.items():
            misplaced = con.execute(
                f"SELECT count(*) FROM (SELECT rowid AS r, "
                f"row_number() OVER (ORDER BY {order}, rowid) - 1 AS n FROM {table}) "
                "WHERE r <> n"
            ).fetchone()
            assert misplaced == (0,), table
            counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    with wh.read() as con:
        con.execute(f"ATTACH '{target}' AS snap (READ_ONLY)")
        skip = f"company_id <> {carried}" if carried is not None else "TRUE"
        for table in snapshot.SNAPSHOT_DATA:
            differing = con.execute(
                f"SELECT count(*) FROM ("
                f"(SELECT * FROM snap.{table} WHERE {skip} EXCEPT ALL "
                f" SELECT * FROM main.{table} WHERE {skip}) UNION ALL "
                f"(SELECT * FROM main.{table} WHERE {skip} EXCEPT ALL "
                f" SELECT * FROM snap.{table} WHERE {skip}))"
            ).fetchone()
            assert differing == (0,), table
    return counts


def test_a_snapshot_copied_in_rounds_is_whole_and_sorted(
    wh: Warehouse,
    emulator: BillingoEmulator,
    dagster_instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snapshot_ranges, "COPY_ROWS", 64)  # 440 invoices: 7 rounds
    rounds: list[int] = []
    plan = snapshot_ranges.rounds
    monkeypatch.setattr(
        snapshot_ranges, "rounds", lambda *a: rounds.append(len(p := plan(*a))) or p
    )
    for company, docs in SIZES.items():
        configure(wh, emulator, f"key-{company}", company_id=company, docs=docs, seed=company)
        assert sync(wh, dagster_instance, company)[1]["status"] == "COMPLETED"
    with wh.write() as con:  # invoices without a date sort last within their company
        con.execute(
            "INSERT INTO invoices SELECT * REPLACE (invoice_id + 1000000000 AS invoice_id, "
            "NULL AS invoice_date) FROM invoices WHERE company_id = 9 ORDER BY invoice_id LIMIT 3"
        )
    first = wh.publish()
    assert rounds[-1] == 7
    counts = _sorted_and_equal(str(first), wh)
    assert counts["invoices"] == sum(SIZES.values()) + 3

    # Unchanged, the data signature (computed with the warehouse attached anew after each
    # large table) is the same: the next snapshot copies the data tables, planning no rounds.
    planned = len(rounds)
    again = wh.publish()
    assert len(rounds) == planned
    assert _signature(str(again)) == _signature(str(first))
    _sorted_and_equal(str(again), wh)

    # Company 7's next sync fails: its rows stay those of its last complete sync, carried
    # from one snapshot to the next, though the warehouse loses some of them meanwhile.
    company_7 = _company_rows(str(first), 7)
    settings_store.upsert(
        wh, company_id=7, source="billingo", company_name="Company 7 Kft.",
        api_key="not-the-key", base_url=emulator.base_url,
    )  # fmt: skip
    assert sync(wh, dagster_instance, 7)[1]["status"] == "FAILED"
    with wh.write() as con:
        con.execute("DELETE FROM invoices WHERE company_id = 7 AND invoice_id % 2 = 0")
    third = wh.publish()
    assert rounds[-1] == 7
    _sorted_and_equal(str(third), wh, carried=7)
    assert _company_rows(str(third), 7) == company_7
    assert len(company_7["invoices"]) == 60

    # The per-day summary, built round by round, is the one a single pass builds, in order.
    monkeypatch.setattr(snapshot_ranges, "COPY_ROWS", 10**9)
    monkeypatch.setattr(snapshot, "_stored_signature", lambda con: None)  # rebuild, not copy
    whole = wh.publish()
    assert rounds[-1] == 1
    assert _days(str(third)) == _days(str(whole))


def test_the_data_signature_read_in_rowid_ranges_is_that_of_one_scan(
    wh: Warehouse,
    emulator: BillingoEmulator,
    dagster_instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hashed in ranges of 7 rowids, the warehouse attached anew after each, the tables of
    a warehouse with deleted rows (gaps in the rowids) sign as in one range; a changed row
    changes the signature either way."""
    configure(wh, emulator, "key-4", company_id=4, docs=250, seed=4)
    assert sync(wh, dagster_instance, 4)[1]["status"] == "COMPLETED"
    with wh.write() as con:
        con.execute("DELETE FROM invoice_items WHERE invoice_id % 3 = 0")
        con.execute("DELETE FROM invoices WHERE invoice_id % 5 = 0")
    monkeypatch.setattr(snapshot_ranges, "COPY_ROWS", 64)
    reattached: list[int] = []
    real_attach_anew = connection.attach_anew
    monkeypatch.setattr(
        connection, "attach_anew", lambda con: reattached.append(1) or real_attach_anew(con)
    )

    def signature(rows: int) -> str:
        monkeypatch.setattr(snapshot, "SIGNATURE_ROWS", rows)
        return _signature(str(wh.publish()))

    whole = signature(10**9)
    once = len(reattached)  # after each large table's one range, and the copy's rounds
    ranged = signature(7)
    assert len(reattached) - once > once + 2 * 200 // 7  # after each range of 7 rowids
    assert ranged == whole
    with wh.write() as con:
        con.execute("UPDATE invoice_items SET quantity = quantity + 1 WHERE rowid = 100")
    assert signature(7) == signature(10**9) != whole


def _days(target: str) -> list[tuple[object, ...]]:
    """The per-day summary's rows; asserts they are stored in the summary's sort order, and
    that each row's count and signature words are those of its numbers (``gram_words``, the
    search's side of the signature)."""
    con = duckdb.connect(target, read_only=True)
    try:
        order = "company_id, invoice_date DESC NULLS LAST, source, payment_status"
        misplaced = con.execute(
            f"SELECT count(*) FROM (SELECT rowid AS r, row_number() OVER (ORDER BY {order}, "
            "rowid) - 1 AS n FROM snapshot_invoice_days) WHERE r <> n"
        ).fetchone()
        assert misplaced == (0,)
        rows = con.execute("SELECT * FROM snapshot_invoice_days ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert rows
    for row in rows:
        numbers = str(row[5]).split("\n")
        words = [0] * snapshot.GRAM_WORDS
        for number in numbers:
            words = [a | b for a, b in zip(words, snapshot.gram_words(number), strict=True)]
        assert (row[4], list(row[6:])) == (len(numbers), words), row[:4]
    return rows


def _signature(target: str) -> str:
    con = duckdb.connect(target, read_only=True)
    try:
        return str(con.execute("SELECT data_signature FROM snapshot_meta").fetchone())
    finally:
        con.close()


def _company_rows(target: str, company: int) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(target, read_only=True)
    try:
        return {
            table: con.execute(
                f"SELECT * FROM {table} WHERE company_id = ? ORDER BY ALL", [company]
            ).fetchall()
            for table in ("invoices", "invoice_items")
        }
    finally:
        con.close()


def test_one_round_below_the_threshold(wh: Warehouse) -> None:
    wh.publish()  # an empty warehouse
    with wh.write() as con:
        rows = {table: f"SELECT * FROM {table}" for table in snapshot_ranges.KEYS}
        one = snapshot_ranges.rounds(con, rows, reattach=_never)
    assert one == [{"invoices": "", "invoice_items": ""}]


def _never() -> None:
    raise AssertionError("one round attaches nothing anew")


@pytest.mark.parametrize("desc", [True, False])
def test_ranges_cover_every_row_once_in_order_with_skewed_keys(desc: bool) -> None:
    """One key holding half the rows, NULL keys, several companies: every row falls in
    exactly one range, the ranges follow the sort order, and a range never splits a key."""
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE t AS SELECT (i % 3) + 1 AS company_id, "
            "CASE WHEN i % 2 = 0 THEN 500 WHEN i % 7 = 0 THEN NULL ELSE i END AS k "
            "FROM range(3000) r(i)"
        )
        column = "k" if not desc else "CAST(DATE '2020-01-01' + CAST(k AS INTEGER) AS DATE)"
        con.execute(f"CREATE TABLE rows AS SELECT company_id, {column} AS v FROM t")
        filters = snapshot_ranges._filters(con, "SELECT * FROM rows", "v", desc, parts=5)
        assert len(filters) == 5
        placed = con.execute(
            "SELECT company_id, v, ["
            + ", ".join(f"CASE WHEN {f} THEN {n} END" for n, f in enumerate(filters))
            + "] AS hits FROM rows"
        ).fetchall()
        order = "DESC" if desc else "ASC"
        rank = {
            key: n
            for n, key in enumerate(
                con.execute(
                    f"SELECT DISTINCT company_id, v FROM rows ORDER BY company_id, v {order} "
                    "NULLS LAST"
                ).fetchall()
            )
        }
    finally:
        con.close()
    part_of: dict[tuple[object, object], int] = {}
    for company, value, hits in placed:
        found = [h for h in hits if h is not None]
        assert len(found) == 1, (company, value, found)
        assert part_of.setdefault((company, value), found[0]) == found[0]
    by_rank = [part_of[key] for key in sorted(part_of, key=rank.__getitem__)]
    assert by_rank == sorted(by_rank)  # consecutive ranges, in sort order
    assert len(set(by_rank)) >= 3  # the skewed key takes a range of its own, not all of them
