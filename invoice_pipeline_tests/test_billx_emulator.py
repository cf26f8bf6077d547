"""The BillX emulator over real HTTP: envelope, paging, auth, detail, exact money, POSTs with
validation and series numbering, test mode, determinism, changes between syncs, faults, rate
limits and the CLI."""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP as HALF_UP
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from invoice_pipeline.emulators.billx import TEST_KEY, BillxEmulator
from invoice_pipeline.emulators.billx_invoice import STATUSES
from invoice_pipeline.emulators.billx_json import dumps, loads

TODAY = date(2025, 10, 27)
CENT = Decimal("0.01")
KEY = "billx-test-key"
EMPTY = "billx-empty-key"  # no invoices: clean series counters
SUMMARY_FIELDS = [
    "id", "invoice_number", "invoice_type", "block_id", "invoice_date", "fulfillment_date",
    "due_date", "status", "payment_method", "total_net", "total_vat", "total_gross", "currency",
    "exchange_rate", "customer", "created_at",
]  # fmt: skip
DETAIL_FIELDS = [*SUMMARY_FIELDS, "notes", "paid_date", "items"]
ITEM_FIELDS = [
    "id", "product_id", "name", "unit", "quantity", "unit_price", "vat_rate", "net_amount",
    "vat_amount", "gross_amount",
]  # fmt: skip
CUSTOMER_FIELDS = [
    "id", "name", "email", "tax_number", "phone", "postal_code", "city", "address", "country",
    "created_at",
]  # fmt: skip
PRODUCT_FIELDS = ["id", "name", "unit", "price", "vat_rate", "description"]
SEED_EXAMPLE: dict[str, Any] = {  # the seed's "Create Invoice" request
    "customer_id": 1,
    "invoice_type": "invoice",
    "block_id": 1,
    "fulfillment_date": "2025-01-15",
    "due_date": "2025-01-22",
    "payment_method": "transfer",
    "currency": "HUF",
    "notes": "Thank you for your business",
    "items": [
        {"name": "Web Development", "unit": "hour", "quantity": 10, "unit_price": 10000},
        {"name": "Hosting", "unit": "month", "quantity": 1, "unit_price": 5000, "vat_rate": 27},
    ],
}


def invoice_body(**changes: Any) -> dict[str, Any]:
    body = {**SEED_EXAMPLE, "due_date": "2025-11-10", **changes}
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture(scope="module")
def emu() -> Iterator[BillxEmulator]:
    """Shared, read-only: tests that write or turn knobs start their own emulator."""
    with BillxEmulator(today=TODAY) as emulator:
        emulator.add_account(KEY, invoices=300, seed=5)
        for n in (0, 1, 100, 101):
            emulator.add_account(f"size-{n}", invoices=n, seed=n)
        yield emulator


def client(emulator: BillxEmulator, key: str | None = KEY, **kw: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=emulator.base_url, headers=headers, timeout=5, **kw)


def get(emulator: BillxEmulator, path: str, key: str | None = KEY, **params: Any) -> httpx.Response:
    with client(emulator, key) as c:
        return c.get(path, params=params)


def exact(response: httpx.Response) -> Any:
    """The body with fractions as Decimal: the exact amounts as written."""
    return json.loads(response.content, parse_float=Decimal)


def crawl(
    emulator: BillxEmulator, path: str = "/invoices", key: str = KEY, as_decimal: bool = False
) -> list[Any]:
    parse = exact if as_decimal else httpx.Response.json
    out: list[Any] = []
    with client(emulator, key) as c:
        page = 1
        while data := parse(c.get(path, params={"per_page": 100, "page": page}))["data"]:
            out += data
            page += 1
    return out


