"""The BillX invoice: line arithmetic in ``Decimal``, invoice series (számlatömbök) and their
numbers, the served status, and the two wire shapes (list summary and detail).

``render`` is the fast path (f-string templates, used for generated data); it writes exactly
the bytes ``dumps`` would write for the same detail dict, so an invoice re-rendered after a
change (``dumps`` of the parsed detail) looks exactly like a generated one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from invoice_pipeline.emulators.billx_json import dumps, js, num

Doc = dict[str, Any]
CENT = Decimal("0.01")
VAT_RATES = (0, 5, 18, 27)
INVOICE_TYPES = ("invoice", "proforma", "draft")
PAYMENT_METHODS = ("transfer", "cash", "card")
STATUSES = ("unpaid", "paid", "partially_paid", "overdue", "cancelled", "draft")
OPEN_STATUSES = frozenset({"unpaid", "overdue"})  # the served one follows the emulator's today
#: Detail-only keys; the summary is the detail without them and with a short customer.
DETAIL_ONLY = ("notes", "paid_date", "items")
DEFAULT_SERIES_ID = 1  # used when a POST gives no block_id (pro formas: PROFORMA_SERIES_ID)
PROFORMA_SERIES_ID = 3
ABC_SERIES_ID = 5


def line_amounts(
    quantity: Decimal | int, unit_price: Decimal | int, vat_rate: int
) -> tuple[Decimal, Decimal, Decimal]:
    """(net, vat, gross) of one line: net = round(quantity x unit_price, 2), vat = round(net x
    rate / 100, 2), both half up; gross = net + vat."""
    net = (Decimal(quantity) * unit_price).quantize(CENT, ROUND_HALF_UP)
    vat = (net * vat_rate / 100).quantize(CENT, ROUND_HALF_UP)
    return net, vat, net + vat


def served_status(status: str, due_date: str, today_iso: str) -> str:
    """``unpaid`` and ``overdue`` are one state seen on two sides of the due date."""
    if status in OPEN_STATUSES:
        return "overdue" if due_date < today_iso else "unpaid"
    return status


@dataclass
class Series:
    """A számlatömb: ``BILLX-{year}/{n:04d}`` without a prefix, ``BILLX-{prefix}-{year}/...``
    with one; one counter per year, starting at 1."""

    id: int
    prefix: str
    name: str
    counters: dict[int, int] = field(default_factory=dict)

    def number(self, year: int, seq: int) -> str:
        head = f"BILLX-{self.prefix}-" if self.prefix else "BILLX-"
        return f"{head}{year}/{seq:04d}"

    def peek(self, year: int) -> str:
        """The next number, not used up (test mode)."""
        return self.number(year, self.counters.get(year, 0) + 1)

    def take(self, year: int) -> str:
        seq = self.counters.get(year, 0) + 1
        self.counters[year] = seq
        return self.number(year, seq)


def default_series() -> dict[int, Series]:
    """Every account has the same three series: 1 default, 3 pro forma, 5 "ABC"."""
    series = (
        Series(DEFAULT_SERIES_ID, "", "Alapértelmezett számlatömb"),
        Series(PROFORMA_SERIES_ID, "PROFORMA", "Díjbekérők"),
        Series(ABC_SERIES_ID, "ABC", "ABC üzletág"),
    )
    return {s.id: s for s in series}


def draft_number(bits: int) -> str:
    """``DRAFT-xxxxx-XXXX`` from 36 random bits."""
    return f"DRAFT-{bits >> 16:05x}-{bits & 0xFFFF:04X}"


def summary_of(detail: Any) -> Any:
    """The list entry of a detail object (anything else is listed as it is)."""
    if not isinstance(detail, dict):
        return detail
    out = {k: v for k, v in detail.items() if k not in DETAIL_ONLY}
    customer = out.get("customer")
    if isinstance(customer, dict):
        out["customer"] = {k: customer[k] for k in ("id", "name") if k in customer}
    return out


def render_item(item: Doc) -> str:
    pid = item["product_id"]
    return (
        f'{{"id":{item["id"]},"product_id":{"null" if pid is None else pid},'
        f'"name":{js(item["name"])},"unit":{js(item["unit"])},'
        f'"quantity":{num(item["quantity"])},"unit_price":{num(item["unit_price"])},'
        f'"vat_rate":{item["vat_rate"]},"net_amount":{num(item["net_amount"])},'
        f'"vat_amount":{num(item["vat_amount"])},"gross_amount":{num(item["gross_amount"])}}}'
    )


def render(
    inv: Doc, customer_js: bytes | None = None, items_js: str | None = None
) -> tuple[bytes, bytes]:
    """(summary bytes, detail bytes) of a detail dict in the canonical shape; the pre-rendered
    customer and items may be passed in to save work."""
    c = inv["customer"]
    block = inv["block_id"]
    head = (
        f'{{"id":{inv["id"]},"invoice_number":{js(inv["invoice_number"])},'
        f'"invoice_type":"{inv["invoice_type"]}","block_id":{"null" if block is None else block},'
        f'"invoice_date":"{inv["invoice_date"]}","fulfillment_date":"{inv["fulfillment_date"]}",'
        f'"due_date":"{inv["due_date"]}","status":"{inv["status"]}",'
        f'"payment_method":"{inv["payment_method"]}","total_net":{num(inv["total_net"])},'
        f'"total_vat":{num(inv["total_vat"])},"total_gross":{num(inv["total_gross"])},'
        f'"currency":{js(inv["currency"])},"exchange_rate":{num(inv["exchange_rate"])},'
        f'"customer":'
    ).encode()
    created = f',"created_at":"{inv["created_at"]}"'
    short = f'{{"id":{c["id"]},"name":{js(c["name"])}}}{created}}}'.encode()
    if items_js is None:
        items_js = ",".join(render_item(item) for item in inv["items"])
    paid = inv["paid_date"]
    tail = (
        f'{created},"notes":{js(inv["notes"])},"paid_date":{"null" if paid is None else js(paid)},'
        f'"items":[{items_js}]}}'
    ).encode()
    full = customer_js if customer_js is not None else dumps(c)
    return head + short, b"".join((head, full, tail))
