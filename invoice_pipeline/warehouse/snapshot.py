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
sorted by company, newest first, so a company's page reads only its own row groups. Above
100,000 invoices the invoices and lines are copied in rounds of their sort keys, so
publishing needs about the same memory whatever the warehouse's size (``snapshot_ranges``).

Beside the invoices, ``snapshot_invoice_days`` summarises them per company, source, payment
status and day (how many; their lower-cased invoice numbers and a signature of those): the
query module counts and pages a large company's list from it and reads only the days a page
shows (``queries/invoices.py``). It is derived from the very rows the snapshot's invoices
are copied from, so it always agrees with them; like the list, it leaves out invoices
marked deleted (``sync/deletions.py``).

When the data tables would come out exactly as in the previous snapshot (same rows, same
columns, same carried-over companies: ``_data_signature``), the new generation starts as a
copy of the previous file and only the always-current tables are rewritten.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from invoice_pipeline import config
from invoice_pipeline.warehouse import snapshot_ranges
from invoice_pipeline.warehouse.limits import SCAN_MEMORY, limited
from invoice_pipeline.warehouse.schema import SNAPSHOT_CURRENT, SNAPSHOT_DATA, VIEWS

_STALE = """
    SELECT source, company_id FROM (
        SELECT source, company_id, status,
               row_number() OVER (PARTITION BY source, company_id ORDER BY id DESC) AS n
        FROM main.sync_logs)
    WHERE n = 1 AND status IN ('RUNNING', 'FAILED')
"""

# The per-day summary of the invoices (see the module docstring). Its rows hold up to 64
# invoice numbers of one (company, source, payment status, day), lower-cased and joined by
# newlines (uncompressed: short enough to stay inline, scanned without decompressing), and
# a 512-bit signature of the numbers' trigrams in four UHUGEINT words: a search reads only
# the rows whose signature has every trigram of the needle (``gram_words``), and then tests
# their text. The trigram code uses code points only (no hash function that could change
# between DuckDB versions); lower() could, so the summary is used only by the DuckDB version
# that wrote it (``snapshot_meta.duckdb_version``).
GRAM_WORDS = 4
_GRAM_BITS = 509  # a prime below 4 x 128
_GRAM_FACTORS = (73856093, 19349663, 83492791)
_CHUNK = 64


