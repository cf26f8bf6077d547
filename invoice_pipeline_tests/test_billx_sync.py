"""The BillX sync end to end: emulator over real HTTP -> Dagster assets -> DuckDB file."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import dagster as dg
import httpx
import pytest

from invoice_pipeline import settings_store
from invoice_pipeline.billingo.assets import billingo_documents
from invoice_pipeline.billx.client import BillxClient
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.billx import PREFIX, TEST_INVOICES, TEST_KEY, BillxEmulator
from invoice_pipeline.emulators.knobs import FaultInjector
from invoice_pipeline.http import ApiClient
from invoice_pipeline.resources import SourceApiResource
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import (
    billx_assets,
    configure,
    configure_billx,
    materialize,
    scalar,
    sync_billx,
)

PAYMENT_STATUS = {  # BillX status -> the shared vocabulary
    "unpaid": "outstanding",
    "overdue": "expired",
    "paid": "paid",
    "partially_paid": "partially_paid",
    "cancelled": "none",
    "draft": "none",
}
PAYMENT_METHOD = {"transfer": "wire_transfer", "cash": "cash", "card": "bankcard"}


@pytest.fixture
def billx() -> Iterator[BillxEmulator]:
    with BillxEmulator(timeout_s=3.0) as emu:
        yield emu


def _details(emu: BillxEmulator, key: str) -> list[tuple[bytes, dict[str, Any]]]:
    """Every invoice detail as served: the exact bytes and parsed with exact amounts."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=emu.base_url, headers=headers) as http:
        bodies = [http.get(f"/invoices/{i['id']}").content for i in emu.invoices(key)]
    return [(b, json.loads(b, parse_float=Decimal)) for b in bodies]


def _drafts(emu: BillxEmulator, key: str) -> int:
    return sum(i["invoice_type"] == "draft" for i in emu.invoices(key))


def _list_calls(emu: BillxEmulator, key: str) -> int:
    """List pages of one sync: invoices, customers and products, 100 a page (at least one)."""
    sizes = (len(emu.invoices(key)), len(emu.customers(key)), len(emu.products(key)))
    return sum(max(1, math.ceil(n / 100)) for n in sizes)


def test_full_sync_stores_every_invoice_line_customer_and_product(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator, api_key: str
) -> None:
    configure_billx(wh, billx, api_key, invoices=250)
    run, result = sync_billx(wh, dagster_instance)
    assert run.success
    details = _details(billx, api_key)
    lines = sum(len(d["items"]) for _, d in details)
    assert result["status"] == "COMPLETED" and result["errors"] == []
    assert result["invoices_processed"] == result["invoices_created"] == 250
    assert result["invoices_updated"] == result["invoices_skipped"] == 0
    assert result["items_extracted"] == lines
    assert result["api_calls"] == _list_calls(billx, api_key) + 250  # lists + every detail
    assert scalar(wh, "SELECT count(*) FROM invoices WHERE source = 'billx'") == 250
    assert scalar(wh, "SELECT count(*) FROM invoice_items WHERE source = 'billx'") == lines
    with wh.read() as con:
        stored = dict(
            con.execute(
                "SELECT document_id, CAST(payload AS VARCHAR) FROM raw_documents "
                "WHERE listing_hash IS NOT NULL"
            ).fetchall()
        )
        partners = con.execute(
            "SELECT partner_id, name, tax_number, email, post_code, city, country_code "
            "FROM partners WHERE source = 'billx' ORDER BY partner_id"
        ).fetchall()
        products = con.execute(
            "SELECT product_id, name, unit, net_unit_price, vat, description "
            "FROM products WHERE source = 'billx' ORDER BY product_id"
        ).fetchall()
    assert stored == {d["id"]: body.decode() for body, d in details}  # the detail as received
    customers = billx.customers(api_key)
    assert partners == [
        (c["id"], c["name"], c["tax_number"], c["email"], c["postal_code"], c["city"], "HU")
        for c in customers
    ]
    assert products == [
        (
            p["id"], p["name"], p["unit"], Decimal(p["price"]), f"{p['vat_rate']}%",
            p["description"] or None,
        )
        for p in billx.products(api_key)
    ]  # fmt: skip
    assert scalar(wh, "SELECT status FROM sync_logs") == "COMPLETED"


