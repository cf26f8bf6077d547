"""Shared by the API tests (no tests here): an in-process world and the seed's shapes.

The world: companies 4 and 7 synced from the Billingo emulator into one warehouse, once per
session, and users of several roles and companies, with the app built by ``create_app``.
"""

import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from invoice_pipeline import users
from invoice_pipeline.api.app import create_app
from invoice_pipeline.api.tokens import TokenSigner
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import configure, sync

with warnings.catch_warnings():  # Starlette's advice to install httpx2 instead of httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")  # (a UserWarning subclass)
    from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"

# (username, role, company): companies 5 and 9 have no settings (9 gets some in a test).
USERS = [
    ("admin4", "ADMIN", 4),
    ("user4", "USER", 4),
    ("admin5", "ADMIN", 5),
    ("admin7", "ADMIN", 7),
    ("admin9", "ADMIN", 9),
]


@dataclass
class World:
    app: FastAPI
    client: TestClient
    wh: Warehouse
    docs: dict[int, list[dict[str, Any]]]  # company -> the emulator's documents
    tokens: dict[str, str]  # username -> access token

    @property
    def signer(self) -> TokenSigner:
        return self.app.state.signer

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}


_built: list[World] = []  # one world per test session, whichever module asks first


@pytest.fixture(scope="session", name="api_world")
def api_world_fixture(
    tmp_path_factory: pytest.TempPathFactory, dagster_instance: dg.DagsterInstance
) -> Iterator[World]:
    """Each module that imports this fixture registers it anew; the cache makes them share
    one world (the first one to build it tears it down at the end of the session)."""
    if _built:
        yield _built[0]
        return
    db = tmp_path_factory.mktemp("api") / "warehouse.duckdb"
    wh = Warehouse(db)
    with pytest.MonkeyPatch.context() as mp, BillingoEmulator() as emu:
        mp.setenv("INVOICE_PIPELINE_DB", str(db))
        mp.setenv("INVOICE_PIPELINE_SECRET_KEY", Fernet.generate_key().decode())
        mp.setenv("INVOICE_PIPELINE_SECRET_KEY_FILE", str(db.parent / "secret.key"))
        mp.setenv("INVOICE_PIPELINE_JWT_SECRET", secrets.token_urlsafe(40))
        mp.setenv("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", "0")
        configure(wh, emu, "key-four", company_id=4, docs=40, seed=4)
        configure(wh, emu, "key-seven", company_id=7, docs=25, seed=7)
        for company in (4, 7):
            assert sync(wh, dagster_instance, company)[1]["status"] == "COMPLETED"
        for username, role, company in USERS:
            users.create_user(
                wh, username=username, password=PASSWORD, role=role, company_id=company
            )
        app = create_app(db)
        signer: TokenSigner = app.state.signer
        tokens = {}
        for username, _, _ in USERS:
            user = users.get_user(username, db)
            assert user is not None
            tokens[username] = signer.issue(user)
        docs = {4: emu.documents("key-four"), 7: emu.documents("key-seven")}
        with TestClient(app, base_url="http://testserver") as client:
            _built.append(World(app, client, wh, docs, tokens))
            yield _built[0]


