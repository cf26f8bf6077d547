"""BillX field mapping: invoice detail, customer and product JSON -> warehouse rows, as SQL.

The one place that knows how BillX's fields and values become the warehouse's. Each
document is parsed once with ``json_transform`` into a typed struct (money stays VARCHAR and
is cast to DECIMAL from its JSON text, never through a binary float); the expressions read
it as ``d`` (an invoice detail, customer or product) and ``it`` (one invoice line).

Values are translated into the shared vocabulary (``vocabulary.py``, Billingo's enums) by
``STATUSES`` and ``METHODS``; the value BillX sent is kept in ``*_raw``, and a value not in
the maps passes through lower-cased (open enums). ``cancelled`` is a status in BillX and a
flag in the warehouse. BillX sends no issuer (``organization_*``), correction type, language
or NAV status: those columns are NULL. ``created_at`` (Budapest wall time without a zone)
stays in the raw payload.
"""

from __future__ import annotations

from invoice_pipeline.sync.mapping import SourceMapping, cast, text
from invoice_pipeline.vocabulary import PAYMENT_STATUSES
from invoice_pipeline.warehouse.schema import MONEY, RATE

# BillX status -> payment_status; ``cancelled`` also sets cancelled = TRUE.
STATUSES: dict[str, str] = {
    "unpaid": "outstanding",
    "overdue": "expired",
    "paid": "paid",
    "partially_paid": "partially_paid",
    "cancelled": "none",
    "draft": "none",
}
# BillX payment_method -> payment_method (Billingo's names)
METHODS: dict[str, str] = {"transfer": "wire_transfer", "cash": "cash", "card": "bankcard"}
assert set(STATUSES.values()) <= set(PAYMENT_STATUSES)

_S = "VARCHAR"
_CUSTOMER = {
    "id": _S, "name": _S, "email": _S, "tax_number": _S, "phone": _S, "postal_code": _S,
    "city": _S, "address": _S, "country": _S, "created_at": _S,
}  # fmt: skip
STRUCTURE = {
    "id": "BIGINT", "invoice_number": _S, "invoice_type": _S, "block_id": _S,
    "invoice_date": _S, "fulfillment_date": _S, "due_date": _S, "status": _S,
    "payment_method": _S, "total_net": _S, "total_vat": _S, "total_gross": _S,
    "currency": _S, "exchange_rate": _S, "customer": _CUSTOMER, "notes": _S, "paid_date": _S,
    "items": [{
        "product_id": _S, "name": _S, "unit": _S, "quantity": _S, "unit_price": _S,
        "vat_rate": _S, "net_amount": _S, "vat_amount": _S, "gross_amount": _S,
    }],
}  # fmt: skip
CUSTOMER_STRUCTURE = _CUSTOMER
PRODUCT_STRUCTURE = {
    "id": _S, "name": _S, "unit": _S, "price": _S, "vat_rate": _S, "description": _S,
}  # fmt: skip


def _translated(expr: str, values: dict[str, str]) -> str:
    """``values`` as a CASE over the lower-cased value; anything else passes lower-cased."""
    value = f"lower(nullif({expr}, ''))"
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in values.items())
    return f"CASE {value} {cases} ELSE {value} END"


def _percent(expr: str) -> str:
    """A VAT rate as Billingo writes it: ``27`` -> ``27%``, ``5.50`` -> ``5.5%``."""
    rate = text(expr)
    return (
        f"(CASE WHEN contains({rate}, '.') THEN rtrim(rtrim({rate}, '0'), '.') "
        f"ELSE {rate} END) || '%'"
    )


_NULL_TEXT = "CAST(NULL AS VARCHAR)"
_C = "d.customer"