def test_money_is_exact_to_the_filler_and_lines_add_up(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator, api_key: str
) -> None:
    configure_billx(wh, billx, api_key, invoices=200, seed=9)
    sync_billx(wh, dagster_instance)
    docs = [d for _, d in _details(billx, api_key)]
    assert any(d["currency"] == "EUR" for d in docs)
    for column, field in (("net_total", "total_net"), ("gross_total", "total_gross")):
        assert scalar(wh, f"SELECT sum({column}) FROM invoices") == sum(
            Decimal(d[field]) for d in docs
        )
    line_gross = sum(Decimal(i["gross_amount"]) for d in docs for i in d["items"])
    assert scalar(wh, "SELECT sum(gross_amount) FROM invoice_items") == line_gross
    rate = "SELECT conversion_rate FROM invoices WHERE invoice_id = ?"
    eur = next(d for d in docs if d["currency"] == "EUR")
    assert scalar(wh, rate, [eur["id"]]) == Decimal(eur["exchange_rate"])
    off = """
        SELECT count(*) FROM invoices v JOIN (
            SELECT invoice_id, sum(net_amount) AS net, sum(vat_amount) AS vat,
                   sum(gross_amount) AS gross FROM invoice_items GROUP BY invoice_id
        ) l USING (invoice_id)
        WHERE v.net_total <> l.net OR v.vat_total <> l.vat OR v.gross_total <> l.gross"""
    assert scalar(wh, off) == 0  # BillX totals are exact line sums
    assert scalar(wh, "SELECT typeof(gross_total) FROM invoices LIMIT 1") == "DECIMAL(18,4)"


def test_statuses_and_methods_are_mapped_and_the_raw_values_kept(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator, api_key: str
) -> None:
    configure_billx(wh, billx, api_key, invoices=250)
    odd = next(i for i in billx.invoices(api_key) if i["status"] == "paid")
    billx.replace_invoice(
        api_key, odd["id"], {**odd, "status": "Disputed", "payment_method": "SZÉP"}
    )
    sync_billx(wh, dagster_instance)
    with wh.read() as con:
        rows = con.execute(
            "SELECT invoice_id, type, payment_status, payment_status_raw, payment_method, "
            "payment_method_raw, cancelled FROM invoices"
        ).fetchall()
        vats = {r[0] for r in con.execute("SELECT DISTINCT vat FROM invoice_items").fetchall()}
    by_id = {r[0]: r[1:] for r in rows}
    assert by_id.pop(odd["id"]) == ("invoice", "disputed", "Disputed", "szép", "SZÉP", False)
    assert {r[2] for r in by_id.values()} == set(PAYMENT_STATUS)  # every BillX status occurs
    for kind, status, status_raw, method, method_raw, cancelled in by_id.values():
        assert status == PAYMENT_STATUS[status_raw]
        assert method == PAYMENT_METHOD[method_raw]
        assert cancelled == (status_raw == "cancelled")
        assert (kind == "draft") == (status_raw == "draft")
    assert vats <= {"0%", "5%", "18%", "27%"} and "27%" in vats


def test_resync_of_unchanged_data_fetches_only_the_lists_and_drafts(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator, api_key: str
) -> None:
    configure_billx(wh, billx, api_key, invoices=150)
    sync_billx(wh, dagster_instance)
    before = scalar(wh, "SELECT max(last_changed_at) FROM raw_documents")
    partners_before = scalar(wh, "SELECT max(last_changed_at) FROM partners")
    _, result = sync_billx(wh, dagster_instance)
    assert result["status"] == "COMPLETED"
    assert result["invoices_skipped"] == result["invoices_processed"] == 150
    assert result["invoices_created"] == result["invoices_updated"] == 0
    assert result["items_extracted"] == 0
    drafts = _drafts(billx, api_key)
    assert drafts > 0  # drafts can be edited without a trace in the list: always fetched
    assert result["api_calls"] == _list_calls(billx, api_key) + drafts
    assert scalar(wh, "SELECT max(last_changed_at) FROM raw_documents") == before
    assert scalar(wh, "SELECT max(last_changed_at) FROM partners") == partners_before


