"""One BillX account (one API key): its customers, products and invoices, the page cache, the
POSTs, and the changes a test makes between two syncs.

Invoices are kept in creation order (ids ascending) as ``InvoiceRecord``s: list entry and
detail as JSON bytes. A whole list response is cached as bytes per (resource, page, per_page);
any change swaps in an empty cache, and readers take the cache object once, so they always
see one consistent generation. In test mode (the public test key) POSTs validate and compute
exactly like real ones but store nothing and use up no id or series number.
"""

from __future__ import annotations

import gc
import json
import random
import threading
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from invoice_pipeline.emulators.billingo_account import page_slice
from invoice_pipeline.emulators.billx_create import build_customer, build_invoice, build_product
from invoice_pipeline.emulators.billx_data import BillxGenerator, InvoiceRecord
from invoice_pipeline.emulators.billx_invoice import (
    INVOICE_TYPES,
    OPEN_STATUSES,
    served_status,
    summary_of,
)
from invoice_pipeline.emulators.billx_json import dumps, loads
from invoice_pipeline.emulators.billx_validate import (
    Errors,
    check_customer,
    check_invoice,
    check_product,
)

Doc = dict[str, Any]
TIMEZONE = ZoneInfo("Europe/Budapest")
_CACHE_BUDGET_BYTES = 256 << 20
_DERIVED: Any = object()  # replace_invoice: list entry derived from the detail


def local_now(today: date) -> str:
    """Budapest wall clock as naive text, on the emulator's ``today``."""
    now = datetime.now(TIMEZONE)
    return f"{today.isoformat()} {now:%H:%M:%S}"


def envelope(chunk: bytes, total: int, page: int, per_page: int) -> bytes:
    meta = b'],"meta":{"total":%d,"page":%d,"per_page":%d}}' % (total, page, per_page)
    return b"".join((b'{"data":[', chunk, meta))


def _record(detail: Any, follows: bool = True, summary: Any = _DERIVED) -> InvoiceRecord:
    """A record rendered from a detail dict (the served status follows today while open), or
    any JSON value, or ``bytes`` served verbatim (the list entry too, unless ``summary``)."""
    d = detail if isinstance(detail, dict) else {}
    open_ = follows and d.get("status") in OPEN_STATUSES and isinstance(d.get("due_date"), str)
    listed = summary_of(detail) if summary is _DERIVED else summary
    inv_id = d.get("id") if isinstance(d.get("id"), int) else 0
    body = detail if isinstance(detail, bytes) else dumps(detail)
    entry = listed if isinstance(listed, bytes) else dumps(listed)
    return InvoiceRecord(inv_id, entry, body, d["due_date"] if open_ else None)