# -- envelope, paging, auth, routes --------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, 101])
def test_envelope_and_paging_edges(emu: BillxEmulator, size: int) -> None:
    with client(emu, f"size-{size}") as c:
        first = c.get("/invoices", params={"per_page": 100}).json()
        assert list(first) == ["data", "meta"]
        assert first["meta"] == {"total": size, "page": 1, "per_page": 100}
        assert len(first["data"]) == min(size, 100)
        last = c.get("/invoices", params={"per_page": 100, "page": 2}).json()
        assert len(last["data"]) == max(0, size - 100)  # the last page is the short one
        beyond = c.get("/invoices", params={"per_page": 100, "page": 7}).json()
        assert beyond == {"data": [], "meta": {"total": size, "page": 7, "per_page": 100}}
        default = c.get("/invoices").json()
        assert default["meta"] == {"total": size, "page": 1, "per_page": 20}
        assert len(default["data"]) == min(size, 20)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 101}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1.5"}, "page"),
    ],
)
@pytest.mark.parametrize("path", ["/invoices", "/customers", "/products"])
def test_bad_paging_is_a_422_naming_the_field(
    emu: BillxEmulator, path: str, params: dict[str, Any], field: str
) -> None:
    response = get(emu, path, **params)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "The given data was invalid."
    assert list(body["errors"]) == [field] and body["errors"][field][0].startswith("The ")


def test_per_page_100_is_allowed_and_lists_are_ordered(emu: BillxEmulator) -> None:
    invoices = crawl(emu)
    assert len(invoices) == 300 and list(invoices[0]) == SUMMARY_FIELDS
    ids = [i["id"] for i in invoices]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 300  # newest first
    assert ids == [i["id"] for i in emu.invoices(KEY)]
    for path, fields in (("/customers", CUSTOMER_FIELDS), ("/products", PRODUCT_FIELDS)):
        items = crawl(emu, path)
        assert list(items[0]) == fields
        assert [i["id"] for i in items] == list(range(1, len(items) + 1))  # by id ascending
    assert len(crawl(emu, "/customers")) == 60  # invoices / 5
    assert len(crawl(emu, "/products")) == 30
    page = get(emu, "/products", per_page=7, page=5).json()
    assert page["meta"] == {"total": 30, "page": 5, "per_page": 7} and len(page["data"]) == 2


@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Bearer", f"Basic {KEY}", KEY])
def test_missing_or_wrong_key_is_a_401_and_is_counted(emu: BillxEmulator, auth: str | None) -> None:
    before = emu.request_count()
    headers = {"Authorization": auth} if auth is not None else {}
    response = httpx.get(f"{emu.base_url}/invoices", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}
    assert emu.request_count() == before + 1


def test_not_found_and_method_not_allowed(emu: BillxEmulator) -> None:
    assert get(emu, "/invoices/999999").status_code == 404
    assert get(emu, "/invoices/999999").json() == {"message": "Not found."}
    assert get(emu, "/invoices/abc").status_code == 404
    assert get(emu, "/nothing").json() == {"message": "Not found."}
    with client(emu) as c:
        deleted = c.delete("/invoices")
        assert deleted.status_code == 405 and deleted.headers["allow"] == "GET, HEAD, POST"
        assert "DELETE method is not supported" in deleted.json()["message"]
        some_id = c.get("/invoices").json()["data"][0]["id"]
        assert c.put(f"/invoices/{some_id}", json={}).status_code == 405
        assert c.post("/invoices", content=b"{not json").status_code == 400
        assert c.post("/invoices", json=[1, 2]).json() == {
            "message": "The request body must be a JSON object."
        }


# -- data -----------------------------------------------------------------------------------