def test_changes_between_syncs_are_counted_exactly(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator, api_key: str
) -> None:
    configure_billx(wh, billx, api_key, invoices=150)
    sync_billx(wh, dagster_instance)
    invoices = billx.invoices(api_key)
    unpaid = next(i for i in invoices if i["status"] in ("unpaid", "overdue"))
    paid = next(i for i in invoices if i["status"] == "paid" and i["invoice_type"] == "invoice")
    billx.pay(api_key, unpaid["id"], paid_date=date(2026, 11, 20))
    billx.cancel(api_key, paid["id"])
    new = billx.add_invoice(api_key, invoice_type="invoice")  # shifts every list page by one
    headers = {"Authorization": f"Bearer {api_key}"}
    httpx.post(f"{billx.base_url}/customers", json={"name": "Új Ügyfél Kft."}, headers=headers)
    _, result = sync_billx(wh, dagster_instance)
    assert (result["invoices_created"], result["invoices_updated"]) == (1, 2)
    assert result["invoices_skipped"] == 148 and result["invoices_processed"] == 151
    assert result["items_extracted"] == len(new["items"]) + sum(
        len(i["items"]) for i in (unpaid, paid)
    )
    drafts = _drafts(billx, api_key)
    assert result["api_calls"] == _list_calls(billx, api_key) + 3 + drafts
    status = "SELECT payment_status, paid_date, cancelled FROM invoices WHERE invoice_id = ?"
    with wh.read() as con:
        assert con.execute(status, [unpaid["id"]]).fetchone() == ("paid", date(2026, 11, 20), False)
        assert con.execute(status, [paid["id"]]).fetchone()[::2] == ("none", True)
        assert con.execute(status, [new["id"]]).fetchone() is not None
    assert scalar(wh, "SELECT count(*) FROM invoices") == 151
    assert scalar(wh, "SELECT count(*) FROM partners WHERE name = 'Új Ügyfél Kft.'") == 1


@pytest.mark.parametrize("invoices", [0, 100, 101])
def test_paging_edges(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    billx: BillxEmulator,
    api_key: str,
    invoices: int,
) -> None:
    configure_billx(wh, billx, api_key, invoices=invoices)
    _, result = sync_billx(wh, dagster_instance)
    assert result["status"] == "COMPLETED"
    assert result["invoices_created"] == invoices
    invoice_pages = {0: 1, 100: 1, 101: 2}[invoices]
    assert result["api_calls"] == invoice_pages + invoices + 2  # + customers, products
    assert scalar(wh, "SELECT count(*) FROM invoices") == invoices


def test_a_rejected_api_key_fails_with_a_one_line_reason(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator
) -> None:
    settings_store.upsert(
        wh, company_id=9, source="billx", company_name="Company 9 Kft.",
        api_key=secrets.token_hex(16), base_url=billx.base_url,
    )  # fmt: skip
    run, result = sync_billx(wh, dagster_instance)
    assert not run.success
    assert result["status"] == "FAILED"
    assert result["errors"] == [
        {
            "invoice_id": None,
            "invoice_number": None,
            "error": "BillX rejected the API key for company 9",
        }
    ]
    assert result["api_calls"] == 1


@pytest.mark.parametrize("fault", ["500", "truncated", "429-http-date"])
def test_transient_faults_are_retried(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    billx: BillxEmulator,
    api_key: str,
    fault: str,
) -> None:
    configure_billx(wh, billx, api_key, invoices=30)
    billx.script_faults(api_key, [fault])
    _, result = sync_billx(wh, dagster_instance)
    assert result["status"] == "COMPLETED", result["errors"]
    assert result["invoices_created"] == 30
    assert result["api_calls"] == 3 + 30 + 1  # the retried list page


