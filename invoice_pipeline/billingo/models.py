"""The contract a Billingo document must meet to be loaded.

Tolerant of the live API (notes §8): unknown keys are ignored, enums are open strings, every
field but ``id`` may be missing or null, and ``""`` is accepted wherever a value can be unset.
Strict JSON types otherwise (an integer field must be a JSON integer), so that the SQL
mapping in ``mapping.py`` can cast every accepted value without surprises; money must be a
number that reaches the warehouse's DECIMAL(18,4) exactly (below 10^13). Everything is
declarative, so validation runs in pydantic-core (no Python per field), which keeps it off
the hot path. The shapes are TypedDicts, not models: a validated page is plain dicts, which
pydantic-core builds (and Python frees) in about 60% of the time model instances take
(a 100-document page: 3.2 against 5.6 ms here). A missing key is absent, not None.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Required

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

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

# A value or unset. The first member that accepts a value wins: no value can match both a
# strict number or date and ``""``, so the result and the errors are those of pydantic's
# default "smart" mode, which tries every member for the best match: a page validates in
# about 80% of the time (2.4 against 1.9 ms here).
_FIRST_MATCH = Field(union_mode="left_to_right")
MoneyOrUnset = Annotated[Money | Unset, _FIRST_MATCH]
RateOrUnset = Annotated[Rate | Unset, _FIRST_MATCH]
IdOrUnset = Annotated[Id | Unset, _FIRST_MATCH]
DateOrUnset = Annotated[date | Unset, _FIRST_MATCH]


_STRICT = ConfigDict(extra="ignore", strict=True)


@with_config(_STRICT)
class Address(TypedDict, total=False):
    country_code: str | None
    post_code: str | None
    city: str | None
    address: str | None


@with_config(_STRICT)
class BankAccount(TypedDict, total=False):
    account_number: str | None
    account_number_iban: str | None
    swift: str | None


@with_config(_STRICT)
class Organization(TypedDict, total=False):
    name: str | None
    tax_number: str | None
    bank_account: BankAccount | None


@with_config(_STRICT)
class Partner(TypedDict, total=False):
    id: IdOrUnset
    name: str | None
    address: Address | None
    emails: list[str | None] | None
    taxcode: str | None
    iban: str | None
    swift: str | None
    account_number: str | None


@with_config(_STRICT)
class Item(TypedDict, total=False):
    product_id: IdOrUnset
    name: str | None
    net_unit_amount: MoneyOrUnset
    quantity: MoneyOrUnset
    unit: str | None
    net_amount: MoneyOrUnset
    gross_amount: MoneyOrUnset
    vat: str | None
    vat_amount: MoneyOrUnset
    entitlement: str | None
    comment: str | None


@with_config(_STRICT)
class Summary(TypedDict, total=False):
    net_amount: MoneyOrUnset
    vat_amount: MoneyOrUnset


@with_config(_STRICT)
class Document(TypedDict, total=False):
    id: Required[Annotated[int, Field(gt=0, le=2**63 - 1)]]  # the one field that must be there
    invoice_number: str | None
    type: str | None
    correction_type: str | None
    cancelled: bool | None
    block_id: IdOrUnset
    payment_status: str | None
    payment_method: str | None
    gross_total: MoneyOrUnset
    currency: str | None
    conversion_rate: RateOrUnset
    invoice_date: DateOrUnset
    fulfillment_date: DateOrUnset
    due_date: DateOrUnset
    paid_date: DateOrUnset
    organization: Organization | None
    document_partner: Partner | None
    partner: Partner | None
    electronic: bool | None
    comment: str | None
    language: str | None
    online_szamla_status: str | None
    items: list[Item] | None
    summary: Summary | None


@with_config(ConfigDict(extra="ignore"))
class _Envelope(TypedDict, total=False):
    total: int | None
    last_page: int | None
    current_page: int | None


class DocumentPage(_Envelope, total=False):
    """One ``GET /documents`` page, every document validated."""

    data: Required[list[Document]]


class LoosePage(_Envelope, total=False):
    """The same page with its documents unvalidated: where a page failed, for the ids."""

    data: Required[list[object]]


DOCUMENT_PAGE: TypeAdapter[DocumentPage] = TypeAdapter(DocumentPage)
LOOSE_PAGE: TypeAdapter[LoosePage] = TypeAdapter(LoosePage)