class BillxAccount:
    def __init__(self, invoices: int, seed: int, today: date, test_mode: bool = False) -> None:
        self.generator = BillxGenerator(seed, today)
        self.data = self.generator.generate(invoices)
        self.records = self.data.records
        self.positions = {record.id: i for i, record in enumerate(self.records)}
        self.customer_bodies = list(self.data.customer_js.values())
        self.product_bodies = [dumps(p) for p in self.data.products.values()]
        self.test_mode = test_mode
        self.post_rng = random.Random(seed ^ 0x5EED)  # draft numbers of POSTs
        self.lock = threading.RLock()
        self._cache: dict[tuple[str, int, int], bytes] = {}
        self._cache_size = 0

    @property
    def today(self) -> date:
        return self.generator.today

    # -- reading ---------------------------------------------------------------------------

    def page(self, resource: str, page: int, per_page: int) -> bytes:
        """The whole list response: invoices newest first, customers and products by id."""
        key = (resource, page, per_page)
        cache = self._cache
        hit = cache.get(key)
        if hit is not None:
            return hit
        with self.lock:
            cache = self._cache
            if resource == "invoices":
                records = page_slice(self.records, per_page, page, newest_last=True)
                chunk, total = b",".join([r.summary for r in records]), len(self.records)
            else:
                bodies = self.customer_bodies if resource == "customers" else self.product_bodies
                chunk = b",".join(page_slice(bodies, per_page, page, newest_last=False))
                total = len(bodies)
            body = envelope(chunk, total, page, per_page)
            if self._cache_size + len(body) > _CACHE_BUDGET_BYTES:
                cache.clear()
                self._cache_size = 0
            cache[key] = body
            self._cache_size += len(body)
            return body

    def invoice_body(self, invoice_id: int) -> bytes | None:
        pos = self.positions.get(invoice_id)
        return None if pos is None else self.records[pos].detail

    def invoices(self) -> list[Any]:
        """Every invoice as its detail, newest first, parsed like a client's ``json.loads``.
        The cyclic GC is paused meanwhile: parsing 100k invoices is much faster without it."""
        with self.lock:
            bodies = [r.detail for r in reversed(self.records)]
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return [json.loads(body.decode("utf-8", errors="replace")) for body in bodies]
        finally:
            if was_enabled:
                gc.enable()

    def customers(self) -> list[Doc]:
        return [json.loads(body) for body in self.customer_bodies]

    def products(self) -> list[Doc]:
        return [json.loads(body) for body in self.product_bodies]

    # -- POSTs -----------------------------------------------------------------------------

    def _created(self, obj: Doc) -> bytes:
        return dumps({**obj, "test_mode": True} if self.test_mode else obj)

    def create_customer(self, body: Doc) -> tuple[bytes, Errors]:
        req, errors = check_customer(body)
        if errors:
            return b"", errors
        with self.lock:
            customer = build_customer(req, max(self.data.customers, default=0) + 1, self.now())
            if not self.test_mode:
                rendered = dumps(customer)
                self.data.customers[customer["id"]] = customer
                self.data.customer_js[customer["id"]] = rendered
                self.data.customer_ids.append(customer["id"])
                self.customer_bodies.append(rendered)
                self._changed()
            return self._created(customer), {}

    def create_product(self, body: Doc) -> tuple[bytes, Errors]:
        req, errors = check_product(body)
        if errors:
            return b"", errors
        with self.lock:
            product = build_product(req, max(self.data.products, default=0) + 1)
            if not self.test_mode:
                self.data.products[product["id"]] = product
                self.product_bodies.append(dumps(product))
                self._changed()
            return self._created(product), {}

    def create_invoice(self, body: Doc) -> tuple[bytes, Errors]:
        with self.lock:
            data = self.data
            req, errors = check_invoice(body, data.customers, data.products, data.series)
            if errors:
                return b"", errors
            draft_bits = self.post_rng.getrandbits(36)
            commit = not self.test_mode
            invoice = build_invoice(req, data, self.today, self.now(), draft_bits, commit)
            if commit:
                self._put(_record(invoice))
            return self._created(invoice), {}

    def now(self) -> str:
        return local_now(self.today)

    # -- changes ---------------------------------------------------------------------------

    def _changed(self) -> None:
        self._cache = {}
        self._cache_size = 0

    def _put(self, record: InvoiceRecord, position: int | None = None) -> None:
        """Store ``record`` (replace at ``position`` or append as the newest)."""
        if position is None:
            self.positions[record.id] = len(self.records)
            self.records.append(record)
        else:
            self.records[position] = record
        self._changed()

    def _detail(self, invoice_id: int) -> tuple[int, Doc]:
        pos = self.positions.get(invoice_id)
        if pos is None:
            raise KeyError(f"no invoice with id {invoice_id}")
        try:
            detail = loads(self.records[pos].detail)
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            raise ValueError(f"invoice {invoice_id} was replaced by something not an object")
        return pos, detail

    def pay(self, invoice_id: int, paid_date: date | None = None) -> Doc:
        with self.lock:
            pos, detail = self._detail(invoice_id)
            detail["status"] = "paid"
            detail["paid_date"] = (paid_date or self.today).isoformat()
            self._put(_record(detail), pos)
            return json.loads(self.records[pos].detail)

    def cancel(self, invoice_id: int) -> Doc:
        with self.lock:
            pos, detail = self._detail(invoice_id)
            if detail.get("status") == "cancelled":
                raise ValueError(f"invoice {invoice_id} is already cancelled")
            detail["status"] = "cancelled"
            self._put(_record(detail), pos)
            return json.loads(self.records[pos].detail)

    def add_invoice(self, **overrides: Any) -> Doc:
        """A new generated invoice dated today (the newest), with ``overrides`` applied to its
        detail; an overridden ``status`` stays as given (it no longer follows today)."""
        inv_type = overrides.get("invoice_type")
        inv_type = inv_type if inv_type in INVOICE_TYPES else None
        with self.lock:
            record = self.generator.add(self.data, self.today, inv_type)
            self.records.pop()  # generator.add appended it; _put indexes and invalidates
            if overrides:
                detail = {**loads(record.detail), **overrides}
                record = _record(detail, follows="status" not in overrides)
                record.id = record.id or self.data.next_invoice_id - 1
            self._put(record)
            return json.loads(record.detail)

    def replace_invoice(self, invoice_id: int, raw: Any, summary: Any = _DERIVED) -> None:
        """Serve ``raw`` as the detail of ``invoice_id`` exactly as given (for malformed-data
        tests; ``bytes`` verbatim); the list entry is derived from it unless ``summary`` is
        given."""
        with self.lock:
            pos = self.positions.get(invoice_id)
            if pos is None:
                raise KeyError(f"no invoice with id {invoice_id}")
            record = _record(raw, follows=False, summary=summary)
            record.id = invoice_id
            self._put(record, pos)

    def set_today(self, today: date) -> None:
        """Open invoices are served as ``overdue`` once their due date is before today."""
        with self.lock:
            old, new = self.generator.today_iso, today.isoformat()
            self.generator.set_today(today)
            changed = False
            for record in self.records:
                due = record.due_date
                if due is None:
                    continue
                was, now = served_status("unpaid", due, old), served_status("unpaid", due, new)
                if was != now:
                    a, b = b'"status":"%s"' % was.encode(), b'"status":"%s"' % now.encode()
                    record.summary = record.summary.replace(a, b, 1)
                    record.detail = record.detail.replace(a, b, 1)
                    changed = True
            if changed:
                self._changed()