def test_detail_has_items_and_totals_equal_the_line_sums(emu: BillxEmulator) -> None:
    summaries = crawl(emu, as_decimal=True)
    with client(emu) as c:
        details = [exact(c.get(f"/invoices/{s['id']}")) for s in summaries]
    for summary, detail in zip(summaries, details, strict=True):
        assert list(detail) == DETAIL_FIELDS
        assert {k: detail[k] for k in SUMMARY_FIELDS if k != "customer"} == {
            k: summary[k] for k in SUMMARY_FIELDS if k != "customer"
        }
        assert {"id": detail["customer"]["id"], "name": detail["customer"]["name"]} == summary[
            "customer"
        ]
        assert list(detail["customer"]) == CUSTOMER_FIELDS
        assert 1 <= len(detail["items"]) <= 20
        for item in detail["items"]:
            assert list(item) == ITEM_FIELDS
            net = (Decimal(item["quantity"]) * item["unit_price"]).quantize(CENT, HALF_UP)
            assert item["net_amount"] == net
            assert item["vat_amount"] == (net * item["vat_rate"] / 100).quantize(CENT, HALF_UP)
            assert item["net_amount"] + item["vat_amount"] == item["gross_amount"]
        for total, part in (("total_net", "net_amount"), ("total_vat", "vat_amount")):
            assert detail[total] == sum(i[part] for i in detail["items"])  # to the fillér
        assert detail["total_gross"] == detail["total_net"] + detail["total_vat"]
    statuses = {d["status"] for d in details}
    assert statuses <= set(STATUSES) and {"paid", "overdue", "unpaid", "draft"} <= statuses
    assert {d["invoice_type"] for d in details} == {"invoice", "proforma", "draft"}
    assert {d["payment_method"] for d in details} == {"transfer", "cash", "card"}
    assert {d["currency"] for d in details} == {"HUF", "EUR"}
    for d in details:
        rate = d["exchange_rate"]
        assert rate == 1 if d["currency"] == "HUF" else 390 <= rate <= 410
        if d["status"] == "overdue":
            assert d["due_date"] < TODAY.isoformat() and d["paid_date"] is None
        if d["status"] == "paid":
            assert d["invoice_date"] <= d["paid_date"] <= TODAY.isoformat()
    assert all(d["invoice_date"] <= TODAY.isoformat() for d in details)
    rates = [i["vat_rate"] for d in details for i in d["items"]]
    assert set(rates) == {0, 5, 18, 27} and rates.count(27) > len(rates) / 2
    lines = [i for d in details for i in d["items"]]
    assert 2 <= len(lines) / len(details) <= 4
    assert any(i["product_id"] is None for i in lines) and any(i["product_id"] for i in lines)
    assert any(d["notes"] == "" for d in details) and any(d["notes"] for d in details)
    numbers = [d["invoice_number"] for d in details]
    assert len(set(numbers)) == len(numbers)
    pattern = r"BILLX-(ABC-|PROFORMA-)?\d{4}/\d{4}|DRAFT-[0-9a-f]{5}-[0-9A-F]{4}"
    assert all(re.fullmatch(pattern, n) for n in numbers)


def test_money_text_is_exact(emu: BillxEmulator) -> None:
    with client(emu) as c:
        pages = [c.get("/invoices", params={"per_page": 100, "page": p}) for p in (1, 2, 3)]
    raw = b"".join(p.content for p in pages)
    assert not re.search(rb"\d\.\d{3,}", raw)  # never 0.30000000000000004, at most 2 decimals
    assert b"e+" not in raw and b"E+" not in raw
    docs = [d for p in pages for d in exact(p)["data"]]
    assert any(isinstance(d["total_gross"], Decimal) for d in docs)  # fractions exist
    assert any(isinstance(d["total_gross"], int) for d in docs)  # whole amounts are ints
    with client(emu) as c:  # the generator's templates write what the generic encoder writes
        for entry in docs[:40]:
            assert dumps(entry) in pages[0].content + pages[1].content + pages[2].content
            detail = c.get(f"/invoices/{entry['id']}").content
            assert dumps(loads(detail)) == detail


def test_customers_are_hungarian(emu: BillxEmulator) -> None:
    customers = crawl(emu, "/customers")
    assert {c["country"] for c in customers} == {"HU"}
    taxed = [c["tax_number"] for c in customers if c["tax_number"] is not None]
    assert taxed and all(re.fullmatch(r"\d{8}-\d-\d{2}", t) for t in taxed)
    assert any(ch in json.dumps(customers, ensure_ascii=False) for ch in "őűáé")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", c["created_at"]) for c in customers)


