"""What a valid BillX POST creates: the customer, the product, or the invoice with its lines
computed in ``Decimal`` (to the fillér, half up) and its number from the series (számlatömb)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from invoice_pipeline.emulators.billx_data import AccountData
from invoice_pipeline.emulators.billx_invoice import (
    DEFAULT_SERIES_ID,
    PROFORMA_SERIES_ID,
    draft_number,
    line_amounts,
    served_status,
)

Doc = dict[str, Any]


def build_customer(req: Doc, customer_id: int, created_at: str) -> Doc:
    return {"id": customer_id, **req, "created_at": created_at}


def build_product(req: Doc, product_id: int) -> Doc:
    return {"id": product_id, **req}


def build_invoice(
    req: Doc, data: AccountData, today: date, created_at: str, draft_bits: int, commit: bool
) -> Doc:
    """The invoice a valid request creates, in the detail shape. Only with ``commit`` are the
    ids and the series number used up (test mode shows the next ones without taking them)."""
    items = []
    net_total = vat_total = Decimal(0)
    for i, line in enumerate(req["items"]):
        net, vat, gross = line_amounts(line["quantity"], line["unit_price"], line["vat_rate"])
        net_total += net
        vat_total += vat
        items.append(
            {"id": data.next_item_id + i, **line, "net_amount": net, "vat_amount": vat}
            | {"gross_amount": gross}
        )
    inv_type, block = req["invoice_type"], req["block_id"]
    if inv_type == "draft":
        number, status = draft_number(draft_bits), "draft"
    else:
        if block is None:
            block = PROFORMA_SERIES_ID if inv_type == "proforma" else DEFAULT_SERIES_ID
        series = data.series[block]
        number = series.take(today.year) if commit else series.peek(today.year)
        status = served_status("unpaid", req["due_date"], today.isoformat())
    invoice = {
        "id": data.next_invoice_id,
        "invoice_number": number,
        "invoice_type": inv_type,
        "block_id": block,
        "invoice_date": today.isoformat(),
        "fulfillment_date": req["fulfillment_date"],
        "due_date": req["due_date"],
        "status": status,
        "payment_method": req["payment_method"],
        "total_net": net_total,
        "total_vat": vat_total,
        "total_gross": net_total + vat_total,
        "currency": req["currency"],
        "exchange_rate": req["exchange_rate"],
        "customer": data.customers[req["customer_id"]],
        "created_at": created_at,
        "notes": req["notes"],
        "paid_date": None,
        "items": items,
    }
    if commit:
        data.next_invoice_id += 1
        data.next_item_id += len(items)
    return invoice