def test_random_faults_on_list_detail_and_catalog_calls_are_retried(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, api_key: str
) -> None:
    # Seed 81 at 15%: a 500 on the invoice list, a timeout on the customer list, faults on
    # 13 detail calls, and no request faulting on all four of its attempts (3 retries).
    # Faults follow the request and the attempt, not arrival order, so concurrent detail
    # fetches see the same ones every run; this checks that before relying on it.
    draws = FaultInjector(0.15, seed=81)
    with BillxEmulator(fault_rate=draws.rate, fault_seed=draws.seed, timeout_s=2.0) as billx:
        configure_billx(wh, billx, api_key, invoices=60)
        names = ("invoices", "customers", "products")
        lists = [f"GET {PREFIX}/{name}?page=1&per_page=100" for name in names]
        details = [f"GET {PREFIX}/invoices/{i['id']}" for i in billx.invoices(api_key)]
        faults = {t: [draws.fault_for(t, n) for n in range(1, 5)] for t in lists + details}
        assert not any(all(attempts) for attempts in faults.values())
        assert faults[lists[0]][0] and faults[lists[1]][0]
        assert sum(bool(faults[t][0]) for t in details) == 13
        _, result = sync_billx(wh, dagster_instance)
        served = billx.request_count(api_key)
    assert result["status"] == "COMPLETED", result["errors"]
    assert result["invoices_created"] == 60
    retries = sum(attempts.index(None) for attempts in faults.values())
    assert result["api_calls"] == served == len(faults) + retries  # every attempt counted


def test_a_429_storm_is_ridden_out(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, api_key: str
) -> None:
    patient = SourceApiResource(
        retries=6, requests_per_minute=0, backoff_base_s=0.05, max_wait_s=0.5, timeout_s=2.0
    )
    with BillxEmulator(rate_limit=20, rate_limit_window_s=0.5) as billx:
        configure_billx(wh, billx, api_key, invoices=60)
        _, result = sync_billx(wh, dagster_instance, api=patient)
    assert result["status"] == "COMPLETED", result["errors"]
    assert result["invoices_created"] == 60
    assert result["api_calls"] > 3 + 60  # some requests were refused and retried


def test_malformed_invoices_are_rejected_and_the_sync_is_partial(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator, api_key: str
) -> None:
    configure_billx(wh, billx, api_key, invoices=40)
    invoices = [i for i in billx.invoices(api_key) if i["invoice_type"] != "draft"]
    bad_summary, bad_detail, gone, broken = invoices[3:7]

    def listed(invoice: dict[str, Any], **changes: Any) -> dict[str, Any]:
        entry = {k: v for k, v in invoice.items() if k not in ("notes", "paid_date", "items")}
        return {**entry, "customer": {"id": 1, "name": "x"}, **changes}

    billx.replace_invoice(api_key, bad_summary["id"], {**bad_summary, "total_gross": "sok"})
    billx.replace_invoice(
        api_key, bad_detail["id"], {**bad_detail, "items": "nope"}, summary=listed(bad_detail)
    )
    billx.replace_invoice(api_key, gone["id"], gone, summary=listed(gone, id=10**9))
    billx.replace_invoice(api_key, broken["id"], b'{"id":1,"total_', summary=listed(broken))
    run, result = sync_billx(wh, dagster_instance)
    assert run.success
    assert result["status"] == "PARTIAL"
    assert result["invoices_created"] == 36
    errors = {e["invoice_id"]: e for e in result["errors"]}
    assert set(errors) == {bad_summary["id"], bad_detail["id"], 10**9, broken["id"]}
    assert errors[bad_summary["id"]]["invoice_number"] == bad_summary["invoice_number"]
    assert errors[bad_summary["id"]]["error"] == "total_gross: Input should be a number"
    assert errors[bad_detail["id"]]["error"].startswith("items: ")
    assert "404" in errors[10**9]["error"]
    assert "malformed response" in errors[broken["id"]]["error"]
    assert all("\n" not in e["error"] for e in result["errors"])
    rejected = [bad_summary["id"], bad_detail["id"], broken["id"], 10**9]
    stored = "SELECT count(*) FROM invoices WHERE list_contains(?, invoice_id)"
    assert scalar(wh, stored, [rejected]) == 0
    _, again = sync_billx(wh, dagster_instance)  # still bad: reported again, nothing doubled
    assert again["status"] == "PARTIAL" and len(again["errors"]) == 4
    assert again["invoices_skipped"] == 36 and scalar(wh, "SELECT count(*) FROM invoices") == 36