def test_same_seed_gives_identical_bytes_and_other_seeds_differ() -> None:
    bodies = []
    for seed in (11, 11, 12):
        with BillxEmulator(today=TODAY) as e:
            e.add_account(KEY, invoices=120, seed=seed)
            with client(e) as c:
                pages = [c.get(p, params={"per_page": 100}).content for p in ("/invoices",)]
                pages += [c.get("/customers").content, c.get("/products").content]
                pages.append(c.get(f"/invoices/{json.loads(pages[0])['data'][5]['id']}").content)
            bodies.append(pages)
    assert bodies[0] == bodies[1]
    assert bodies[0][0] != bodies[2][0]


# -- POSTs ----------------------------------------------------------------------------------


@pytest.fixture
def fresh() -> Iterator[BillxEmulator]:
    with BillxEmulator(today=TODAY) as emulator:
        emulator.add_account(KEY, invoices=30, seed=3)
        emulator.add_account(EMPTY, invoices=0, seed=4)
        yield emulator


def test_create_customer(fresh: BillxEmulator) -> None:
    new = {"name": "Acme Kft.", "email": "info@acme.hu", "tax_number": "12345678-1-23"}
    with client(fresh) as c:
        before = c.get("/customers").json()["meta"]["total"]
        created = c.post("/customers", json={**new, "city": "Budapest"})
        assert created.status_code == 201
        body = created.json()
        assert list(body) == CUSTOMER_FIELDS and "test_mode" not in body
        assert body["id"] == before + 1 and body["country"] == "HU" and body["phone"] is None
        assert body["created_at"].startswith("2025-10-27 ")
        listed = c.get("/customers", params={"per_page": 100}).json()
        assert listed["meta"]["total"] == before + 1 and listed["data"][-1] == body
        bad_tax = c.post("/customers", json={**new, "tax_number": "1234567-1-23"})
        assert bad_tax.status_code == 422
        assert bad_tax.json()["errors"] == {
            "tax_number": ["The tax number must look like 12345678-1-23."]
        }
        no_name = c.post("/customers", json={"email": "not-an-email"}).json()["errors"]
        assert set(no_name) == {"name", "email"}
        assert no_name["name"] == ["The name field is required."]
        assert c.get("/customers").json()["meta"]["total"] == before + 1


def test_create_product(fresh: BillxEmulator) -> None:
    with client(fresh) as c:
        created = c.post("/products", json={"name": "Tárhely", "price": 1990.5})
        assert created.status_code == 201
        assert created.json() == {
            "id": 31,
            "name": "Tárhely",
            "unit": "db",
            "price": 1990.5,
            "vat_rate": 27,
            "description": "",
        }
        assert c.get("/products", params={"page": 2, "per_page": 30}).json()["data"] == [
            created.json()
        ]
        bad = c.post("/products", json={"price": -1, "vat_rate": 20, "unit": 5}).json()["errors"]
        assert set(bad) == {"name", "price", "vat_rate", "unit"}
        assert c.post("/products", json={"name": "x", "price": 1.005}).status_code == 422


def test_create_invoice_seed_example_totals(fresh: BillxEmulator) -> None:
    with client(fresh, EMPTY) as c:
        response = c.post("/invoices", json=SEED_EXAMPLE)
        assert response.status_code == 201
        body = exact(response)
        assert list(body) == DETAIL_FIELDS
        assert body["invoice_number"] == "BILLX-2025/0001"
        assert (body["total_net"], body["total_vat"], body["total_gross"]) == (
            105000,
            28350,
            133350,
        )
        assert body["currency"] == "HUF" and body["exchange_rate"] == 1
        assert body["invoice_date"] == "2025-10-27" and body["paid_date"] is None
        assert body["status"] == "overdue"  # unpaid, due 2025-01-22, today 2025-10-27
        assert [i["vat_rate"] for i in body["items"]] == [27, 27]  # default 27
        assert body["customer"]["id"] == 1 and body["notes"] == "Thank you for your business"
        assert c.get(f"/invoices/{body['id']}").content == response.content
        assert c.get("/invoices").json()["data"][0]["id"] == body["id"]
        future = c.post(
            "/invoices", json=invoice_body(items=[{"name": "x", "quantity": 1, "unit_price": 1}])
        )
        assert future.json()["status"] == "unpaid" and future.json()["items"][0]["unit"] == "db"


