"""Deterministic, realistic BillX accounts: Hungarian customers, ~30 products and N invoices.

Everything comes from one ``random.Random(seed)`` and the emulator's ``today``: the same seed,
size and day give byte-identical data. Invoices are dated over the last two years (a shorter,
recent stretch for small accounts, so that even 60 invoices include open, overdue and paid
ones), numbered in date order from the account's series, with 1-20 lines (2.6 on average) whose
amounts are computed in ``Decimal`` exactly like a POST's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from invoice_pipeline.emulators import billingo_names as n
from invoice_pipeline.emulators.billingo_data import ITEM_COUNT, Picker
from invoice_pipeline.emulators.billx_catalog import VAT_RATE, make_customer, make_products
from invoice_pipeline.emulators.billx_invoice import (
    ABC_SERIES_ID,
    CENT,
    DEFAULT_SERIES_ID,
    PROFORMA_SERIES_ID,
    Series,
    default_series,
    draft_number,
    line_amounts,
    render,
    render_item,
    served_status,
)
from invoice_pipeline.emulators.billx_json import dumps

Doc = dict[str, Any]
TWO_YEARS = 730
EUR_HUF = 395  # the rate at which catalogue prices are converted for EUR invoices
INVOICE_TYPE = Picker([("invoice", 88), ("proforma", 7), ("draft", 5)])
PAYMENT_METHOD = Picker([("transfer", 70), ("card", 15), ("cash", 15)])
UNIT = Picker(n.UNITS)


@dataclass
class InvoiceRecord:
    """One served invoice: its list entry and detail as bytes; ``due_date`` is set while the
    served status follows today (unpaid before the due date, overdue after it)."""

    id: int
    summary: bytes
    detail: bytes
    due_date: str | None = None


@dataclass
class AccountData:
    """Generator state of one account, shared with its POSTs (ids, series counters)."""

    customers: dict[int, Doc]  # by id, ascending
    customer_js: dict[int, bytes]  # the same, rendered
    products: dict[int, Doc]
    customer_ids: list[int] = field(default_factory=list)  # for picking one by index
    series: dict[int, Series] = field(default_factory=default_series)
    records: list[InvoiceRecord] = field(default_factory=list)  # creation order, oldest first
    next_invoice_id: int = 1
    next_item_id: int = 1


def _line(
    pid: int | None, name: str, unit: str, price: int, rate: int, tenths: int, eur: bool
) -> tuple[str, Decimal, Decimal]:
    """(the rendered line after its id, net, VAT) for a HUF catalogue price."""
    unit_price = (Decimal(price) / EUR_HUF).quantize(CENT, ROUND_HALF_UP) if eur else price
    quantity = tenths // 10 if tenths % 10 == 0 else Decimal(tenths) / 10
    net, vat, gross = line_amounts(quantity, unit_price, rate)
    item = {"id": 0, "product_id": pid, "name": name, "unit": unit, "quantity": quantity}
    item.update(unit_price=unit_price, vat_rate=rate, net_amount=net, vat_amount=vat)
    item["gross_amount"] = gross
    text = render_item(item)
    return text[text.index(",") :], net, vat


class BillxGenerator:
    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.set_today(today)
        self._lines: dict[tuple[Any, ...], tuple[str, Decimal, Decimal]] = {}
        self._iso: dict[int, str] = {}

    def set_today(self, today: date) -> None:
        self.today = today
        self.today_iso = today.isoformat()

    def generate(self, invoices: int) -> AccountData:
        rng = self.rng
        span = min(TWO_YEARS, 30 + invoices // 2)
        start = self.today.toordinal() - span
        customers = {}
        for cid in range(1, max(3, round(invoices / 5)) + 1):
            day = date.fromordinal(start - 1 - int(rng.random() * 90))
            customers[cid] = make_customer(rng, cid, f"{day} {self._clock()}")
        data = AccountData(customers, {i: dumps(c) for i, c in customers.items()}, {})
        data.customer_ids = list(customers)
        data.products = make_products(rng)
        for i in range(invoices):
            day = start + 1 + span * i // invoices
            self.add(data, date.fromordinal(day))
        return data

    def _clock(self) -> str:
        r = self.rng.random
        return f"{8 + int(r() * 10):02d}:{int(r() * 60):02d}:{int(r() * 60):02d}"

    def _day(self, ordinal: int) -> str:
        iso = self._iso.get(ordinal)
        if iso is None:
            iso = self._iso[ordinal] = date.fromordinal(ordinal).isoformat()
        return iso

    def add(self, data: AccountData, day: date, invoice_type: str | None = None) -> InvoiceRecord:
        """Generate one invoice dated ``day`` and append it as the newest."""
        rng = self.rng
        r = rng.random
        inv_type = invoice_type or INVOICE_TYPE(r())
        method = PAYMENT_METHOD(r())
        eur = r() < 0.08
        ids = data.customer_ids
        customer_id = ids[int(len(ids) * r() ** 1.5)]
        items, net, vat = self._items(data, ITEM_COUNT(r()), eur)
        ordinal = day.toordinal()
        due = ordinal + (0 if method != "transfer" else (8, 15, 30)[int(r() * 3)])
        status, paid = self._status(inv_type, method, ordinal, due)
        inv_iso, due_iso = self._day(ordinal), self._day(due)
        if inv_type == "draft":
            block, number = None, draft_number(rng.getrandbits(36))
        else:
            block = PROFORMA_SERIES_ID if inv_type == "proforma" else DEFAULT_SERIES_ID
            block = ABC_SERIES_ID if block == DEFAULT_SERIES_ID and r() < 0.15 else block
            number = data.series[block].take(day.year)
        if r() < 0.97:
            data.next_invoice_id += 1
        else:  # a deleted draft leaves a gap
            data.next_invoice_id += 2 + int(r() * 3)
        notes = ""
        if r() < 0.55:
            notes = rng.choice(n.COMMENTS).replace("{year}", inv_iso[:4])
            notes = notes.replace("{n}", str(1 + int(r() * 400)))
        inv = {
            "id": data.next_invoice_id - 1,
            "invoice_number": number,
            "invoice_type": inv_type,
            "block_id": block,
            "invoice_date": inv_iso,
            "fulfillment_date": self._day(ordinal - int(r() * 9)),
            "due_date": due_iso,
            "status": served_status(status, due_iso, self.today_iso),
            "payment_method": method,
            "total_net": net,
            "total_vat": vat,
            "total_gross": net + vat,
            "currency": "EUR" if eur else "HUF",
            "exchange_rate": Decimal(39000 + int(r() * 2001)) / 100 if eur else 1,
            "customer": data.customers[customer_id],
            "created_at": f"{inv_iso} {self._clock()}",
            "notes": notes,
            "paid_date": self._day(paid) if paid else None,
        }
        summary, detail = render(inv, data.customer_js[customer_id], items)
        record = InvoiceRecord(inv["id"], summary, detail, due_iso if status == "unpaid" else None)
        data.records.append(record)
        return record

    def _items(self, data: AccountData, count: int, eur: bool) -> tuple[str, Any, Any]:
        """(rendered lines, net total, VAT total); 75% catalogue products, the rest free text
        lines. A line's text after its id is cached: catalogue lines repeat a lot."""
        r = self.rng.random
        products = data.products
        cache = self._lines
        out = []
        net_total = vat_total = Decimal(0)
        for _ in range(count):
            if r() < 0.75:
                p = products[1 + int(r() * len(products))]
                pid, name, unit = p["id"], p["name"], p["unit"]
                price, rate = p["price"], p["vat_rate"]
            else:
                pid, unit, rate = None, UNIT(r()), VAT_RATE(r())
                name = self.rng.choice(n.FREE_LINES).replace("{month}", str(1 + int(r() * 12)))
                price = (1 + int(r() * 500)) * 1000
            if unit in ("óra", "kg") and r() < 0.3:
                tenths = 5 + int(r() * 196)
            else:
                tenths = 10 * (1 + int(r() ** 4 * 20))
            key = (pid, name, unit, price, rate, tenths, eur)
            line = cache.get(key)
            if line is None:
                line = cache[key] = _line(pid, name, unit, price, rate, tenths, eur)
            text, net, vat = line
            out.append(f'{{"id":{data.next_item_id}{text}')
            data.next_item_id += 1
            net_total += net
            vat_total += vat
        return ",".join(out), net_total, vat_total

    def _status(self, inv_type: str, method: str, day: int, due: int) -> tuple[str, int | None]:
        """(stored status, paid date ordinal or None); ``unpaid`` is served as ``overdue`` once
        the due date has passed."""
        r = self.rng.random
        if inv_type == "draft":
            return "draft", None
        if r() < 0.02:
            return "cancelled", None
        if method != "transfer":
            return "paid", day
        today = self.today.toordinal()
        late = today - due
        p_paid = 0.93 if late > 30 else 0.8 if late > 0 else 0.25
        x = r()
        if x < p_paid:
            return "paid", min(today, day + int(r() * (due - day + 10)))
        if x < p_paid + 0.04:
            return "partially_paid", None
        return "unpaid", None