def gram_words(text: str) -> list[int]:
    """The signature words of ``text``'s trigrams, as the summary computes them in SQL
    (``text`` must already be lower-cased by DuckDB's lower())."""
    words = [0] * GRAM_WORDS
    for i in range(len(text) - 2):
        code = sum(ord(ch) * f for ch, f in zip(text[i : i + 3], _GRAM_FACTORS, strict=True))
        bit = code % _GRAM_BITS
        words[bit // 128] |= 1 << (bit % 128)
    return words


_GRAM_CODE = " + ".join(
    f"unicode(substr(number, i + {k}, 1))::BIGINT * {f}" for k, f in enumerate(_GRAM_FACTORS)
)
# Each invoice number's trigram bits (``gram_words``), as the four signature words of the number.
_GRAM_BITS_OF_NUMBER = (
    f"list_transform(range(1, length(number) - 1), lambda i: ({_GRAM_CODE}) % {_GRAM_BITS})"
)
_NUMBER_WORDS = ", ".join(
    f"list_aggregate(list_transform(list_filter(bits, lambda b: b // 128 = {k}), "
    f"lambda b: 1::UHUGEINT << (b % 128)::UHUGEINT), 'bit_or') AS w{k}"
    for k in range(GRAM_WORDS)
)
_INVOICE_DAYS_TABLE = f"""
    CREATE TABLE snap.snapshot_invoice_days (
        company_id INTEGER, source VARCHAR, payment_status VARCHAR, invoice_date DATE,
        invoices BIGINT, numbers VARCHAR USING COMPRESSION uncompressed,
        {", ".join(f"g{k} UHUGEINT" for k in range(GRAM_WORDS))})
    """
# Run once per round of the invoices' copy, on that round's rows (``{invoices}``): a
# (company, day) never spans two rounds, and appended round after round the rows stay in
# order. One pass: each number's words from its own list of trigram bits, OR-ed per chunk
# (100,000 invoices: 0.17 s; with a table of the numbers, one row per trigram unnested from
# it and grouped, joined to the counts, 0.28 s).
_INVOICE_DAYS = [
    f"""
    INSERT INTO snap.snapshot_invoice_days
    SELECT company_id, source, payment_status, invoice_date, count(*),
           string_agg(number, chr(10)),
           {", ".join(f"coalesce(bit_or(w{k}), 0)" for k in range(GRAM_WORDS))}
    FROM (
        SELECT *, {_NUMBER_WORDS}
        FROM (
            SELECT *, {_GRAM_BITS_OF_NUMBER} AS bits
            FROM (
                SELECT company_id, source, payment_status, invoice_date,
                       lower(invoice_number) AS number,
                       (row_number() OVER (
                           PARTITION BY company_id, source, payment_status, invoice_date
                           ORDER BY invoice_id) - 1) // {_CHUNK} AS chunk
                FROM ({{invoices}}) WHERE deleted_at IS NULL)))
    GROUP BY company_id, source, payment_status, invoice_date, chunk
    ORDER BY company_id, invoice_date DESC NULLS LAST, source, payment_status
    """,
]

# Rows a range of the data signature reads (``_table_signature``): 256 of the writers'
# row groups. Ranges of 262,144 rows took 11 MB less at 2,000,000 documents, 25% slower.
SIGNATURE_ROWS = 524_288

# What a snapshot that copies its predecessor's data tables (``_data_signature``) replaces.
_REPLACED = ["snapshot_companies", *SNAPSHOT_CURRENT, "company_settings", "snapshot_meta"]

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


def publish(con: duckdb.DuckDBPyConnection, db_path: Path, reattach: Callable[[], None]) -> Path:
    """Write a new snapshot from the writer connection ``con`` (outside a transaction,
    under the writer lock, which is then left under the publish memory limit) and make it
    current; returns its path. ``reattach`` detaches the warehouse from ``con`` and
    attaches it again, between the rounds a large warehouse is copied in
    (``snapshot_ranges``)."""
    db_path = Path(db_path)
    previous = current_file(db_path)
    target = db_path.with_name(f"{db_path.stem}.read.{uuid.uuid4().hex[:12]}.duckdb")
    home = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    has_prev = previous is not None and previous.exists()
    try:
        if has_prev:
            con.execute(f"ATTACH '{previous}' AS prev (READ_ONLY)")
        con.execute("ATTACH ':memory:' AS scratch")  # seen by the cursors of _copy_data
        con.execute(f"CREATE TABLE scratch.stale AS {_STALE}")
        # The signature only streams: 500,000 documents took 35 MB above its start under
        # SCAN_MEMORY, 104 MB under 64MB, and peaked at 470 MB under the publish limit.
        with limited(con, SCAN_MEMORY, after=config.duckdb_publish_memory()):
            signature = _data_signature(con, reattach)
        reuse = has_prev and _stored_signature(con) == signature
        if reuse:  # the data tables would be the previous snapshot's: copy them with it
            shutil.copyfile(previous, target)  # type: ignore[arg-type]
        con.execute(f"ATTACH '{target}' AS snap (ROW_GROUP_SIZE {config.SNAPSHOT_ROW_GROUP_SIZE})")
        if reuse:
            for table in _REPLACED:
                con.execute(f"DROP TABLE snap.{table}")
        else:
            _copy_data(con, home, has_prev, reattach)
        con.execute(
            "CREATE TABLE snap.snapshot_companies AS "
            + _rows("snapshot_companies", has_prev, current=f"({_AS_OF})")
        )
        for table, order in SNAPSHOT_CURRENT.items():
            con.execute(f"CREATE TABLE snap.{table} AS SELECT * FROM main.{table} ORDER BY {order}")
        con.execute(
            "CREATE TABLE snap.company_settings AS SELECT * EXCLUDE (api_key_encrypted), "
            "api_key_encrypted IS NOT NULL AS has_api_key FROM main.company_settings"
        )
        con.execute(
            "CREATE TABLE snap.snapshot_meta AS SELECT now() AS published_at, "
            "library_version AS duckdb_version, ? AS data_signature FROM pragma_version()",
            [signature],
        )
        con.execute("USE snap")
        try:
            for statement in VIEWS.values():
                con.execute(statement)
        finally:
            con.execute(f'USE "{home}"')
    finally:
        for alias in ("snap", "prev", "scratch"):
            if alias in {r[0] for r in con.execute("SHOW DATABASES").fetchall()}:
                con.execute(f"DETACH {alias}")
    _repoint(link_path(db_path), target)
    _remove_old(db_path, keep={target, previous})
    return target


# The (source, company) pairs whose rows a new snapshot takes from the warehouse: all but
# those whose last sync has not succeeded (``_STALE``, kept in ``scratch.stale``).
_CURRENT_PAIRS = "(source, company_id) NOT IN (SELECT * FROM scratch.stale)"


def _rows(table: str, has_prev: bool, current: str | None = None) -> str:
    """The rows of ``table`` the new snapshot holds: those of ``current`` (the warehouse's
    table of that name unless given), but the previous snapshot's for the stale pairs."""
    carried = f"UNION ALL BY NAME SELECT * FROM prev.{table} WHERE NOT {_CURRENT_PAIRS}"
    source = current or f"main.{table}"
    return f"SELECT * FROM {source} WHERE {_CURRENT_PAIRS} {carried if has_prev else ''}"


def _copy_data(
    con: duckdb.DuckDBPyConnection,
    home: str,
    has_prev: bool,
    reattach: Callable[[], None],
) -> None:
    """Write the data tables and the per-day summary on two cursors at once.

    Each statement compresses and writes its table on one core, so one after the other they
    leave the second core idle: the invoices go on one cursor, the lines, the other data
    tables and the summary on the other (publishing 100,000 invoices: 0.5 s instead of
    0.75). The summary reads the same rows as the invoices table (``_rows``): the writer
    lock is held, nothing changes them meanwhile. A large warehouse is copied in rounds,
    attached anew before each (``snapshot_ranges``), the summary of each round's invoices
    with them."""
    rows = {table: _rows(table, has_prev) for table in SNAPSHOT_DATA}
    with limited(con, snapshot_ranges.PLAN_MEMORY, after=config.duckdb_publish_memory()):
        plan = snapshot_ranges.rounds(con, rows, reattach)
    rest = [
        _copy(table, order, rows[table], "", create=True)
        for table, order in SNAPSHOT_DATA.items()
        if table not in snapshot_ranges.KEYS
    ]
    for number, filters in enumerate(plan):
        if number:
            reattach()  # frees what the round before loaded of the warehouse
        copies = [
            _copy(table, SNAPSHOT_DATA[table], rows[table], where, create=number == 0)
            for table, where in filters.items()
        ]
        invoices = _selected(rows["invoices"], filters["invoices"])
        days = [s.replace("{invoices}", invoices) for s in _INVOICE_DAYS]
        if number == 0:
            days.insert(0, _INVOICE_DAYS_TABLE)
        last = number == len(plan) - 1
        lanes = [copies[:1], copies[1:] + days + (rest if last else [])]
        _run_lanes(con, home, lanes)


def _copy(table: str, order: str, rows: str, where: str, *, create: bool) -> str:
    """The statement that copies the ``rows`` of ``table`` (those ``where`` selects)."""
    into = f"CREATE TABLE snap.{table} AS" if create else f"INSERT INTO snap.{table}"
    return f"{into} {_selected(rows, where)} ORDER BY {order}"


def _selected(rows: str, where: str) -> str:
    return f"SELECT * FROM ({rows}) {f'WHERE {where}' if where else ''}"


def _run_lanes(con: duckdb.DuckDBPyConnection, home: str, lanes: list[list[str]]) -> None:
    """Each lane's statements in order on a cursor of its own, the lanes at once."""
    cursors = [con.cursor() for _ in lanes]
    try:
        for cursor in cursors:  # a cursor starts in the connection's default database
            cursor.execute(f'USE "{home}"')
        with ThreadPoolExecutor(len(lanes), thread_name_prefix="publish") as pool:
            done = [pool.submit(_run, c, lane) for c, lane in zip(cursors, lanes, strict=True)]
        for future in done:
            future.result()
    finally:
        for cursor in cursors:
            cursor.close()


def _run(con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    for statement in statements:
        con.execute(statement)


def _data_signature(con: duckdb.DuckDBPyConnection, reattach: Callable[[], None]) -> str:
    """A digest of everything the snapshot's data tables (and the per-day summary derived
    from them) are made of: per table its columns, rows and the sum of every row's hash (of
    the rows taken from the warehouse), the (source, company) pairs carried over from the
    previous snapshot, the code that builds them and the DuckDB version. Equal digests mean
    equal data tables, so a sync that changed nothing copies the previous snapshot's file
    instead of rebuilding them (publishing 100,000 invoices: 0.1 s instead of 0.5 s).

    A table of more than ``snapshot_ranges.COPY_ROWS`` rows is hashed a range of
    ``SIGNATURE_ROWS`` rowids at a time, the warehouse attached anew after each
    (``reattach``), which frees the metadata of every row group the range loaded: hashed
    in one go, only attached anew after it, the 5,300,000 lines of 2,000,000 documents took
    130 MB above the start (1,000,000 documents: 84 MB), in ranges 64 MB (63)."""
    parts = [repr(SNAPSHOT_DATA), _INVOICE_DAYS_TABLE, *_INVOICE_DAYS]
    parts += [
        str(r) for r in con.execute("SELECT library_version FROM pragma_version()").fetchall()
    ]
    for table in SNAPSHOT_DATA:
        parts += [
            str(r)
            for r in con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = 'main' "
                "AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
        ]
        parts.append(str(_table_signature(con, table, reattach)))
    parts += [str(r) for r in con.execute("SELECT * FROM scratch.stale ORDER BY ALL").fetchall()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _table_signature(
    con: duckdb.DuckDBPyConnection, table: str, reattach: Callable[[], None]
) -> tuple[int, int | None]:
    """How many of ``table``'s rows are current and the sum of their hashes (None for no
    row), read ``SIGNATURE_ROWS`` rowids at a time. Each range reads every row group in it,
    current or not; in a table of more than ``snapshot_ranges.COPY_ROWS`` rows the
    warehouse is attached anew after each range (``_data_signature``)."""
    row = con.execute(f"SELECT max(rowid) FROM main.{table}").fetchone()
    last = -1 if row is None or row[0] is None else int(row[0])
    current, total = 0, None
    for low in range(0, last + 1, SIGNATURE_ROWS):
        row = con.execute(
            f"SELECT count(*) FILTER ({_CURRENT_PAIRS}), "
            f"sum(hash(t)::HUGEINT) FILTER ({_CURRENT_PAIRS}) FROM main.{table} t "
            f"WHERE rowid BETWEEN {low} AND {low + SIGNATURE_ROWS - 1}"
        ).fetchone()
        count, hashes = row if row is not None else (0, None)
        current += int(count)
        if hashes is not None:
            total = int(hashes) + (total or 0)
        if last >= snapshot_ranges.COPY_ROWS:
            reattach()
    return current, total


def _stored_signature(con: duckdb.DuckDBPyConnection) -> str | None:
    """The data signature of the attached previous snapshot (None before they had one)."""
    has = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE database_name = 'prev' "
        "AND table_name = 'snapshot_meta' AND column_name = 'data_signature'"
    ).fetchone()
    if not has or not has[0]:
        return None
    row = con.execute("SELECT any_value(data_signature) FROM prev.snapshot_meta").fetchone()
    return str(row[0]) if row and row[0] is not None else None


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