def test_create_invoice_fractional_amounts_to_the_filler(fresh: BillxEmulator) -> None:
    items = [
        {"name": "Tanácsadás", "quantity": 2.5, "unit_price": 1234.57, "vat_rate": 27},
        {"name": "Könyv", "quantity": 3.5, "unit_price": 999.99, "vat_rate": 5},
        {"name": "Csavar", "unit": "kg", "quantity": 0.333, "unit_price": 19.99, "vat_rate": 18},
    ]
    with client(fresh, EMPTY) as c:
        response = c.post("/invoices", json=invoice_body(items=items, currency="EUR"))
    assert response.status_code == 201
    body = exact(response)
    lines = [(i["net_amount"], i["vat_amount"], i["gross_amount"]) for i in body["items"]]
    d = Decimal
    assert lines == [  # half up: 3086.425 -> 3086.43, 174.9985 -> 175.00
        (d("3086.43"), d("833.34"), d("3919.77")),
        (d("3499.97"), 175, d("3674.97")),
        (d("6.66"), d("1.2"), d("7.86")),
    ]
    assert (body["total_net"], body["total_vat"], body["total_gross"]) == (
        d("6593.06"),
        d("1009.54"),
        d("7602.6"),
    )
    assert b'"total_gross":7602.6,' in response.content
    assert body["items"][2]["quantity"] == d("0.333") and body["currency"] == "EUR"


def test_series_numbering(fresh: BillxEmulator) -> None:
    with client(fresh, EMPTY) as c:

        def number(**changes: Any) -> str:
            response = c.post("/invoices", json=invoice_body(**changes))
            assert response.status_code == 201, response.text
            return str(response.json()["invoice_number"])

        assert number(block_id=None) == "BILLX-2025/0001"  # the default series
        assert number() == "BILLX-2025/0002"  # block 1 is the default series
        assert number(block_id=5) == "BILLX-ABC-2025/0001"
        assert number(block_id=None, invoice_type="proforma") == "BILLX-PROFORMA-2025/0001"
        draft = c.post("/invoices", json=invoice_body(invoice_type="draft", block_id=None)).json()
        assert re.fullmatch(r"DRAFT-[0-9a-f]{5}-[0-9A-F]{4}", draft["invoice_number"])
        assert draft["status"] == "draft" and draft["block_id"] is None
        assert number(block_id=5) == "BILLX-ABC-2025/0002"  # each series its own counter
        assert number() == "BILLX-2025/0003"  # the draft used up no number
        assert number(invoice_type="proforma", block_id=None) == "BILLX-PROFORMA-2025/0002"
        fresh.today = date(2026, 1, 2)
        assert number() == "BILLX-2026/0001"  # a new year restarts every counter
        assert number(block_id=5) == "BILLX-ABC-2026/0001"
        assert number(block_id=3) == "BILLX-PROFORMA-2026/0001"
        newest = c.get("/invoices", params={"per_page": 1}).json()["data"][0]
        assert newest["invoice_date"] == "2026-01-02"
    # Generated data uses the same series; POSTs continue after it.
    generated = [i["invoice_number"] for i in fresh.invoices(KEY)]
    last = max(n for n in generated if re.fullmatch(r"BILLX-2025/\d{4}", n))
    with client(fresh) as c:
        fresh.today = TODAY
        response = c.post("/invoices", json=invoice_body())
    assert response.json()["invoice_number"] == f"BILLX-2025/{int(last[-4:]) + 1:04d}"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"customer_id": 999}, "customer_id", "The selected customer id is invalid."),
        ({"customer_id": None}, "customer_id", "The customer id field is required."),
        ({"customer_id": "1"}, "customer_id", "The customer id must be an integer."),
        ({"block_id": 2}, "block_id", "The selected block id is invalid."),
        ({"invoice_type": "final"}, "invoice_type", "The selected invoice type is invalid."),
        ({"payment_method": "paypal"}, "payment_method", "The selected payment method is invalid."),
        ({"payment_method": None}, "payment_method", "The payment method field is required."),
        ({"due_date": "22/01/2025"}, "due_date", "The due date does not match the format Y-m-d."),
        ({"fulfillment_date": "2025-02-30"}, "fulfillment_date", "The fulfillment date is not a valid date."),  # noqa: E501
        ({"currency": "huf"}, "currency", "The currency must be a 3-letter ISO 4217 code."),
        ({"exchange_rate": 0}, "exchange_rate", "The exchange rate must be greater than 0."),
        ({"items": []}, "items", "The items field is required."),
        ({"items": {"name": "x"}}, "items", "The items must be an array."),
        ({"items": ["x"]}, "items.0", "The items.0 must be an object."),
    ],
)  # fmt: skip
def test_invoice_422s_name_the_field(
    fresh: BillxEmulator, changes: dict[str, Any], field: str, message: str
) -> None:
    body = {**SEED_EXAMPLE, **changes}
    with client(fresh, EMPTY) as c:
        response = c.post("/invoices", json={k: v for k, v in body.items() if v is not None})
        assert response.status_code == 422
        expected = {"message": "The given data was invalid.", "errors": {field: [message]}}
        assert response.json() == expected
        assert c.get("/invoices").json()["meta"]["total"] == 0  # nothing created


