"""Ranges of the snapshot's sort keys, for copying a large warehouse a part at a time.

A statement that copies a table makes DuckDB load the metadata of every column of every
row group it reads, about 2.5 KB each with the writers' 2,048-row groups, and keep it until
the warehouse is detached: copying 300,000 invoices held 17 MB of it (46 columns, 147 row
groups), their lines 12 MB. Above ``COPY_ROWS`` invoices the snapshot's invoices and lines
are copied in rounds, each one range of their sort keys, with the warehouse attached anew
before each round (``snapshot.publish``), and each round sorts only its own rows. Appended
round after round in key order, the rows stay sorted. A range's company and key bounds are
plain column comparisons, so DuckDB skips the row groups whose zone maps lie outside it.
Rounds hold at most ``COPY_ROWS`` invoices, what publishing a 100,000-document account
copies in one: publishing 300,000 documents 1.9-2.1 s and 298-305 MB in one round, 1.7-1.8 s
and 286-293 MB in rounds of 131,072; a full sync of 500,000 peaked at 512-519 MB, now 473-478
MB (rounds of 100,000, the data signature's loaded metadata freed before rounds are planned).
Smaller rounds hold less still but cost time (100,000 documents in rounds of 65,536: 33 MB
less, 0.13 s slower).
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

# Invoices per round (and the lines of about as many invoices): an account of 100,000
# documents publishes in one round, as fast as before.
COPY_ROWS = 100000

# DuckDB's memory limit while the rounds are planned (``snapshot._copy_data`` sets it).
# Planning 1,000,000 synced documents (the lines counted per invoice: a million counts to
# aggregate and sort): 0.51-0.54 s and 75 MB above its start; under the publish limit
# (192MB) 200 MB, under 32MB 53 MB and 0.62-0.71 s.
PLAN_MEMORY = "64MB"

# The sort key of each table copied in rounds: (column, descending). Rows of one (company,
# key) value stay in one round; within a round the statement sorts by the full order.
KEYS = {"invoices": ("invoice_date", True), "invoice_items": ("invoice_id", False)}


def rounds(
    con: duckdb.DuckDBPyConnection, rows: dict[str, str], reattach: Callable[[], None]
) -> list[dict[str, str]]:
    """Per round, a filter per table of ``KEYS`` (``rows``: the query of each table's rows);
    one round without filters when the invoices fit ``COPY_ROWS``. Before it plans rounds,
    it frees what the statements before (the data signature) loaded (``reattach``)."""
    count = con.execute(f"SELECT count(*) FROM ({rows['invoices']})").fetchone()
    parts = -(-int(count[0] if count else 0) // COPY_ROWS)
    if parts <= 1:
        return [dict.fromkeys(KEYS, "")]
    reattach()
    filters = {
        table: _filters(con, rows[table], column, desc, parts)
        for table, (column, desc) in KEYS.items()
    }
    return [{table: filters[table][n] for table in KEYS} for n in range(parts)]


def _filters(
    con: duckdb.DuckDBPyConnection, rows: str, column: str, desc: bool, parts: int
) -> list[str]:
    """``parts`` filters that split ``rows`` into consecutive ranges of (company, column)
    in sort order (NULLs last), of about equal size; the unused ones select nothing.

    A (company, key) value goes to the range its first row falls in when the rows are cut
    into ``parts`` equal runs. Computed in DuckDB, which returns only each range's first and
    last value: the lines have a value per invoice, and fetching those into Python made
    planning the peak of publishing (1,000,000 synced documents: 334 MB above its start,
    0.77 s)."""
    order = f"ORDER BY company_id, sort_key {'DESC' if desc else 'ASC'} NULLS LAST"
    found = con.execute(
        f"""
        WITH counted AS (
            SELECT company_id, {column} AS sort_key, count(*) AS n FROM ({rows}) GROUP BY ALL
        ), placed AS (
            SELECT company_id, sort_key, row_number() OVER ({order}) AS seq,
                   (sum(n) OVER ({order} ROWS UNBOUNDED PRECEDING) - n)
                       // CAST(ceil(sum(n) OVER () / $parts) AS BIGINT) AS part
            FROM counted
        ), ends AS (
            SELECT part, arg_min({{'c': company_id, 'k': sort_key}}, seq) AS lo,
                   arg_max({{'c': company_id, 'k': sort_key}}, seq) AS hi
            FROM placed GROUP BY part
        )
        SELECT lo.c, CAST(lo.k AS VARCHAR), hi.c, CAST(hi.k AS VARCHAR)
        FROM ends ORDER BY part
        """,
        {"parts": parts},
    ).fetchall()
    filters = [_filter(column, desc, (c1, k1), (c2, k2)) for c1, k1, c2, k2 in found]
    return filters + ["FALSE"] * (parts - len(filters))


def _filter(
    column: str, desc: bool, first: tuple[int, str | None], last: tuple[int, str | None]
) -> str:
    """Rows from ``first`` to ``last`` (company, key) inclusive, in sort order."""
    (c1, k1), (c2, k2) = first, last
    # NULL keys sort last: as the smallest value when descending, the largest when not.
    edge = "DATE '-infinity'" if desc else str(2**63 - 1)
    key = f"coalesce({column}, {edge})"

    def lit(k: str | None) -> str:
        return edge if k is None else f"DATE '{k}'" if desc else k

    before, after = (">", "<") if desc else ("<", ">")
    parts = [
        f"company_id BETWEEN {c1} AND {c2}",
        f"NOT (company_id = {c1} AND {key} {before} {lit(k1)})",
        f"NOT (company_id = {c2} AND {key} {after} {lit(k2)})",
    ]
    if c1 == c2 and k1 is not None and k2 is not None:  # also as bounds DuckDB can push down
        low, high = (k2, k1) if desc else (k1, k2)
        parts.append(f"{column} BETWEEN {lit(low)} AND {lit(high)}")
    return " AND ".join(parts)