# warehouse column -> SQL over d (the parsed detail); bookkeeping columns are added by the loader
INVOICE_COLUMNS: dict[str, str] = {
    "invoice_id": "d.id",
    "invoice_number": text("d.invoice_number"),
    "type": text("d.invoice_type"),
    "correction_type": _NULL_TEXT,
    "cancelled": "lower(nullif(d.status, '')) = 'cancelled'",
    "block_id": cast("d.block_id", "BIGINT"),
    "payment_status": _translated("d.status", STATUSES),
    "payment_status_raw": text("d.status"),
    "payment_method": _translated("d.payment_method", METHODS),
    "payment_method_raw": text("d.payment_method"),
    "currency": text("d.currency"),
    "conversion_rate": cast("d.exchange_rate", RATE),
    "net_total": cast("d.total_net", MONEY),
    "vat_total": cast("d.total_vat", MONEY),
    "gross_total": cast("d.total_gross", MONEY),
    "invoice_date": cast("d.invoice_date", "DATE"),
    "fulfillment_date": cast("d.fulfillment_date", "DATE"),
    "due_date": cast("d.due_date", "DATE"),
    "paid_date": cast("d.paid_date", "DATE"),
    "organization_name": _NULL_TEXT,
    "organization_tax_number": _NULL_TEXT,
    "organization_bank_account_number": _NULL_TEXT,
    "organization_bank_account_iban": _NULL_TEXT,
    "organization_swift": _NULL_TEXT,
    "partner_id": cast(f"{_C}.id", "BIGINT"),
    "partner_name": text(f"{_C}.name"),
    "partner_tax_number": text(f"{_C}.tax_number"),
    "partner_iban": _NULL_TEXT,
    "partner_swift": _NULL_TEXT,
    "partner_account_number": _NULL_TEXT,
    "partner_country_code": text(f"{_C}.country"),
    "partner_post_code": text(f"{_C}.postal_code"),
    "partner_city": text(f"{_C}.city"),
    "partner_address": text(f"{_C}.address"),
    "partner_email": text(f"{_C}.email"),
    "comment": text("d.notes"),
    "online_szamla_status": _NULL_TEXT,
    "language": _NULL_TEXT,
    "electronic": "CAST(NULL AS BOOLEAN)",
    "item_count": "coalesce(len(d.items), 0)",
}

# warehouse column -> SQL over it (one element of d.items) and line_no (1-based position)
ITEM_COLUMNS: dict[str, str] = {
    "line_no": "line_no",
    "product_id": cast("it.product_id", "BIGINT"),
    "name": text("it.name"),
    "quantity": cast("it.quantity", MONEY),
    "unit": text("it.unit"),
    "net_unit_price": cast("it.unit_price", MONEY),
    "net_amount": cast("it.net_amount", MONEY),
    "vat_amount": cast("it.vat_amount", MONEY),
    "gross_amount": cast("it.gross_amount", MONEY),
    "vat": _percent("it.vat_rate"),
    "entitlement": _NULL_TEXT,
    "comment": _NULL_TEXT,
}

# partners column -> SQL over d (one customer); key partner_id
PARTNER_COLUMNS: dict[str, str] = {
    "name": text("d.name"),
    "tax_number": text("d.tax_number"),
    "email": text("d.email"),
    "phone": text("d.phone"),
    "country_code": text("d.country"),
    "post_code": text("d.postal_code"),
    "city": text("d.city"),
    "address": text("d.address"),
    "created_at": "timezone('Europe/Budapest', TRY_CAST(nullif(d.created_at, '') AS TIMESTAMP))",
}

# products column -> SQL over d (one product); key product_id
PRODUCT_COLUMNS: dict[str, str] = {
    "name": text("d.name"),
    "unit": text("d.unit"),
    "net_unit_price": cast("d.price", MONEY),
    "vat": _percent("d.vat_rate"),
    "description": text("d.description"),
}


MAPPING = SourceMapping(
    source="billx",
    structure=STRUCTURE,
    invoice_columns=INVOICE_COLUMNS,
    item_columns=ITEM_COLUMNS,
)
