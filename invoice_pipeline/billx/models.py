"""The contract a BillX invoice, customer or product must meet to be loaded.

Tolerant of the live API like Billingo's models: unknown keys are ignored, enums (status,
payment method, invoice type) are open strings, every field but ``id`` may be missing or
null, and ``""`` is accepted wherever a value can be unset. Strict types otherwise, so the
SQL mapping in ``mapping.py`` can cast every accepted value without surprises.

Bodies are parsed with ``loads`` (fractions as ``Decimal``, never a float) and validated in
Python mode, so money is checked exactly as sent. An amount must reach the warehouse's
DECIMAL(18,4) unchanged: at most 4 decimals, below 10^13 and at most 15 significant digits
(DuckDB splits a page into documents through doubles, which keep 15 digits exactly).
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

Unset = Literal[""] | None
Id = Annotated[int, Strict(), Field(ge=0, le=2**63 - 1)]
Text = Annotated[str, Strict()]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(body: bytes | str) -> Any:
    """JSON with fractions as ``Decimal``; ``NaN``/``Infinity`` refused (DuckDB refuses them)."""
    return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)


def _exact(limit: int, places: int) -> Any:
    def check(value: Decimal | int) -> Decimal:
        number = Decimal(value).normalize()
        if not number.is_finite():
            raise ValueError("not a finite number")
        _sign, digits, exponent = number.as_tuple()
        if not isinstance(exponent, int) or exponent < -places:
            raise ValueError(f"more than {places} decimal places")
        if abs(number) >= limit or len(digits) > 15:
            raise ValueError(f"not stored exactly (below {limit:.0e}, 15 digits)")
        return Decimal(value)

    return AfterValidator(check)


def _iso_date(value: object) -> object:
    """Only ``YYYY-MM-DD`` text is a date (Python-mode pydantic would take numbers too)."""
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return date.fromisoformat(value)
    raise ValueError("not a date (YYYY-MM-DD)")


_Number = Annotated[Decimal, Strict(), Field(allow_inf_nan=False)] | Annotated[int, Strict()]
Money = Annotated[_Number, _exact(10**13, 4)]
Rate = Annotated[_Number, _exact(10**9, 6), Field(ge=0)]
Day = Annotated[date, BeforeValidator(_iso_date)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class CustomerRef(_Model):
    """The short customer of a list entry."""

    id: Id | Unset = None
    name: Text | None = None


class Customer(_Model):
    """A ``GET /customers`` entry, and the full customer of an invoice detail.
    ``created_at`` is Budapest wall time without a zone (kept as text)."""

    id: Id | Unset = None
    name: Text | None = None
    email: Text | None = None
    tax_number: Text | None = None
    phone: Text | None = None
    postal_code: Text | None = None
    city: Text | None = None
    address: Text | None = None
    country: Text | None = None
    created_at: Text | None = None


class ListedCustomer(Customer):
    id: Annotated[int, Strict(), Field(gt=0, le=2**63 - 1)]


class Product(_Model):
    id: Annotated[int, Strict(), Field(gt=0, le=2**63 - 1)]
    name: Text | None = None
    unit: Text | None = None
    price: Money | Unset = None
    vat_rate: Annotated[Money, Field(ge=0, le=100)] | Unset = None
    description: Text | None = None


class Item(_Model):
    id: Id | Unset = None
    product_id: Id | Unset = None
    name: Text | None = None
    unit: Text | None = None
    quantity: Money | Unset = None
    unit_price: Money | Unset = None
    vat_rate: Annotated[Money, Field(ge=0, le=100)] | Unset = None
    net_amount: Money | Unset = None
    vat_amount: Money | Unset = None
    gross_amount: Money | Unset = None


class Summary(_Model):
    """A ``GET /invoices`` list entry."""

    id: Annotated[int, Strict(), Field(gt=0, le=2**63 - 1)]
    invoice_number: Text | None = None
    invoice_type: Text | None = None
    block_id: Id | Unset = None
    invoice_date: Day | Unset = None
    fulfillment_date: Day | Unset = None
    due_date: Day | Unset = None
    status: Text | None = None
    payment_method: Text | None = None
    total_net: Money | Unset = None
    total_vat: Money | Unset = None
    total_gross: Money | Unset = None
    currency: Text | None = None
    exchange_rate: Rate | Unset = None
    customer: CustomerRef | None = None
    created_at: Text | None = None


class Detail(Summary):
    """A ``GET /invoices/{id}`` body: the list entry plus notes, paid date, the full customer
    and the lines. It is what ``raw_documents`` stores and ``mapping.py`` reads."""

    customer: Customer | None = None  # type: ignore[assignment]
    notes: Text | None = None
    paid_date: Day | Unset = None
    items: list[Item] | None = None
