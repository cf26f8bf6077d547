"""The contract a Billingo document must meet to be loaded.

Tolerant of the live API (notes §8): unknown keys are ignored, enums are open strings, every
field but ``id`` may be missing or null, and ``""`` is accepted wherever a value can be unset.
Strict JSON types otherwise (an integer field must be a JSON integer), so that the SQL
mapping in ``mapping.py`` can cast every accepted value without surprises; money must be a
number that reaches the warehouse's DECIMAL(18,4) exactly (below 10^13). Everything is
declarative, so validation runs in pydantic-core (no Python per field), which keeps it off
the hot path.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Unset = Literal[""] | None
# Validated as numbers in a range that arrives exactly: DuckDB splits a page into documents
# through doubles and writes each number back as its shortest text, which is the sent text
# for up to 15 significant digits (below 10^13 with 2 decimals; rates below 10^9 with 6), so
# a larger amount (99999999999999.99 would come back as ...98) is rejected rather than
# stored a few fillér off. (Building a Decimal per amount here tripled the validation time
# of a page.)
Money = Annotated[float, Field(gt=-1e13, lt=1e13, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, lt=1e9, allow_inf_nan=False)]
Id = Annotated[int, Field(ge=0, le=2**63 - 1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class Address(_Model):
    country_code: str | None = None
    post_code: str | None = None
    city: str | None = None
    address: str | None = None


class BankAccount(_Model):
    account_number: str | None = None
    account_number_iban: str | None = None
    swift: str | None = None


class Organization(_Model):
    name: str | None = None
    tax_number: str | None = None
    bank_account: BankAccount | None = None


class Partner(_Model):
    id: Id | Unset = None
    name: str | None = None
    address: Address | None = None
    emails: list[str | None] | None = None
    taxcode: str | None = None
    iban: str | None = None
    swift: str | None = None
    account_number: str | None = None


class Item(_Model):
    product_id: Id | Unset = None
    name: str | None = None
    net_unit_amount: Money | Unset = None
    quantity: Money | Unset = None
    unit: str | None = None
    net_amount: Money | Unset = None
    gross_amount: Money | Unset = None
    vat: str | None = None
    vat_amount: Money | Unset = None
    entitlement: str | None = None
    comment: str | None = None


class Summary(_Model):
    net_amount: Money | Unset = None
    vat_amount: Money | Unset = None


class Document(_Model):
    id: Annotated[int, Field(gt=0, le=2**63 - 1)]
    invoice_number: str | None = None
    type: str | None = None
    correction_type: str | None = None
    cancelled: bool | None = None
    block_id: Id | Unset = None
    payment_status: str | None = None
    payment_method: str | None = None
    gross_total: Money | Unset = None
    currency: str | None = None
    conversion_rate: Rate | Unset = None
    invoice_date: date | Unset = None
    fulfillment_date: date | Unset = None
    due_date: date | Unset = None
    paid_date: date | Unset = None
    organization: Organization | None = None
    document_partner: Partner | None = None
    partner: Partner | None = None
    electronic: bool | None = None
    comment: str | None = None
    language: str | None = None
    online_szamla_status: str | None = None
    items: list[Item] | None = None
    summary: Summary | None = None


class DocumentPage(BaseModel):
    """One ``GET /documents`` page; documents stay unvalidated here so one bad document
    does not reject its page (each is validated on its own in ``validate_page``)."""

    model_config = ConfigDict(extra="ignore")
    data: list[object]
    total: int | None = None
    current_page: int | None = None
    last_page: int | None = None
    per_page: int | None = None
