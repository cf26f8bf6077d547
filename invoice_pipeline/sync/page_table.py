"""Page bodies handed to DuckDB as an Arrow table, without copying them.

Both the document loader and the catalog upsert register such a table and let DuckDB split
each body into its documents. The table holds one chunk per page, so DuckDB parses one page
per vector (a whole batch in one vector would not fit a load session's memory limit).
Per-document lists (ids, volatile members, skipped indexes) go as list parameters, unnested
once into one row per page and joined on the ``page`` column.

Everything is built from buffers: ``pa.array()`` over Python lists imports pandas, and
pandas is 40 MB of a sync process's memory that nothing else in a sync needs.
"""

from __future__ import annotations

from array import array

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
