"""Billingo field mapping: raw document JSON -> warehouse rows, as DuckDB SQL.

Each document is parsed once with ``json_transform`` into the typed struct ``STRUCTURE``
(money stays VARCHAR there and is cast to DECIMAL from its JSON text: DuckDB's shortest text
of the number's double, so exact for the at most 15 significant digits ``models.Money``
lets through); the column expressions below read that struct as ``d`` (documents) and
``it`` (one line).
Notes applied: ``""`` -> NULL; ``document_partner`` with a fallback to the deprecated
``partner``; ``paid_date`` only when paid or partially paid (the API sends today otherwise);
totals are taken as sent, never recomputed (Billingo rounds per line).
"""

from __future__ import annotations

from invoice_pipeline.sync.mapping import SourceMapping, cast, text
from invoice_pipeline.warehouse.schema import MONEY, RATE

_S = "VARCHAR"
_ADDRESS = {"country_code": _S, "post_code": _S, "city": _S, "address": _S}
_PARTNER = {
    "id": _S, "name": _S, "address": _ADDRESS, "emails": [_S], "taxcode": _S,
    "iban": _S, "swift": _S, "account_number": _S,
}  # fmt: skip
STRUCTURE = {
    "id": "BIGINT", "invoice_number": _S, "type": _S, "correction_type": _S,
    "cancelled": "BOOLEAN", "block_id": _S, "payment_status": _S, "payment_method": _S,
    "gross_total": _S, "currency": _S, "conversion_rate": _S, "invoice_date": _S,
    "fulfillment_date": _S, "due_date": _S, "paid_date": _S,
    "organization": {
        "name": _S, "tax_number": _S,
        "bank_account": {"account_number": _S, "account_number_iban": _S, "swift": _S},
    },
    "document_partner": _PARTNER, "partner": _PARTNER, "electronic": "BOOLEAN",
    "comment": _S, "language": _S, "online_szamla_status": _S,
    "summary": {"net_amount": _S, "vat_amount": _S},
    "items": [{
        "product_id": _S, "name": _S, "net_unit_amount": _S, "quantity": _S, "unit": _S,
        "net_amount": _S, "gross_amount": _S, "vat": _S, "vat_amount": _S,
        "entitlement": _S, "comment": _S,
    }],
}  # fmt: skip


_PAID = "lower(nullif(d.payment_status, '')) IN ('paid', 'partially_paid')"
_P = "coalesce(d.document_partner, d.partner)"

# warehouse column -> SQL over d (the parsed document); bookkeeping columns are added by the loader
INVOICE_COLUMNS: dict[str, str] = {
    "invoice_id": "d.id",
    "invoice_number": text("d.invoice_number"),
    "type": text("d.type"),
    "correction_type": text("d.correction_type"),
    "cancelled": "d.cancelled",
    "block_id": cast("d.block_id", "BIGINT"),
    "payment_status": "lower(nullif(d.payment_status, ''))",
    "payment_status_raw": text("d.payment_status"),
    "payment_method": "lower(nullif(d.payment_method, ''))",
    "payment_method_raw": text("d.payment_method"),
    "currency": text("d.currency"),
    "conversion_rate": cast("d.conversion_rate", RATE),
    "net_total": cast("d.summary.net_amount", MONEY),
    "vat_total": cast("d.summary.vat_amount", MONEY),
    "gross_total": cast("d.gross_total", MONEY),
    "invoice_date": cast("d.invoice_date", "DATE"),
    "fulfillment_date": cast("d.fulfillment_date", "DATE"),
    "due_date": cast("d.due_date", "DATE"),
    "paid_date": f"CASE WHEN {_PAID} THEN {cast('d.paid_date', 'DATE')} END",
    "organization_name": text("d.organization.name"),
    "organization_tax_number": text("d.organization.tax_number"),
    "organization_bank_account_number": text("d.organization.bank_account.account_number"),
    "organization_bank_account_iban": text("d.organization.bank_account.account_number_iban"),
    "organization_swift": text("d.organization.bank_account.swift"),
    "partner_id": cast(f"{_P}.id", "BIGINT"),
    "partner_name": text(f"{_P}.name"),
    "partner_tax_number": text(f"{_P}.taxcode"),
    "partner_iban": text(f"{_P}.iban"),
    "partner_swift": text(f"{_P}.swift"),
    "partner_account_number": text(f"{_P}.account_number"),
    "partner_country_code": text(f"{_P}.address.country_code"),
    "partner_post_code": text(f"{_P}.address.post_code"),
    "partner_city": text(f"{_P}.address.city"),
    "partner_address": text(f"{_P}.address.address"),
    "partner_email": text(f"{_P}.emails[1]"),
    "comment": text("d.comment"),
    "online_szamla_status": text("d.online_szamla_status"),
    "language": text("d.language"),
    "electronic": "d.electronic",
    "item_count": "coalesce(len(d.items), 0)",
}

# warehouse column -> SQL over it (one element of d.items) and line_no (1-based)
ITEM_COLUMNS: dict[str, str] = {
    "line_no": "line_no",
    "product_id": cast("it.product_id", "BIGINT"),
    "name": text("it.name"),
    "quantity": cast("it.quantity", MONEY),
    "unit": text("it.unit"),
    "net_unit_price": cast("it.net_unit_amount", MONEY),
    "net_amount": cast("it.net_amount", MONEY),
    "vat_amount": cast("it.vat_amount", MONEY),
    "gross_amount": cast("it.gross_amount", MONEY),
    "vat": text("it.vat"),
    "entitlement": text("it.entitlement"),
    "comment": text("it.comment"),
}


MAPPING = SourceMapping(
    source="billingo",
    structure=STRUCTURE,
    invoice_columns=INVOICE_COLUMNS,
    item_columns=ITEM_COLUMNS,
)
