"""One sync step per source and company, as the Dagster assets run it.

The registry ``SOURCES`` is the only place that knows which sources exist: each entry
gives the field mapping and how to open a client and walk its document pages, in full or
incrementally (``billingo/incremental.py``, ``billx/incremental.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import duckdb

from invoice_pipeline import config, settings_store
from invoice_pipeline.billingo import incremental as billingo_incremental
from invoice_pipeline.billingo.client import BillingoClient
from invoice_pipeline.billingo.mapping import MAPPING as BILLINGO_MAPPING
from invoice_pipeline.billx import catalog as billx_catalog
from invoice_pipeline.billx import incremental as billx_incremental
from invoice_pipeline.billx.client import BillxClient
from invoice_pipeline.billx.mapping import MAPPING as BILLX_MAPPING
from invoice_pipeline.http import RetryPolicy
from invoice_pipeline.sync import deletions, eligibility, log, page_windows
from invoice_pipeline.sync.extract import extract
from invoice_pipeline.sync.increments import Increment
from invoice_pipeline.sync.loader import listing_hashes, normalize_pending
from invoice_pipeline.sync.mapping import SourceMapping
from invoice_pipeline.sync.page_memory import PageLookup
from invoice_pipeline.sync.pages import ValidatedPage
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline.warehouse.limits import SCAN_MEMORY


class SourceClient(Protocol):
    @property
    def api_calls(self) -> int: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Source:
    name: str
    display: str
    mapping: SourceMapping
    open_client: Callable[[int, str, str, RetryPolicy], SourceClient]
    # (client, known, remembered) -> pages; ``known`` maps document id -> the listing hash
    # stored with it (filled only for sources with ``listing_hashes``: they list, then fetch
    # documents); ``remembered``: what the last sync kept of each page (``page_memory``)
    pages: Callable[[SourceClient, Mapping[int, str], PageLookup], Iterator[ValidatedPage]]
    listing_hashes: bool = False
    # after the pages, in its own transaction: what else the client fetched (BillX's catalog)
    store_extras: Callable[[duckdb.DuckDBPyConnection, SourceClient, int], object] | None = None
    # incremental mode: (warehouse, company id) -> the source's hints, read before the crawl;
    # then (client, known, increment) -> the pages of what changed since the watermark
    plan_incremental: Callable[[duckdb.DuckDBPyConnection, int], object] | None = None
    incremental_pages: (
        Callable[[SourceClient, Mapping[int, str], Increment], Iterator[ValidatedPage]] | None
    ) = None


def _billingo_client(company_id: int, key: str, url: str, policy: RetryPolicy) -> BillingoClient:
    return BillingoClient(company_id=company_id, api_key=key, base_url=url, policy=policy)


def _billx_client(company_id: int, key: str, url: str, policy: RetryPolicy) -> BillxClient:
    return BillxClient(company_id=company_id, api_key=key, base_url=url, policy=policy)


SOURCES: dict[str, Source] = {
    "billingo": Source(
        name="billingo",
        display="Billingo",
        mapping=BILLINGO_MAPPING,
        open_client=_billingo_client,
        pages=lambda client, known, remembered: client.document_pages(  # type: ignore[attr-defined]
            remembered=remembered
        ),
        plan_incremental=billingo_incremental.plan,
        incremental_pages=billingo_incremental.pages,  # type: ignore[arg-type]
    ),
    "billx": Source(
        name="billx",
        display="BillX",
        mapping=BILLX_MAPPING,
        open_client=_billx_client,
        pages=lambda client, known, remembered: client.sync_pages(known),  # type: ignore[attr-defined]
        listing_hashes=True,
        store_extras=billx_catalog.store,
        plan_incremental=billx_incremental.plan,
        incremental_pages=billx_incremental.pages,  # type: ignore[arg-type]
    ),
}


@dataclass
class ExtractOutcome:
    log_id: int
    metrics: log.SyncMetrics
    seconds: float
    failure: str | None = None
    mode: str = log.FULL  # what the sync did
    mode_reason: str | None = None  # why it is not what was asked


def _increment(
    wh: Warehouse, source: Source, company_id: int, mode: str
) -> tuple[Increment | None, str | None]:
    """For an incremental request: where it continues from, or (None, why it runs full)."""
    if mode not in log.MODES:
        raise ValueError(f"unknown sync mode {mode!r}: expected one of {', '.join(log.MODES)}")
    if mode == log.FULL:
        return None, None
    if source.incremental_pages is None or source.plan_incremental is None:
        return None, f"incremental sync requested, but {source.display} has none: ran a full sync"
    with wh.write() as con:
        since = log.last_completed_start(con, company_id, source.name)
        if since is None:
            return None, (
                f"incremental sync requested, but no {source.display} sync of company "
                f"{company_id} has COMPLETED yet: ran a full sync"
            )
        return Increment(since, hints=source.plan_incremental(con, company_id)), None


def extract_company(
    wh: Warehouse,
    source: Source,
    company_id: int,
    *,
    run_id: str | None,
    sync_type: str,
    policy: RetryPolicy,
    mode: str = log.FULL,
) -> ExtractOutcome | None:
    """Fetch, validate and store one company's documents; None when the source is not set up.

    ``mode`` 'full' lists every document; a full sync that ends COMPLETED marks stored
    documents it did not see as deleted (``sync/deletions.py``). 'incremental' continues
    from the last COMPLETED sync with the source's incremental pages, or runs a full sync
    (saying why in the sync log) when there is none. Any sync clears the deletion mark of a
    document it lists again. Any failure closes the sync log as FAILED with a one-line
    reason and is returned (not raised), so the caller decides how the run reports it.
    """
    configured = eligibility.allowed_settings(wh, company_id, source.name)
    if configured is None:  # not set up, inactive, or its feature is off: never synced
        return None
    started = time.monotonic()
    increment, reason = _increment(wh, source, company_id, mode)
    done = log.INCREMENTAL if increment is not None else log.FULL
    log_id = log.start(
        wh,
        company_id=company_id,
        source=source.name,
        sync_type=sync_type,
        run_id=run_id,
        mode=done,
        mode_reason=reason,
    )
    metrics = log.SyncMetrics()
    client: SourceClient | None = None
    remembered: page_windows.TakenPages | None = None
    try:
        config.check_sync_settings()  # a bad setting fails the sync now, not mid-way
        known: dict[int, str] = {}
        with wh.write() as con:
            if source.listing_hashes:
                known = listing_hashes(con, source.name, company_id)
            remembered = page_windows.take(con, source.name, company_id)
        key = settings_store.api_key(wh, company_id, source.name)
        client = source.open_client(company_id, key, configured.effective_base_url, policy)
        del key
        if increment is not None and source.incremental_pages is not None:
            pages = source.incremental_pages(client, known, increment)
        else:
            pages = source.pages(client, known, remembered)
        listed = extract(
            wh,
            source.mapping,
            company_id,
            log_id,
            pages,
            remembered,
            lambda: client.api_calls if client else 0,
            metrics,
            batch_documents=config.batch_documents(),
        )
        if source.store_extras is not None:
            with wh.write() as con:
                source.store_extras(con, client, company_id)
        with wh.write(memory_limit=SCAN_MEMORY) as con:  # reads every stored id
            deletions.restore_listed(con, source.name, company_id, listed)
            if increment is None and not metrics.errors:  # a full crawl that will COMPLETE
                if not listed and deletions.any_stored(con, source.name, company_id):
                    # An empty listing of an account with documents is far likelier an API
                    # fault than every document deleted: nothing is marked, the sync PARTIAL.
                    metrics.errors.append(
                        {
                            "invoice_id": None,
                            "invoice_number": None,
                            "error": f"{source.display} listed no documents for company "
                            f"{company_id} although the warehouse holds some: none was "
                            "marked deleted",
                        }
                    )
                else:
                    metrics.invoices_deleted = deletions.mark_unseen(
                        con, source.name, company_id, listed
                    )
                log.record(con, log_id, metrics)
            if increment is not None and increment.changes_since is not None:
                log.record_changes_since(con, log_id, increment.changes_since)
    except Exception as exc:  # every failure becomes a FAILED sync with its reason
        failure = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        metrics.api_calls_made = client.api_calls if client else metrics.api_calls_made
        with wh.write(publish=True) as con:
            log.record(con, log_id, metrics)
            log.finish(con, log_id, failure=failure)
        seconds = time.monotonic() - started
        return ExtractOutcome(log_id, metrics, seconds, failure, done, reason)
    finally:
        if client is not None:
            client.close()
        if remembered is not None:
            remembered.close()
    return ExtractOutcome(log_id, metrics, time.monotonic() - started, None, done, reason)


def normalize_company(
    wh: Warehouse, company_id: int, run_id: str | None
) -> dict[str, tuple[int, int]]:
    """Rebuild invoices and lines of every raw document of the company whose normalized
    version lags, in one transaction (normally none: batches normalize as they load). Lines
    written here add to ``items_extracted`` of this run's sync logs."""
    counts: dict[str, tuple[int, int]] = {}
    with wh.write() as con:
        for source in SOURCES.values():
            counts[source.name] = normalize_pending(con, source.mapping, company_id)
            if counts[source.name][0] and deletions.any_marked(con, source.name, company_id):
                deletions.copy_marks(con, source.name, company_id)  # rebuilt rows are unmarked
            if run_id is not None:
                con.execute(
                    "UPDATE sync_logs SET items_extracted = items_extracted + ? "
                    "WHERE run_id = ? AND company_id = ? AND source = ? AND status = 'RUNNING'",
                    [counts[source.name][1], run_id, company_id, source.name],
                )
    return counts


def finish_run(
    wh: Warehouse, company_id: int, run_id: str, failure: str | None = None
) -> list[str]:
    """Close this run's RUNNING sync logs of the company and publish the read snapshot;
    returns their final statuses."""
    with wh.write(publish=True) as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT id FROM sync_logs "
                "WHERE run_id = ? AND company_id = ? AND status = 'RUNNING'",
                [run_id, company_id],
            ).fetchall()
        ]
        return [log.finish(con, log_id, failure=failure) for log_id in ids]
