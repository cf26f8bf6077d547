"""A smaller DuckDB memory limit for statements that read much and keep little.

Any scan keeps the blocks it read cached up to the instance's memory limit, and DuckDB's
allocator keeps what it freed while the instance lives. A statement that reads a column or
two of every stored document of a company (the writers' row groups are small, so a column's
blocks are many) takes memory that grows with the account under the writer's 256MB limit:
1,000,000 documents, 100 MB to compare two hash columns. Under ``SCAN_MEMORY`` it takes
about 35 MB whatever the account's size, as fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

SCAN_MEMORY = "32MB"


@contextmanager
def limited(con: duckdb.DuckDBPyConnection, limit: str, after: str) -> Iterator[None]:
    """The block under DuckDB's memory limit ``limit``, what follows under ``after`` (the
    connection's own limit: a setting read back from DuckDB is rounded)."""
    con.execute("SET memory_limit = ?", [limit])
    yield
    con.execute("SET memory_limit = ?", [after])
