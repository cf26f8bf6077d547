"""Page bodies (and lists of document ids) handed to DuckDB as Arrow tables, not copied.

Both the document loader and the catalog upsert register such a table and let DuckDB split
each body into its documents (``page_documents``). The table holds one chunk per page, so
DuckDB parses one page per vector (a whole batch in one vector would not fit a load
session's memory limit). Per-page lists (ids, volatile members, skipped indexes) go as list
parameters, unnested once into one row per page and joined on the ``page`` column.

Everything is built from buffers: ``pa.array()`` over Python lists imports pandas, and
pandas is 40 MB of a sync process's memory that nothing else in a sync needs.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from invoice_pipeline.sync.pages import ValidatedPage


def page_table(pages: list[ValidatedPage]) -> pa.Table:
    """Columns ``body`` (the page's bytes) and ``page`` (its position in ``pages``, from 1)."""
    bodies = [
        pa.Array.from_buffers(
            pa.binary(), 1, [None, pa.py_buffer(array("i", [0, len(p.body)])), pa.py_buffer(p.body)]
        )
        for p in pages
    ]
    numbers = [
        pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(array("q", [n]))])
        for n in range(1, len(pages) + 1)
    ]
    return pa.Table.from_arrays(
        [pa.chunked_array(bodies, pa.binary()), pa.chunked_array(numbers, pa.int64())],
        names=["body", "page"],
    )


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """``table`` registered as ``name`` for the block. Not unregistered when the block
    raises: the transaction is aborted then, DuckDB would refuse (hiding the block's own
    error), and the writer discards the connection with the view."""
    con.register(name, table)
    yield
    con.unregister(name)


def values_table(columns: Mapping[str, Sequence[bytes | str | int | None]]) -> pa.Table:
    """A table of Python values, built from buffers: ``bytes`` columns become BLOB,
    ``str`` VARCHAR, ``int`` BIGINT (the type of a column's first non-None value); None is
    NULL. For small tables (``page_memory.store``): 32-bit offsets, under 2 GB a column."""
    arrays = []
    for values in columns.values():
        present = [v is not None for v in values]
        validity = None if all(present) else pa.py_buffer(_bits(present))
        kind = next((type(v) for v in values if v is not None), int)
        if kind is int:
            numbers = array("q", [int(v) if v is not None else 0 for v in values])
            buffers = [validity, pa.py_buffer(numbers)]
            arrays.append(pa.Array.from_buffers(pa.int64(), len(values), buffers))
            continue
        raw = [v.encode() if isinstance(v, str) else (v or b"") for v in values]
        offsets = array("i", [0])
        for item in raw:
            offsets.append(offsets[-1] + len(item))
        buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(raw))]
        kind_type = pa.string() if kind is str else pa.binary()
        arrays.append(pa.Array.from_buffers(kind_type, len(values), buffers))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _bits(flags: list[bool]) -> bytes:
    """An Arrow validity bitmap (least significant bit first)."""
    bits = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            bits[i >> 3] |= 1 << (i & 7)
    return bytes(bits)


def page_documents(table: str, per_document: dict[str, str], per_page: dict[str, str]) -> str:
    """A query over the registered page table ``table`` with one row per document: ``doc``
    (its JSON), ``idx`` (its place in its page, from 0), and a column per list parameter,
    each a list per page of the given element type: ``per_document`` lists hold one element
    per document (the first one's length is the page's), ``per_page`` lists come whole."""
    first = next(iter(per_document))
    lists = {**per_document, **per_page}
    unnested = ", ".join(f"unnest(CAST(${n} AS {t}[][])) AS {n}_list" for n, t in lists.items())
    columns = [f"unnest({n}_list) AS {n}" for n in per_document]
    columns += [f"{n}_list AS {n}" for n in per_page]
    return f"""
        WITH lists AS (  -- one row per page, from the list parameters evaluated once
            SELECT generate_subscripts(CAST(${first} AS {per_document[first]}[][]), 1) AS page,
                   {unnested}
        )
        SELECT unnest(from_json(decode(body), '{{"data": ["JSON"]}}').data) AS doc,
               {", ".join(columns)},
               unnest(range(CAST(len({first}_list) AS BIGINT))) AS idx
        FROM {table} JOIN lists USING (page)"""
