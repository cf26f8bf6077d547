"""The last sync's remembered pages (``page_memory``), read back a window at a time.

A sync asks for each page's entry about in crawl order: the fetch workers as pages arrive,
the batch writer a batch later. Held in memory all at once, the entries cost about 37
bytes per document (37 MB of RSS to take 1,000,000 documents' pages, 10,000 entries). So
``take`` reads them from DuckDB in windows of ``WINDOW_PAGES`` consecutive positions into
an unnamed temporary file and keeps only which window holds which page key (about 120
bytes a page); a lookup reads its window back, and the last ``CACHED_WINDOWS`` stay.
"""

from __future__ import annotations

import pickle
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from invoice_pipeline import config
from invoice_pipeline.sync.page_memory import ENTRY_COLUMNS, KEY, PageLookup, RememberedPage
from invoice_pipeline.warehouse.limits import SCAN_MEMORY, limited

if TYPE_CHECKING:
    import duckdb

WINDOW_PAGES = 256  # about 300 KB of entries
CACHED_WINDOWS = 4  # the fetch workers' window, the batch writer's, and the next ones


class TakenPages(PageLookup):
    """The entries ``take`` removed from the warehouse, in a temporary file."""

    def __init__(self) -> None:
        # Owned by this object (``close``); the file has no name, so it is gone with the process
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._window_of: dict[str, int] = {}
        self._extents: list[tuple[int, int]] = []  # (offset, length) of each window
        self._cache: OrderedDict[int, dict[str, RememberedPage]] = OrderedDict()
        self._lock = threading.Lock()  # fetch workers and the batch writer look up at once

    def add_window(self, entries: dict[str, RememberedPage]) -> None:
        if not entries:
            return
        data = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._file.seek(0, 2)
        self._file.write(data)
        for key in entries:
            self._window_of[key] = len(self._extents)
        self._extents.append((offset, len(data)))

    def __getitem__(self, key: str) -> RememberedPage:
        window = self._window_of[key]
        with self._lock:
            entries = self._cache.get(window)
            if entries is None:
                offset, length = self._extents[window]
                self._file.seek(offset)
                entries = pickle.loads(self._file.read(length))  # our own file: trusted
                self._cache[window] = entries
                if len(self._cache) > CACHED_WINDOWS:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(window)
        return entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._window_of)

    def __len__(self) -> int:
        return len(self._window_of)

    def close(self) -> None:
        self._cache.clear()
        self._file.close()


def take(con: duckdb.DuckDBPyConnection, source: str, company_id: int) -> TakenPages:
    """The pages the last sync remembered, removed so only this sync's pages are kept. Read
    a window of positions at a time under ``SCAN_MEMORY`` (one query of 10,000 entries took
    37 MB of RSS: the result and the blocks it read); rows from before positions (schema
    v6) are one window."""
    params = {"source": source, "company": company_id}
    taken = TakenPages()
    with limited(con, SCAN_MEMORY, after=config.duckdb_memory()):  # a ``wh.write()``
        row = con.execute(
            f"SELECT max(position) FROM page_fingerprints WHERE {KEY}", params
        ).fetchone()
        last = -1 if row is None or row[0] is None else int(row[0])
        windows = [f"{KEY} AND position IS NULL"] + [
            f"{KEY} AND position BETWEEN {low} AND {low + WINDOW_PAGES - 1}"
            for low in range(0, last + 1, WINDOW_PAGES)
        ]
        for where in windows:
            rows = con.execute(
                f"SELECT {ENTRY_COLUMNS} FROM page_fingerprints WHERE {where}", params
            ).fetchall()
            taken.add_window({key: RememberedPage.from_row(*entry) for key, *entry in rows})
        con.execute(f"DELETE FROM page_fingerprints WHERE {KEY}", params)
    return taken
