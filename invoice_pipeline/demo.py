"""The demo: an emulator, two demo companies, a full sync, changes, a second sync."""

import secrets
from collections.abc import Callable
from typing import Any

from invoice_pipeline import config, crypto, settings_store
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.http import RetryPolicy
from invoice_pipeline.orchestration.run import run_sync
from invoice_pipeline.warehouse import Warehouse

DEMO_COMPANIES = [(4, "IT Cardigan Kft.", 282, 4), (7, "MEDKA Kft.", 1500, 7)]


def run_demo(
    say: Callable[[str], None], show: Callable[[list[dict[str, Any]]], None]
) -> list[dict[str, Any]]:
    if crypto.ensure_key_file():
        say(f"created a local secret key in {config.key_file()} (mode 0600) to encrypt API keys")
    wh = Warehouse(config.db_path())
    with BillingoEmulator() as emu:
        keys = {}
        for company_id, name, docs, seed in DEMO_COMPANIES:
            keys[company_id] = secrets.token_hex(16)  # a fresh key each run, never printed
            emu.add_account(keys[company_id], docs=docs, seed=seed)
            settings_store.upsert(
                wh, company_id=company_id, source="billingo", company_name=name,
                api_key=keys[company_id], base_url=emu.base_url, is_active=True,
            )  # fmt: skip
            say(f"company {company_id} ({name}): Billingo emulator account with {docs} documents")
        say(f"warehouse: {wh.path}")
        say(
            "\n1. full sync of every active company (the Dagster sync_job, in process; "
            f"requests paced at {RetryPolicy.from_env().requests_per_minute or 0:g}/min "
            "per key, as for the live API)"
        )
        results = run_sync(wh)
        show(results)
        first = keys[DEMO_COMPANIES[0][0]]
        docs = emu.documents(first)
        open_doc = next(d for d in docs if d["payment_status"] in ("outstanding", "expired"))
        to_cancel = next(
            d
            for d in docs
            if d["type"] == "invoice" and not d["cancelled"] and d["id"] != open_doc["id"]
        )
        emu.pay(first, open_doc["id"])
        emu.cancel(first, to_cancel["id"])
        emu.add_document(first)
        say(
            f"\n2. in Billingo, company {DEMO_COMPANIES[0][0]}: "
            f"{open_doc['invoice_number']} is paid, "
            f"{to_cancel['invoice_number']} is cancelled (a new cancellation document), "
            "one new invoice; then sync again"
        )
        again = run_sync(wh)
        show(again)
    return results + again
