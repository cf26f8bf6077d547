"""One Billingo account (one API key): its documents and partners, the page cache, and the
changes a test makes between two syncs.

Documents are kept in creation order as ``DocRecord``s (JSON bytes + indexed fields). A list
page's ``data`` part is cached as bytes per (filters, per_page, page); the small envelope tail
with the absolute URLs is added per request, so the cache does not depend on the server's port.
Any change swaps in an empty cache (lazy re-rendering); readers take the cache object once, so
they always see one consistent generation.

Every record carries its modification time (``DocRecord.modified``, from the emulator's
clock): generated documents were modified before the account existed (issued, then paid;
``billingo_clock.generated_modified``), and every change a test makes stamps the documents it
touches (a cancellation both the original and the new cancellation document), unless a test
asks for a change the server does not stamp (``update_document(..., touch=False)``).
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from invoice_pipeline.emulators.billingo_catalog import AccountData
from invoice_pipeline.emulators.billingo_clock import generated_modified
from invoice_pipeline.emulators.billingo_data import BillingoDataGenerator
from invoice_pipeline.emulators.billingo_json import DocRecord, encode
from invoice_pipeline.emulators.billingo_query import Filters, predicate

Doc = dict[str, Any]
PRERENDER_PER_PAGE = 100
_CACHE_BUDGET_BYTES = 1 << 30  # filtered crawls are dropped beyond this; they re-render lazily


class _Cache:
    __slots__ = ("chunks", "filtered", "size")

    def __init__(self) -> None:
        self.chunks: dict[tuple[Filters, int, int], tuple[bytes, int]] = {}
        self.filtered: dict[Filters, list[DocRecord]] = {}
        self.size = 0


def page_slice(seq: Sequence[Any], per_page: int, page: int, newest_last: bool) -> list[Any]:
    """Page ``page`` of ``seq`` listed newest first; ``newest_last`` when ``seq`` is in creation
    order (then the page is cut from the end and reversed without copying the whole list)."""
    if not newest_last:
        return list(seq[(page - 1) * per_page : page * per_page])
    hi = len(seq) - (page - 1) * per_page
    if hi <= 0:
        return []
    return list(reversed(seq[max(0, hi - per_page) : hi]))


class BillingoAccount:
    def __init__(self, docs: int, seed: int, today: date, clock: Callable[[], int]) -> None:
        """``clock`` is the emulator's clock in epoch seconds (modification times)."""
        self.generator = BillingoDataGenerator(seed, today)
        self.data: AccountData = self.generator.generate(docs)
        self.records = self.data.records  # creation order, oldest first
        self.clock = clock
        created = clock()
        for record in self.records:
            record.modified = generated_modified(
                record.id, record.invoice_date, record.paid_date, created
            )
        self.positions = {record.id: i for i, record in enumerate(self.records)}
        self.partner_bodies = [encode(p) for p in self.data.partners]
        self.lock = threading.RLock()
        self._cache = _Cache()
        last_page = max(1, -(-len(self.records) // PRERENDER_PER_PAGE))
        for page in range(1, last_page + 1):
            self.document_chunk((), PRERENDER_PER_PAGE, page)

    # -- reading ---------------------------------------------------------------------------

    def document_chunk(self, filters: Filters, per_page: int, page: int) -> tuple[bytes, int]:
        """(the page's documents joined by commas, the filtered total)."""
        cache = self._cache
        hit = cache.chunks.get((filters, per_page, page))
        if hit is not None:
            return hit
        with self.lock:
            cache = self._cache
            hit = cache.chunks.get((filters, per_page, page))
            if hit is not None:
                return hit
            if filters:
                matches = cache.filtered.get(filters)
                if matches is None:
                    test = predicate(filters)
                    matches = [r for r in reversed(self.records) if test(r)]
                    cache.filtered[filters] = matches
                selected = page_slice(matches, per_page, page, newest_last=False)
                total = len(matches)
            else:
                selected = page_slice(self.records, per_page, page, newest_last=True)
                total = len(self.records)
            chunk = b",".join([r.body for r in selected])
            if cache.size + len(chunk) > _CACHE_BUDGET_BYTES:
                cache.chunks.clear()
                cache.size = 0
            cache.chunks[(filters, per_page, page)] = (chunk, total)
            cache.size += len(chunk)
            return chunk, total

    def partner_chunk(self, per_page: int, page: int) -> tuple[bytes, int]:
        selected = page_slice(self.partner_bodies, per_page, page, newest_last=True)
        return b",".join(selected), len(self.partner_bodies)

    def document_body(self, doc_id: int) -> bytes | None:
        pos = self.positions.get(doc_id)
        return None if pos is None else self.records[pos].body

    def modified_at(self, doc_id: int) -> int:
        return self.records[self._position(doc_id)].modified

    def documents(self) -> list[Any]:
        """Every document as served, newest first, freshly parsed (callers may mutate them).
        The cyclic GC is paused meanwhile: parsing 100k documents is ~2x faster without it."""
        with self.lock:
            bodies = [r.body for r in reversed(self.records)]
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return [json.loads(body.decode("utf-8", errors="replace")) for body in bodies]
        finally:
            if was_enabled:
                gc.enable()

    # -- changes ---------------------------------------------------------------------------

    def _put(self, record: DocRecord, position: int | None = None, touch: bool = True) -> None:
        """Store ``record`` (replace at ``position`` or append as newest) modified now, or
        (``touch=False``) keeping the replaced record's modification time (a new one gets
        none: epoch 0, never matched by ``last_modified_date``); drop the cache."""
        if touch:
            record.modified = self.clock()
        else:
            record.modified = 0 if position is None else self.records[position].modified
        if position is None:
            self.positions[record.id] = len(self.records)
            self.records.append(record)
        else:
            self.records[position] = record
        self._cache = _Cache()

    def _position(self, doc_id: int) -> int:
        pos = self.positions.get(doc_id)
        if pos is None:
            raise KeyError(f"no document with id {doc_id}")
        return pos

    def pay(self, doc_id: int, paid_date: date | None = None, touch: bool = True) -> Doc:
        with self.lock:
            pos = self._position(doc_id)
            doc = self.records[pos].to_dict()
            doc["payment_status"] = "paid"
            doc["paid_date"] = (paid_date or self.today).isoformat()
            self._put(DocRecord.from_dict(doc_id, doc), pos, touch=touch)
            return doc

    def cancel(self, doc_id: int, touch: bool = True) -> Doc:
        """Flip ``cancelled`` on the original (stamped unless ``touch=False``) and add its
        cancellation document (stamped)."""
        with self.lock:
            pos = self._position(doc_id)
            original = self.records[pos].to_dict()
            if original.get("cancelled") is True:
                raise ValueError(f"document {doc_id} is already cancelled")
            original["cancelled"] = True
            self._put(DocRecord.from_dict(doc_id, original), pos, touch=touch)
            storno = self.generator.cancellation(self.data, original, self.today)
            self._put(DocRecord.from_dict(storno["id"], storno))
            return storno

    def add_document(self, touch: bool = True, **overrides: Any) -> Doc:
        doc_type = overrides.get("type", "invoice")
        if doc_type not in ("invoice", "proforma", "draft", "advance", "receipt"):
            doc_type = "invoice"
        with self.lock:
            record = self.generator.record(self.data, doc_type, self.today)
            doc = record.to_dict()
            if overrides:
                doc.update(overrides)
                doc_id = doc["id"] if isinstance(doc.get("id"), int) else record.id
                record = DocRecord.from_dict(doc_id, doc)
            self._put(record, touch=touch)
            return doc

    def replace_document(self, doc_id: int, raw: Any) -> None:
        with self.lock:
            self._put(DocRecord.from_dict(doc_id, raw, raw=True), self._position(doc_id))

    def update_document(self, doc_id: int, fields: dict[str, Any], touch: bool = True) -> Doc:
        """Set ``fields`` of the document (a status change, a NAV status ...); ``touch=False``
        is a change the server does not stamp: ``last_modified_date`` does not see it."""
        with self.lock:
            pos = self._position(doc_id)
            doc = self.records[pos].to_dict()
            if not isinstance(doc, dict):
                raise ValueError(f"document {doc_id} was replaced by something not an object")
            doc.update(fields)
            self._put(DocRecord.from_dict(doc_id, doc), pos, touch=touch)
            return doc

    def delete_document(self, doc_id: int) -> None:
        """Remove the document: no listing, filter or GET serves it any more."""
        with self.lock:
            del self.records[self._position(doc_id)]
            self.positions = {record.id: i for i, record in enumerate(self.records)}
            self._cache = _Cache()

    def reorder(self, doc_ids: list[int]) -> None:
        """Serve the same documents in the order ``doc_ids`` (newest first)."""
        with self.lock:
            if sorted(doc_ids) != sorted(self.positions):
                raise ValueError("doc_ids must list every document of the account once")
            by_id = {record.id: record for record in self.records}
            self.records[:] = [by_id[doc_id] for doc_id in reversed(doc_ids)]
            self.positions = {record.id: i for i, record in enumerate(self.records)}
            self._cache = _Cache()

    @property
    def today(self) -> date:
        return self.generator.today

    def set_today(self, today: date) -> None:
        """Move the served ``paid_date`` of every unpaid document to the new today."""
        with self.lock:
            old = b'"paid_date":"%s"' % self.generator.today_iso.encode()
            self.generator.set_today(today)
            new = b'"paid_date":"%s"' % self.generator.today_iso.encode()
            if old != new:
                for record in self.records:
                    if record.follows_today:
                        record.body = record.body.replace(old, new, 1)
                self._cache = _Cache()