# The seed's example responses (docs "Billingo Invoice Synchronization - API Endpoint
# Documentation"), abridged to one element per list: every key, and a value of each type.
SEED_SETTINGS = {
    "id": 1, "company": 4, "company_name": "IT Cardigan Kft.", "has_api_key": True,
    "last_sync_time": "2025-10-27T05:40:24+01:00",
    "last_sync_time_formatted": "2025-10-27 04:40:24", "is_active": True,
    "created_at": "2025-10-27T05:36:31+01:00", "updated_at": "2025-10-27T05:40:24+01:00",
}  # fmt: skip
SEED_SYNC = {
    "status": "success", "invoices_processed": 282, "invoices_created": 281,
    "invoices_updated": 1, "invoices_skipped": 0, "items_extracted": 581, "api_calls": 3,
    "duration_seconds": 3, "errors": [],
}  # fmt: skip
SEED_INVOICE = {
    "id": 111369290, "company": 4, "company_name": "IT Cardigan Kft.",
    "invoice_number": "INV-2025-244", "type": "invoice", "payment_status": "outstanding",
    "payment_method": "wire_transfer", "gross_total": "19476607.00",
    "gross_total_formatted": "19,476,607.00 HUF", "currency": "HUF",
    "invoice_date": "2025-10-22", "invoice_date_formatted": "2025-10-22",
    "due_date": "2025-11-21", "paid_date": "2025-10-27",
    "partner_name": "GYŐR-MOSON-SOPRON VÁRMEGYEI PETZ ALADÁR EGYETEMI OKTATÓ KÓRHÁZ",
    "partner_tax_number": "15366052-2-08", "cancelled": False, "item_count": 19,
    "created_at": "2025-10-27T05:40:22+01:00",
}  # fmt: skip
SEED_ITEM = {
    "id": 302, "product_id": 18015515,
    "name": "MR004C SEQUENT MENISCAL REPAIR DEVICE, CURVED NEEDLE, 4 IMPLANTS",
    "quantity": "1.00", "unit": "db", "net_unit_price": "0.00", "net_amount": "121923.00",
    "gross_amount": "154842.21", "vat": "27%", "entitlement": None,
    "created_at": "2025-10-27T05:40:22+01:00", "updated_at": "2025-10-27T05:40:22+01:00",
}  # fmt: skip
SEED_DETAIL = {
    **SEED_INVOICE,
    "correction_type": "invoice", "block_id": 249951, "conversion_rate": "1.000000",
    "fulfillment_date": "2025-10-27", "due_date_formatted": "2025-11-21",
    "paid_date_formatted": "2025-10-27", "organization_name": "MEDKA Kft.",
    "organization_tax_number": "32560682-2-43",
    "organization_bank_account_number": "10410400-00000190-04894827",
    "organization_bank_account_iban": "HU28104104000000019004894827",
    "organization_swift": "", "partner_id": 1843084820, "partner_iban": "",
    "partner_swift": "", "partner_account_number": "--", "comment": "Lejelentő: ...",
    "online_szamla_status": "done", "items": [SEED_ITEM],
    "updated_at": "2025-10-27T05:40:22+01:00", "last_modified": "2025-10-27T05:40:22+01:00",
}  # fmt: skip
SEED_SYNC_LOG = {
    "id": 2, "company": 4, "company_name": "IT Cardigan Kft.", "sync_type": "MANUAL",
    "sync_type_display": "Kézi", "status": "COMPLETED", "status_display": "Befejezve",
    "invoices_processed": 282, "invoices_created": 281, "invoices_updated": 1,
    "invoices_skipped": 0, "items_extracted": 581, "api_calls_made": 3,
    "sync_duration_seconds": 3, "duration_formatted": "3s",
    "started_at": "2025-10-27T05:40:21+01:00", "started_at_formatted": "2025-10-27 04:40:21",
    "completed_at": "2025-10-27T05:40:24+01:00",
    "completed_at_formatted": "2025-10-27 04:40:24", "errors": "", "errors_parsed": [],
}  # fmt: skip
SEED_PAGE = {"count": 1, "next": None, "previous": None, "results": []}
SEED_ERROR = {"detail": "Error message describing the problem", "code": "error_code"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_seed_shape(actual: Any, seed: Any, where: str = "$") -> None:
    """Every key of the seed's example is there, with a value of the same JSON type (or
    null: the seed shows one example, real values may be empty); lists are checked per
    element against the seed's first element. Extra keys are allowed."""
    if seed is None or actual is None:
        return
    assert _kind(actual) == _kind(seed), f"{where}: {actual!r} is not like {seed!r}"
    if isinstance(seed, dict):
        missing = set(seed) - set(actual)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, value in seed.items():
            assert_seed_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(seed, list) and seed:
        for i, element in enumerate(actual):
            assert_seed_shape(element, seed[0], f"{where}[{i}]")


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict:
    """The seed's error format with this status and code (and field, for a 400)."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert_seed_shape(body, SEED_ERROR)
    assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body