def test_the_public_test_key_syncs_its_mock_data(
    wh: Warehouse, dagster_instance: dg.DagsterInstance, billx: BillxEmulator
) -> None:
    configure_billx(wh, billx, TEST_KEY, name="BillX Demo Kft.")
    _, result = sync_billx(wh, dagster_instance)
    assert result["status"] == "COMPLETED"
    assert result["invoices_created"] == TEST_INVOICES
    assert scalar(wh, "SELECT count(*) FROM invoices WHERE source = 'billx'") == TEST_INVOICES


def test_both_sources_of_one_company_in_one_warehouse(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    billx: BillxEmulator,
    api_key: str,
) -> None:
    configure(wh, emulator, api_key, company_id=7, docs=80)
    configure_billx(wh, billx, api_key + "-x", company_id=7, invoices=70)
    assets = [billingo_documents, *billx_assets()]
    run, results = materialize(wh, dagster_instance, assets, company_id=7)
    assert run.success
    assert [(r["source"], r["status"], r["invoices_created"]) for r in results] == [
        ("billingo", "COMPLETED", 80),
        ("billx", "COMPLETED", 70),
    ]
    logs = "SELECT count(*) FROM sync_logs WHERE company_id = 7 AND run_id = ?"
    assert scalar(wh, logs, [run.run_id]) == 2
    with wh.read() as con:  # what an analyst compares: invoices and gross per source
        rows = con.execute(
            """
            SELECT source, currency, count(*) AS invoices, sum(gross_total) AS gross,
                   count(*) FILTER (payment_status = 'outstanding') AS open
            FROM invoices WHERE company_id = 7 AND NOT coalesce(cancelled, false)
            GROUP BY ALL ORDER BY source, currency
            """
        ).fetchall()
        statuses = con.execute(
            "SELECT DISTINCT source, payment_status FROM invoices WHERE company_id = 7"
        ).fetchall()
    assert {r[0] for r in rows} == {"billingo", "billx"}
    assert sum(r[2] for r in rows) == scalar(
        wh, "SELECT count(*) FROM invoices WHERE NOT coalesce(cancelled, false)"
    )
    assert all(isinstance(r[3], Decimal) for r in rows)
    vocabulary = {"expired", "none", "outstanding", "paid", "partially_paid"}
    assert {s for _, s in statuses} <= vocabulary  # one vocabulary for both sources


def test_lists_without_an_envelope_end_on_a_short_or_repeated_page() -> None:
    """The seed's ``GET /products`` example has no ``meta``: the crawl still ends, whether the
    API pages (a short last page) or ignores paging (the same page again)."""
    products = [{"id": i, "name": f"P{i}", "price": 10, "vat_rate": 27} for i in range(1, 131)]

    def paged(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"data": products[(page - 1) * 100 : page * 100]})

    def unpaged(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": products})

    for handler, calls in ((paged, 2), (unpaged, 2)):
        client = BillxClient(company_id=9, api_key="k" * 16, base_url="http://billx.test")
        client.http.close()
        client.http = ApiClient(
            source="BillX", company_id=9, base_url="http://billx.test", headers={},
            pacing_key="test", transport=httpx.MockTransport(handler),
        )  # fmt: skip
        with client:
            pages = list(client._crawl("/products", "products"))
            assert client.api_calls == calls
        listed = [e["id"] for p in pages for i, e in enumerate(p.entries) if i not in p.repeated]
        assert listed == list(range(1, 131)) and not any(p.problems for p in pages)