def test_bad_items_report_every_field_path(fresh: BillxEmulator) -> None:
    items = [
        {"name": "ok", "quantity": 1, "unit_price": 10},
        {"quantity": 0, "unit_price": -1, "vat_rate": 20},
        {"name": " ", "quantity": "2", "unit_price": 1.001, "product_id": 999},
        {"name": "x", "quantity": True, "unit_price": 1e13},
    ]
    with client(fresh, EMPTY) as c:
        response = c.post("/invoices", json=invoice_body(items=items))
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "items.1.name": ["The items.1.name field is required."],
        "items.1.quantity": ["The items.1.quantity must be greater than 0."],
        "items.1.unit_price": ["The items.1.unit price must be at least 0."],
        "items.1.vat_rate": ["The selected items.1.vat rate is invalid."],
        "items.2.product_id": ["The selected items.2.product id is invalid."],
        "items.2.name": ["The items.2.name field is required."],
        "items.2.quantity": ["The items.2.quantity must be a number."],
        "items.2.unit_price": ["The items.2.unit price must have 0-2 decimal places."],
        "items.3.quantity": ["The items.3.quantity must be a number."],
        "items.3.unit_price": ["The items.3.unit price must not be greater than 1000000000000."],
    }


def test_numbers_in_exponent_form_are_exact_or_refused(fresh: BillxEmulator) -> None:
    head = b'{"customer_id":1,"fulfillment_date":"2025-01-15","due_date":"2025-11-22",'
    head += b'"payment_method":"transfer","items":[{"name":"a",'
    with client(fresh, EMPTY) as c:
        tiny = c.post("/invoices", content=head + b'"quantity":1e-999999999,"unit_price":1}]}')
        assert list(tiny.json()["errors"]) == ["items.0.quantity"]  # quickly, no huge text
        big = c.post("/invoices", content=head + b'"quantity":2.50,"unit_price":1E+3}]}')
        assert big.status_code == 201
        assert b'"quantity":2.5,"unit_price":1000,"vat_rate":27,"net_amount":2500,' in big.content
        nan = c.post("/invoices", content=head + b'"quantity":NaN,"unit_price":1}]}')
        assert nan.json()["errors"] == {
            "items.0.quantity": ["The items.0.quantity must be a number."]
        }


