"""Deterministic, realistic Billingo v3 documents, generated straight to their JSON bytes.

Everything comes from one ``random.Random(seed)`` and the emulator's ``today``: same seed,
size and day give byte-identical documents. Speed matters (100,000 documents in seconds), so
the hot path writes each document through f-string templates with pre-escaped vocabulary and
pre-rendered shared parts (partner, organization, settings, repeated product lines) and keeps
only a small ``DocRecord`` (the fields the filters need) next to the bytes. Money is integer
cents rounded half up per line (see ``billingo_json`` for why the text is exact).
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from invoice_pipeline.emulators import billingo_names as n
from invoice_pipeline.emulators.billingo_catalog import AccountData, Block, make_account
from invoice_pipeline.emulators.billingo_json import DocRecord, encode, encode_str, money, round_div
from invoice_pipeline.emulators.billingo_lines import (
    render_line,
    render_summary,
    settings,
    storno,
)

Doc = dict[str, Any]
TWO_YEARS = 730


class Picker:
    """Weighted choice by table lookup: one ``random()`` and one index, ~10x ``choices``."""

    __slots__ = ("size", "table")

    def __init__(self, pairs: list[tuple[Any, int]]) -> None:
        self.table = [value for value, weight in pairs for _ in range(weight)]
        self.size = len(self.table)

    def __call__(self, x: float) -> Any:
        return self.table[int(x * self.size)]


DOC_TYPE = Picker(n.DOC_TYPES)
PAYMENT_METHOD = Picker(n.PAYMENT_METHODS)
VAT = Picker(n.VATS)
UNIT = Picker(n.UNITS)
NOTIFICATION = Picker(n.NOTIFICATION)
NAV_STATUS = Picker(n.NAV_STATUS)
LANGUAGE = Picker(n.LANGUAGES)
# 1..20 lines, geometric-like: mostly 1-3, mean about 2.6.
ITEM_COUNT = Picker([(k, max(1, round(1000 * 0.62 ** (k - 1)))) for k in range(1, 21)])

FREE_LINES_JS = [encode_str(line) for line in n.FREE_LINES]
COMMENTS_JS = [encode_str(c) for c in n.COMMENTS]


class BillingoDataGenerator:
    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.set_today(today)
        self._settings: dict[tuple[str, str], bytes] = {}
        self._line_cache: dict[tuple[int, int, int, bool], tuple[bytes, int, int, str]] = {}
        self._iso_cache: dict[int, str] = {}

    def set_today(self, today: date) -> None:
        self.today = today
        self.today_iso = today.isoformat()
        self.today_ordinal = today.toordinal()

    def generate(self, docs: int) -> AccountData:
        """An account with exactly ``docs`` documents, invoice dates up to today over the last
        2 years (a shorter, recent stretch for small accounts, about two documents a day, so
        that even 50 documents include open, overdue and paid ones); about 1% of invoices are
        cancelled, each followed by its cancellation document."""
        rng = self.rng
        data = make_account(rng, max(10, docs // 20), VAT)
        span = min(TWO_YEARS, 30 + docs // 2)
        start = self.today_ordinal - span
        out = data.records
        while len(out) < docs:
            day = start + 1 + span * len(out) // docs
            doc_type = DOC_TYPE(rng.random())
            cancel = doc_type == "invoice" and len(out) + 1 < docs and rng.random() < 0.01
            record = self._record(data, doc_type, day, cancel)
            out.append(record)
            if cancel:
                storno = self.cancellation(data, record.to_dict(), date.fromordinal(day))
                out.append(DocRecord.from_dict(storno["id"], storno))
        return data

    def new_id(self, data: AccountData) -> int:
        """Ids grow with creation, with gaps (other accounts' documents in between)."""
        data.next_id += 1 + int(self.rng.expovariate(1 / 40))
        return data.next_id

    def record(self, data: AccountData, doc_type: str, day: date) -> DocRecord:
        """A new document of ``doc_type`` dated ``day`` (not appended to ``data``)."""
        return self._record(data, doc_type, day.toordinal(), False)

    def _iso(self, ordinal: int) -> str:
        iso = self._iso_cache.get(ordinal)
        if iso is None:
            iso = self._iso_cache[ordinal] = date.fromordinal(ordinal).isoformat()
        return iso

    def _record(self, data: AccountData, doc_type: str, day: int, cancelled: bool) -> DocRecord:
        rng = self.rng
        r = rng.random
        eur = r() < 0.10
        currency = "EUR" if eur else "HUF"
        rate = 37500 + int(r() * 4000) if eur else 100  # hundredths
        pi = int(len(data.partners) * r() ** 1.5)
        method = PAYMENT_METHOD(r())
        if doc_type == "receipt":
            method = "cash" if r() < 0.6 else "bankcard"
        items, summary, gross = self._items(data, ITEM_COUNT(r()), eur, rate)
        due = day + 8 + int(r() * 23)
        status, paid = self._payment(doc_type, method, day, due)
        block = self._block(data, doc_type)
        electronic = r() < 0.7
        doc_id = self.new_id(data)
        iso = self._iso
        inv = iso(day)
        paid_iso = iso(paid) if paid else None
        nav = NAV_STATUS(r()) if doc_type != "draft" else "not_checked"
        lang = ("en" if r() < 0.7 else "hu") if eur else LANGUAGE(r())
        # ASCII parts go through f-strings, the shared (non-ASCII) parts are joined as bytes.
        head = (
            f'{{"id":{doc_id},"invoice_number":"{block.next_number(int(inv[:4]))}",'
            f'"type":"{doc_type}","cancelled":{"true" if cancelled else "false"},'
            f'"block_id":{block.id},"payment_status":"{status}","payment_method":"{method}",'
            f'"gross_total":{money(gross)},"currency":"{currency}",'
            f'"conversion_rate":{money(rate)},"invoice_date":"{inv}",'
            f'"fulfillment_date":"{iso(day + int(r() * 11) - 7)}",'
            f'"due_date":"{iso(due)}","paid_date":"{paid_iso or self.today_iso}",'
            f'"organization":'
        )
        comment = self._comment(inv[:4]) if r() < 0.3 else '""'
        notification = NOTIFICATION(r()) if electronic else "none"
        middle = (
            f',"electronic":{"true" if electronic else "false"},"comment":{comment},"tags":[],'
            f'"notification_status":"{notification}","language":"{lang}","items":['
        )
        tail = (
            f',"online_szamla_status":"{nav}","related_documents":[],'
            f'"discount":{self._discount() if r() < 0.03 else "null"},'
            f'"correction_type":"{doc_type}","recurring_id":null}}'
        )
        body = b"".join(
            (
                head.encode(),
                data.organizations[currency],
                b',"partner":',
                data.partner_js[pi],
                b',"document_partner":',
                data.doc_partner_js[pi],
                middle.encode(),
                items,
                b'],"summary":',
                summary,
                b',"settings":',
                self._settings_js(doc_type, currency, r() < 0.1),
                tail.encode(),
            )
        )
        return DocRecord(
            doc_id,
            body,
            doc_type,
            status,
            method,
            inv,
            paid_iso,
            block.id,
            data.partners[pi]["id"],
            paid_iso is None,
        )

    def cancellation(self, data: AccountData, original: Doc, day: date) -> Doc:
        """The storno of ``original`` dated ``day``: same lines, negated quantities and amounts."""
        block = data.blocks["invoice"][0]
        number = block.next_number(day.year)
        return storno(original, self.new_id(data), number, block.id, day, self.today_iso)

    def _items(
        self, data: AccountData, count: int, eur: bool, rate: int
    ) -> tuple[bytes, bytes, int]:
        """(rendered items, rendered summary, gross total in cents)."""
        r = self.rng.random
        products = data.products
        cache = self._line_cache
        out = []
        groups: dict[str, list[int]] = {}
        gross_total = 0
        for _ in range(count):
            if r() < 0.7:
                pidx = int(r() * len(products))
                adj = 0 if eur or r() >= 0.05 else (1 + int(r() * 3)) * 25
                q10 = self._quantity(products[pidx][2])
                key = (pidx, q10, adj, eur)
                line = cache.get(key)
                if line is None:
                    pid, name, unit, vat_name, sku, ean, price = products[pidx]
                    price = round_div(price, 390) if eur else price + adj
                    line = cache[key] = render_line(
                        pid, name, unit, vat_name, sku, ean, price, q10, eur
                    )
            else:
                name = FREE_LINES_JS[int(r() * len(FREE_LINES_JS))]
                name = name.replace("{month}", str(1 + int(r() * 12)))
                unit, vat_name = UNIT(r()), VAT(r())
                price = (10 + int(r() * 4990)) * 10_000
                price = round_div(price, 390) if eur else price
                q10 = self._quantity(unit)
                line = render_line("null", name, unit, vat_name, '""', '""', price, q10, eur)
            text, net, gross, vat_name = line
            out.append(text)
            gross_total += gross
            group = groups.get(vat_name)
            if group is None:
                groups[vat_name] = [net]
            else:
                group[0] += net
        return b",".join(out), render_summary(groups, 1 if eur else 100, rate), gross_total

    def _quantity(self, unit: str) -> int:
        """Tenths: hours and kilograms are sometimes fractional, others mostly 1."""
        r = self.rng.random
        if unit in ("óra", "kg") and r() < 0.3:
            return 5 + int(r() * 196)
        return 10 + 10 * int(r() ** 4 * 20)

    def _payment(self, doc_type: str, method: str, day: int, due: int) -> tuple[str, int | None]:
        """(payment_status, real paid date or None), dates as ordinals."""
        if doc_type == "draft":
            return "none", None
        if method in ("cash", "bankcard") or doc_type == "receipt":
            return "paid", day
        today = self.today_ordinal
        overdue_days = today - due
        p_paid = 0.93 if overdue_days > 30 else 0.8 if overdue_days > 0 else 0.25
        x = self.rng.random()
        if x < p_paid + 0.03:
            paid = min(today, day + int(self.rng.random() * (due - day + 10)))
            return ("paid" if x < p_paid else "partially_paid"), paid
        return ("expired" if overdue_days > 0 else "outstanding"), None

    def _block(self, data: AccountData, doc_type: str) -> Block:
        blocks = data.blocks.get(doc_type) or data.blocks["invoice"]
        return blocks[0] if len(blocks) == 1 or self.rng.random() < 0.8 else blocks[1]

    def _comment(self, year: str) -> str:
        text = COMMENTS_JS[int(self.rng.random() * len(COMMENTS_JS))]
        number = str(1 + int(self.rng.random() * 400))
        return text.replace("{year}", year).replace("{n}", number)

    def _discount(self) -> str:
        return f'{{"type":"percent","value":{5 if self.rng.random() < 0.5 else 10}}}'

    def _settings_js(self, doc_type: str, currency: str, with_order: bool) -> bytes:
        if with_order:
            return encode(settings(doc_type, currency, f"PO-{self.rng.randint(10000, 99999)}"))
        key = (doc_type, currency)
        if key not in self._settings:
            self._settings[key] = encode(settings(doc_type, currency, ""))
        return self._settings[key]
