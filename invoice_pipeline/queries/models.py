"""The shapes readers get: the seed's list and detail fields, as pydantic models.

Money is Decimal (JSON: a string such as ``"19476607.00"``), instants are Europe/Budapest
ISO timestamps, and every ``*_formatted`` field is what a person reads.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T", bound=BaseModel)


class Snapshot(BaseModel):
    """Which data a reader sees: published when, and as of which completed sync."""

    published_at: datetime
    age_seconds: float
    data_as_of: datetime | None


class InvoiceSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    source: str
    company: int
    company_name: str | None
    invoice_number: str | None
    type: str | None
    payment_status: str | None
    payment_method: str | None
    gross_total: Decimal | None
    gross_total_formatted: str | None
    currency: str | None
    invoice_date: date | None
    invoice_date_formatted: str | None
    due_date: date | None
    paid_date: date | None
    partner_name: str | None
    partner_tax_number: str | None
    cancelled: bool | None
    item_count: int
    created_at: datetime
    # when a full sync found it deleted at the source (Europe/Budapest); only invoices listed
    # with ``include_deleted`` can have one
    deleted_at: datetime | None = None


class InvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    product_id: int | None
    name: str | None
    quantity: Decimal | None
    unit: str | None
    net_unit_price: Decimal | None
    net_amount: Decimal | None
    vat_amount: Decimal | None
    gross_amount: Decimal | None
    vat: str | None
    entitlement: str | None
    comment: str | None
    created_at: datetime
    updated_at: datetime


class InvoiceDetail(InvoiceSummary):
    correction_type: str | None
    block_id: int | None
    payment_status_raw: str | None
    payment_method_raw: str | None
    conversion_rate: Decimal | None
    net_total: Decimal | None
    vat_total: Decimal | None
    fulfillment_date: date | None
    due_date_formatted: str | None
    paid_date_formatted: str | None
    organization_name: str | None
    organization_tax_number: str | None
    organization_bank_account_number: str | None
    organization_bank_account_iban: str | None
    organization_swift: str | None
    partner_id: int | None
    partner_iban: str | None
    partner_swift: str | None
    partner_account_number: str | None
    partner_country_code: str | None
    partner_post_code: str | None
    partner_city: str | None
    partner_address: str | None
    partner_email: str | None
    comment: str | None
    online_szamla_status: str | None
    language: str | None
    electronic: bool | None
    items: list[InvoiceLine]
    updated_at: datetime
    last_modified: datetime


class SyncLogEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    source: str
    company: int
    company_name: str | None
    sync_type: str
    sync_type_display: str
    mode: str
    status: str
    status_display: str
    invoices_processed: int
    invoices_created: int
    invoices_updated: int
    invoices_skipped: int
    items_extracted: int
    api_calls_made: int
    sync_duration_seconds: float | None
    duration_formatted: str | None
    started_at: datetime
    started_at_formatted: str
    completed_at: datetime | None
    completed_at_formatted: str | None
    errors: str
    errors_parsed: list[dict[str, Any]]


class SettingsEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    source: str
    company: int
    company_name: str
    has_api_key: bool
    last_sync_time: datetime | None
    last_sync_time_formatted: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    # beyond the seed: the company's switches of the nightly and the frequent schedule
    nightly_sync: bool
    frequent_sync: bool


class Page(BaseModel, Generic[T]):
    """One page of results: ``next``/``previous`` are page numbers (None at the ends)."""

    count: int
    next: int | None
    previous: int | None
    page: int
    page_size: int
    results: list[T]
    snapshot: Snapshot

    def to_dataframe(self) -> pd.DataFrame:
        """The results as a DataFrame (money stays Decimal, never float)."""
        import pandas as pd  # imported here: 50 MB and 0.3 s that only this method needs

        fields = list(self.results[0].__class__.model_fields) if self.results else []
        rows = [r.model_dump() for r in self.results]
        return pd.DataFrame(rows, columns=fields or None)
