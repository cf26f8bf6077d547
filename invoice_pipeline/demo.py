"""The demo: both emulators, three demo companies, a full sync, changes, an incremental sync.

Company 4 invoices in Billingo, company 9 in BillX with the public test-mode key (the
emulator serves that key's mock data, like the live API), and company 7 in both, each with
a freshly generated key.
"""

import secrets
from collections.abc import Callable
from typing import Any

from invoice_pipeline import config, crypto, settings_store
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.billx import TEST_INVOICES, TEST_KEY, BillxEmulator
from invoice_pipeline.http import RetryPolicy
from invoice_pipeline.orchestration.run import run_sync
from invoice_pipeline.warehouse import Warehouse

# (company id, name, documents, seed)
DEMO_COMPANIES = [(4, "IT Cardigan Kft.", 282, 4), (7, "MEDKA Kft.", 1500, 7)]
BILLX_COMPANIES = [(7, "MEDKA Kft.", 120, 7), (9, "BillX Demo Kft.", TEST_INVOICES, None)]


def _setup_billingo(wh: Warehouse, emu: BillingoEmulator, say: Callable[[str], None]) -> str:
    """Configure the Billingo companies; returns the first one's key."""
    keys = []
    for company_id, name, docs, seed in DEMO_COMPANIES:
        key = secrets.token_hex(16)  # a fresh key each run, never printed
        keys.append(key)
        emu.add_account(key, docs=docs, seed=seed)
        settings_store.upsert(
            wh, company_id=company_id, source="billingo", company_name=name,
            api_key=key, base_url=emu.base_url, is_active=True,
        )  # fmt: skip
        say(f"company {company_id} ({name}): Billingo emulator account with {docs} documents")
    return keys[0]


def _setup_billx(wh: Warehouse, emu: BillxEmulator, say: Callable[[str], None]) -> str:
    """Configure the BillX companies; returns the first one's key."""
    keys = []
    for company_id, name, invoices, seed in BILLX_COMPANIES:
        if seed is None:
            key, what = TEST_KEY, f"the public test-mode key ({invoices} mock invoices)"
        else:
            key, what = secrets.token_hex(16), f"a BillX emulator account with {invoices} invoices"
            emu.add_account(key, invoices=invoices, seed=seed)
        keys.append(key)
        settings_store.upsert(
            wh, company_id=company_id, source="billx", company_name=name,
            api_key=key, base_url=emu.base_url, is_active=True,
        )  # fmt: skip
        say(f"company {company_id} ({name}): BillX, {what}")
    return keys[0]


def _change_billingo(emu: BillingoEmulator, key: str) -> str:
    docs = emu.documents(key)
    open_doc = next(d for d in docs if d["payment_status"] in ("outstanding", "expired"))
    to_cancel = next(
        d
        for d in docs
        if d["type"] == "invoice" and not d["cancelled"] and d["id"] != open_doc["id"]
    )
    emu.pay(key, open_doc["id"])
    emu.cancel(key, to_cancel["id"])
    emu.add_document(key)
    return (
        f"in Billingo, company {DEMO_COMPANIES[0][0]}: {open_doc['invoice_number']} is paid, "
        f"{to_cancel['invoice_number']} is cancelled (a new cancellation document), one new "
        "invoice"
    )


def _change_billx(emu: BillxEmulator, key: str) -> str:
    invoices = emu.invoices(key)
    open_inv = next(i for i in invoices if i["status"] in ("unpaid", "overdue"))
    to_cancel = next(
        i for i in invoices if i["status"] == "paid" and i["invoice_type"] == "invoice"
    )
    emu.pay(key, open_inv["id"])
    emu.cancel(key, to_cancel["id"])
    emu.add_invoice(key, invoice_type="invoice", status="unpaid")
    return (
        f"in BillX, company {BILLX_COMPANIES[0][0]}: {open_inv['invoice_number']} is paid, "
        f"{to_cancel['invoice_number']} is cancelled, one new invoice"
    )


def run_demo(
    say: Callable[[str], None], show: Callable[[list[dict[str, Any]]], None]
) -> list[dict[str, Any]]:
    if crypto.ensure_key_file():
        say(f"created a local secret key in {config.key_file()} (mode 0600) to encrypt API keys")
    wh = Warehouse(config.db_path())
    with BillingoEmulator() as billingo, BillxEmulator() as billx:
        first_billingo = _setup_billingo(wh, billingo, say)
        first_billx = _setup_billx(wh, billx, say)
        say(f"warehouse: {wh.path}")
        say(
            "\n1. full sync of every active company and source (the Dagster sync_job, in "
            f"process; requests paced at {RetryPolicy.from_env().requests_per_minute or 0:g}/min "
            "per key, as for the live APIs; BillX needs one request per invoice the first time)"
        )
        results = run_sync(wh)
        show(results)
        changes = [_change_billingo(billingo, first_billingo), _change_billx(billx, first_billx)]
        say("\n2. " + ";\n   ".join(changes) + ".\n   Then an incremental sync (`sync "
            "--incremental`): Billingo is asked only for what changed since the first sync "
            "(compare api_calls), BillX reads its newest pages and fetches only the changed "
            "invoices and the drafts")  # fmt: skip
        again = run_sync(wh, mode="incremental")
        show(again)
    return results + again