def test_test_mode_validates_and_computes_but_creates_nothing(fresh: BillxEmulator) -> None:
    with client(fresh, TEST_KEY) as c:
        listed = c.get("/invoices", params={"per_page": 100}).json()
        assert listed["meta"]["total"] == 60 and len(listed["data"]) == 60  # mock data
        assert c.get(f"/invoices/{listed['data'][0]['id']}").json()["items"]
        customers = c.get("/customers").json()["meta"]["total"]
        first = c.post("/invoices", json=invoice_body())
        again = c.post("/invoices", json=invoice_body())
        assert first.status_code == again.status_code == 201
        body = exact(first)
        assert body["test_mode"] is True and list(body) == [*DETAIL_FIELDS, "test_mode"]
        assert (body["total_net"], body["total_vat"], body["total_gross"]) == (
            105000,
            28350,
            133350,
        )
        assert re.fullmatch(r"BILLX-2025/\d{4}", body["invoice_number"])
        assert again.json()["invoice_number"] == body["invoice_number"]  # not used up
        assert again.json()["id"] == body["id"] == max(i["id"] for i in listed["data"]) + 1
        after = c.get("/invoices", params={"per_page": 100}).json()
        assert after == listed  # nothing created
        assert c.get(f"/invoices/{body['id']}").status_code == 404
        for path, payload in (
            ("/customers", {"name": "Teszt Kft."}),
            ("/products", {"name": "P", "price": 1}),
        ):
            created = c.post(path, json=payload).json()
            assert created["test_mode"] is True
        assert c.get("/customers").json()["meta"]["total"] == customers
        assert c.get("/products").json()["meta"]["total"] == 30
        bad = c.post("/invoices", json=invoice_body(customer_id=10_000))
        assert bad.status_code == 422 and "customer_id" in bad.json()["errors"]


# -- changes between syncs ------------------------------------------------------------------


def test_pay_cancel_add_replace_and_today_change_what_is_served(fresh: BillxEmulator) -> None:
    before = crawl(fresh)  # fills the page cache
    open_ = next(i for i in before if i["status"] in ("unpaid", "overdue"))
    paid = fresh.pay(KEY, open_["id"])
    assert paid["status"] == "paid" and paid["paid_date"] == TODAY.isoformat()
    target = next(i for i in before if i["status"] == "paid")
    cancelled = fresh.cancel(KEY, target["id"])
    assert cancelled["status"] == "cancelled"
    with pytest.raises(ValueError):
        fresh.cancel(KEY, target["id"])
    new = fresh.add_invoice(KEY, notes="Új számla")
    assert new["notes"] == "Új számla" and new["id"] > before[0]["id"]
    after = crawl(fresh)
    assert after[0]["id"] == new["id"] and len(after) == len(before) + 1
    served = {i["id"]: i for i in after}
    assert served[open_["id"]]["status"] == "paid"
    assert served[target["id"]]["status"] == "cancelled"
    assert get(fresh, f"/invoices/{new['id']}").json() == new == fresh.invoices(KEY)[0]
    fresh.replace_invoice(KEY, new["id"], {"id": new["id"], "total_gross": "oops", "items": None})
    assert get(fresh, f"/invoices/{new['id']}").json() == {
        "id": new["id"],
        "total_gross": "oops",
        "items": None,
    }
    assert crawl(fresh)[0] == {"id": new["id"], "total_gross": "oops"}
    fresh.replace_invoice(KEY, new["id"], b'{"id":1,"total_gross":12.5', summary=b"[]")
    assert get(fresh, f"/invoices/{new['id']}").content == b'{"id":1,"total_gross":12.5'
    assert get(fresh, "/invoices", per_page=1).content.startswith(b'{"data":[[]],"meta":')
    with pytest.raises(KeyError):
        fresh.pay(KEY, 10**9)
    unpaid = [i for i in crawl(fresh) if isinstance(i, dict) and i.get("status") == "unpaid"]
    assert unpaid
    fresh.today = TODAY + timedelta(days=60)  # every open invoice is now past due
    moved = {i["id"]: i.get("status") for i in crawl(fresh) if isinstance(i, dict)}
    assert {moved[i["id"]] for i in unpaid} == {"overdue"}
    assert get(fresh, f"/invoices/{unpaid[0]['id']}").json()["status"] == "overdue"


