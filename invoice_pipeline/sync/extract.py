"""The extraction loop shared by every source: pages -> deduplicated batches -> warehouse.

A batch goes through two worker threads while the next pages are fetched and validated
(DuckDB releases the GIL): one stages it (``loader.stage_batch``: DuckDB splits, hashes and
parses its documents) while the other writes the batch before it (``loader.load_batch``),
so a sync costs little more than fetching its pages.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field

from invoice_pipeline import config
from invoice_pipeline.sync import log, page_memory
from invoice_pipeline.sync.id_set import IdSet
from invoice_pipeline.sync.loader import (
    BatchCounts,
    drop_staged,
    load_batch,
    stage_batch,
    store_listing_hashes,
)
from invoice_pipeline.sync.mapping import SourceMapping
from invoice_pipeline.sync.page_memory import (
    STORE_PAGES,
    PageLookup,
    RememberedPage,
    RememberedPages,
)
from invoice_pipeline.sync.pages import ValidatedPage
from invoice_pipeline.warehouse import Warehouse

# A batch with nothing to store but the sync log's progress is committed with the next
# batch that stores documents, or when this long has passed since the last commit: an
# unchanged re-sync commits about once a second, not once per batch.
UNCHANGED_COMMIT_S = 1.0

# DuckDB threads of the batch writer. The fetch threads keep one core busy parsing pages, so
# a second DuckDB thread mostly competes with them: one thread loads 100,000 documents with a
# fifth less CPU (5.1 s instead of 6.2 s, the loader alone) and the full sync was as fast or
# faster (7.3-8.3 s against 8.0-8.6 s, three interleaved pairs on a busy VM).
LOAD_THREADS = 1

# The writer is the slower side of a full sync, so it should start early: the first batch is
# one row group of documents, the second three, then the configured size (at 8,192 from the
# start the writer idled for the first 82 pages, about 0.4 s of a 100,000-document sync).
# Why these sizes: a batch's last row group is partial (a batch ends with a page), and
# DuckDB's checkpoint merges adjacent row groups whose rows fit in fewer, rewriting and
# compressing them again, at most four into three: partial row groups with three full ones
# between them are never merged. With batches of 1,024, 2,048 and 4,096 documents before
# 8,192 the first checkpoints after a full sync of 100,000 documents spent 0.2 s merging the
# first batches' row groups, the read snapshot's publish waiting for it.
RAMP_ROW_GROUPS = (1, 3)


@dataclass
class _Batch:
    """The pages of one write transaction, and which of their documents DuckDB loads."""

    pages: list[ValidatedPage] = field(default_factory=list)
    excluded: list[list[int]] = field(default_factory=list)  # per page: indexes not to load
    # Pages remembered unchanged from the last sync hold only stored, unchanged documents:
    # DuckDB need not look at them. Pages that had in-sync duplicates are not remembered
    # (their copy of a document may be newer than the one stored).
    same: set[int] = field(default_factory=set)
    size: int = 0  # documents not excluded

    def add(self, page: ValidatedPage, skip: list[int], same: bool) -> None:
        if same:
            self.same.add(len(self.pages))
        self.pages.append(page)
        self.excluded.append(skip)
        self.size += len(page.ids) - len(skip)

    def skipped(self) -> int:
        """Documents counted as skipped without DuckDB: those of ``same`` pages, and those
        listed unchanged and not fetched."""
        same = sum(len(self.pages[i].ids) - len(self.excluded[i]) for i in self.same)
        return same + sum(len(p.unchanged) for p in self.pages)

    def loaded(self) -> tuple[list[ValidatedPage], list[list[int]]]:
        """The pages DuckDB looks at (all but ``same``), with their excluded indexes."""
        keep = [i for i in range(len(self.pages)) if i not in self.same]
        return [self.pages[i] for i in keep], [self.excluded[i] for i in keep]


def batch_targets(batch_documents: int) -> Iterator[int]:
    """Documents per batch, batch after batch: ``RAMP_ROW_GROUPS``, then ``batch_documents``."""
    for groups in RAMP_ROW_GROUPS:
        yield min(batch_documents, groups * config.ROW_GROUP_SIZE)
    yield from itertools.repeat(batch_documents)


def extract(
    wh: Warehouse,
    mapping: SourceMapping,
    company_id: int,
    log_id: int,
    pages: Iterable[ValidatedPage],
    remembered: PageLookup,
    api_calls: Callable[[], int],
    metrics: log.SyncMetrics,
    batch_documents: int,
) -> IdSet:
    """Load every valid, first-seen document of ``pages``; ``metrics`` is filled in as it goes
    and stored in the sync log with every batch that stores documents (at least once a
    second otherwise: ``UNCHANGED_COMMIT_S``). A page ``remembered`` unchanged from the last
    sync is not loaded; every page is remembered again for the next one. Returns the id of
    every document the pages listed (loaded, rejected, or listed unchanged and not fetched):
    deletion detection's input (``sync/deletions.py``)."""
    seen = IdSet()  # loaded or to be loaded; about 2 bytes an id (``sync/id_set.py``)
    rejected_seen: set[int] = set()
    listed_unchanged = IdSet()
    totals = BatchCounts()
    batch = _Batch()
    targets = batch_targets(batch_documents)
    target = next(targets)

    # Pages to remember for the next sync, stored with a batch once ``STORE_PAGES`` wait and
    # with the last one: a statement per thousand pages, not per batch (10-40 ms each on
    # the writer's path). A sync that fails remembers only the pages stored before, whose
    # documents are stored too; the next one parses the others.
    unsaved = RememberedPages()
    stored_pages = 0  # the next page's position (``page_memory.store``)
    last_commit = time.monotonic()

    tables = (f"staged_{n}" for n in itertools.count(1))

    def stage(pages_: list[ValidatedPage], excluded_: list[list[int]]) -> str | None:
        """On the stager thread: the batch's staged table (None: nothing to load)."""
        if not pages_:
            return None
        table = next(tables)
        stage_batch(staging, mapping, pages_, excluded_, table)
        return table

    def write(
        batch_: _Batch,
        loaded: tuple[list[ValidatedPage], list[list[int]]],
        staged: Future[str | None],
        final: bool,
    ) -> None:
        nonlocal last_commit, stored_pages
        unsaved.update(
            (p.page_key, RememberedPage.of(p))
            for p, skip in zip(batch_.pages, batch_.excluded, strict=True)
            if p.page_key and len(skip) == len(p.rejected)
        )
        totals.skipped += batch_.skipped()
        table = staged.result()
        if not loaded[0] and not final and time.monotonic() - last_commit < UNCHANGED_COMMIT_S:
            return  # nothing to store but progress: it waits a little
        with session.transaction() as con:
            counts = load_batch(con, mapping, company_id, table) if table else BatchCounts()
            totals.add(counts)
            store_listing_hashes(con, mapping.source, company_id, *loaded)
            if final or len(unsaved) >= STORE_PAGES:
                page_memory.store(con, mapping.source, company_id, unsaved, stored_pages)
                stored_pages += len(unsaved)
                unsaved.clear()
            metrics.invoices_created = totals.created
            metrics.invoices_updated = totals.updated
            metrics.invoices_skipped = totals.skipped
            metrics.invoices_processed = totals.created + totals.updated + totals.skipped
            metrics.items_extracted = totals.lines
            metrics.api_calls_made = api_calls()
            log.record(con, log_id, metrics)
        if table:
            drop_staged(con, table)
        last_commit = time.monotonic()
        session.wrote(counts.created + counts.updated)  # reconnects now and then
        session.yield_to_waiting()  # other companies' syncs write between our batches

    def submit(batch_: _Batch, final: bool, previous: Future[None] | None) -> Future[None]:
        """Stage the batch now; write it once the batch before it is written."""
        loaded = batch_.loaded()
        staged = stager.submit(stage, *loaded)
        if previous is not None:
            previous.result()
        return writer.submit(write, batch_, loaded, staged, final)

    with (
        wh.session(memory_limit=config.duckdb_load_memory(), threads=LOAD_THREADS) as session,
        closing(session.staging_cursor()) as staging,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-writer") as writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-stager") as stager,
    ):
        pending: Future[None] | None = None
        for page in pages:
            if pending is None or pending.done():  # no batch of ours is being written: while
                session.yield_to_waiting()  # we fetch, other companies' syncs may write
            skip: list[int] = []
            new = seen.add_new(page.ids, passed_over=page.rejected)
            for index, doc_id in enumerate(page.ids):
                if index in page.rejected:
                    skip.append(index)
                    if doc_id is None or doc_id not in rejected_seen:
                        metrics.errors.append(page.rejected[index])
                    if doc_id is not None:
                        rejected_seen.add(doc_id)
                elif not new[index]:
                    skip.append(index)
            metrics.errors.extend(page.problems)
            listed_unchanged.update(page.unchanged)
            same = bool(page.page_key) and remembered.is_unchanged(page)
            if same:
                page.drop_body()  # not loaded (``_Batch.loaded``): a batch of such held 30 MB
            batch.add(page, skip, same)
            if batch.size >= target:
                pending = submit(batch, False, pending)
                batch = _Batch()
                target = next(targets)
        submit(batch, True, pending).result()  # the rest, and the final api call count
    seen.update(rejected_seen)
    seen.update(listed_unchanged)
    return seen