# -- faults, rate limits, latency, CLI ------------------------------------------------------


def test_each_scripted_fault_kind() -> None:
    with BillxEmulator(today=TODAY, timeout_s=0.5) as e:
        e.add_account(KEY, invoices=10, seed=1)
        with client(e) as c:

            def next_with(fault: str, timeout: float = 2.0) -> httpx.Response:
                e.script_faults(KEY, [fault])
                return c.get("/invoices", timeout=timeout)

            r = next_with("500")
            assert r.status_code == 500 and r.json() == {"message": "Server Error"}
            r = next_with("429")
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert r.json() == {"message": "Too Many Attempts."}
            assert "retry-after" not in next_with("429-no-retry-after").headers
            r = next_with("429-http-date")
            assert parsedate_to_datetime(r.headers["retry-after"]).timestamp() > time.time()
            r = next_with("html")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            assert next_with("401").json() == {"message": "Unauthenticated."}
            with pytest.raises(httpx.RemoteProtocolError):
                next_with("truncated")
            with pytest.raises(httpx.TransportError):
                next_with("reset")
            with pytest.raises(httpx.ReadTimeout):
                next_with("timeout", timeout=0.2)
            assert c.get("/invoices").status_code == 200  # the queue is empty again
            e.script_faults(None, ["500"])  # any key, POSTs too
            assert c.post("/customers", json={"name": "x"}).status_code == 500
            assert e.customers(KEY)[-1]["name"] != "x"


def test_random_faults_are_deterministic_for_a_seed() -> None:
    outcomes = []
    for _ in range(2):
        with BillxEmulator(today=TODAY, fault_rate=0.4, fault_seed=3, timeout_s=0.01) as e:
            e.add_account(KEY, invoices=10, seed=1)
            seen = []
            with client(e) as c:
                for _ in range(25):
                    try:
                        seen.append(str(c.get("/invoices").status_code))
                    except httpx.TransportError as exc:
                        seen.append(type(exc).__name__)
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert "200" in outcomes[0] and set(outcomes[0]) - {"200"}


@pytest.mark.parametrize("mode", ["seconds", "http-date", "none"])
def test_rate_limit_429_per_key_with_retry_after_mode(mode: str) -> None:
    with BillxEmulator(today=TODAY, rate_limit=3, rate_limit_window_s=0.6, retry_after=mode) as e:
        e.add_account(KEY, invoices=3, seed=1)
        with client(e) as c:
            assert [c.get("/invoices").status_code for _ in range(3)] == [200, 200, 200]
            limited = c.get("/invoices")
            assert limited.status_code == 429
            assert limited.json() == {"message": "Too Many Attempts."}
            value = limited.headers.get("retry-after")
            if mode == "seconds":
                assert value == "1"
            elif mode == "http-date":
                assert value is not None
                assert 0 < parsedate_to_datetime(value).timestamp() - time.time() <= 2
            else:
                assert value is None
            assert get(e, "/invoices", key=TEST_KEY).status_code == 200  # per key
            time.sleep(0.65)
            assert c.get("/invoices").status_code == 200
        assert e.request_count(KEY) == 5 and e.request_count(TEST_KEY) == 1


def test_latency() -> None:
    with BillxEmulator(today=TODAY, latency_ms=150) as e, client(e, TEST_KEY) as c:
        start = time.perf_counter()
        assert c.get("/products").status_code == 200
        assert time.perf_counter() - start >= 0.15


def test_cli_serves_until_terminated() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "invoice_pipeline", "emulator", "billx"]
    key = secrets.token_hex(16)
    command += ["--port", str(port), "--docs", "25", "--seed", "2", "--api-key", key]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/billx/invoices",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert response.json()["meta"]["total"] == 25
        proc.terminate()
        assert proc.wait(timeout=5) == 0
        assert proc.stdout is not None
        out = proc.stdout.read()
        assert f"http://127.0.0.1:{port}/api/billx" in out and TEST_KEY in out
        assert key not in out
    finally:
        proc.kill()
        proc.wait()
