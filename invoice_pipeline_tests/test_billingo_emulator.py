"""The Billingo v3 emulator itself, over real HTTP: envelope, paging, validation, auth,
filters, determinism, exact money, mutations, scripted and random faults, rate limits."""

from __future__ import annotations

import json
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.billingo_json import encode
from invoice_pipeline.emulators.knobs import FaultInjector

TODAY = date(2025, 10, 27)
KEY = "emu-test-key"
OTHER = "emu-other-key"
DOCUMENT_FIELDS = {
    "id", "invoice_number", "type", "cancelled", "block_id", "payment_status", "payment_method",
    "gross_total", "currency", "conversion_rate", "invoice_date", "fulfillment_date", "due_date",
    "paid_date", "organization", "partner", "document_partner", "electronic", "comment", "tags",
    "notification_status", "language", "items", "summary", "settings", "online_szamla_status",
    "related_documents", "discount", "correction_type",
}  # fmt: skip
ITEM_FIELDS = {
    "product_id", "name", "net_unit_amount", "quantity", "unit", "net_amount", "gross_amount",
    "vat", "vat_amount", "entitlement", "comment", "sku", "ean",
}  # fmt: skip
ENVELOPE = ["data", "total", "per_page", "current_page", "last_page"]
ENVELOPE += ["prev_page_url", "next_page_url"]


@pytest.fixture(scope="module")
def emu() -> Iterator[BillingoEmulator]:
    """Shared, read-only: tests that change data or knobs start their own emulator."""
    with BillingoEmulator(today=TODAY) as emulator:
        emulator.add_account(KEY, docs=300, seed=5)
        emulator.add_account(OTHER, docs=101, seed=6)
        for n in (0, 1, 100):
            emulator.add_account(f"size-{n}", docs=n, seed=n)
        yield emulator


def client(emulator: BillingoEmulator, key: str | None = KEY, **kw: Any) -> httpx.Client:
    headers = {"X-API-KEY": key} if key is not None else {}
    return httpx.Client(base_url=emulator.base_url, headers=headers, timeout=5, **kw)


def get(
    emulator: BillingoEmulator, path: str, key: str | None = KEY, **params: Any
) -> httpx.Response:
    with client(emulator, key) as c:
        return c.get(path, params=params)


# -- envelope and paging ------------------------------------------------------------------


@pytest.mark.parametrize("docs", [0, 1, 100, 101])
def test_envelope_and_paging_edges(emu: BillingoEmulator, docs: int) -> None:
    key = OTHER if docs == 101 else f"size-{docs}"
    with client(emu, key) as c:
        first = c.get("/documents", params={"per_page": 100}).json()
        assert list(first) == ENVELOPE
        assert first["total"] == docs
        assert first["per_page"] == 100 and first["current_page"] == 1
        assert first["last_page"] == max(1, -(-docs // 100))
        assert len(first["data"]) == min(docs, 100)
        assert first["prev_page_url"] is None
        if docs <= 100:
            assert first["next_page_url"] is None
        else:
            assert first["next_page_url"] == f"{emu.base_url}/documents?per_page=100&page=2"
            second = c.get(first["next_page_url"]).json()  # absolute URL, same query
            assert second["current_page"] == 2 and len(second["data"]) == 1
            assert second["next_page_url"] is None
            assert second["prev_page_url"] == f"{emu.base_url}/documents?per_page=100&page=1"
        beyond = c.get("/documents", params={"per_page": 100, "page": 5}).json()
        assert beyond["data"] == [] and beyond["total"] == docs and beyond["current_page"] == 5


def test_default_page_size_order_and_keep_alive(emu: BillingoEmulator) -> None:
    with client(emu) as c:
        page = c.get("/documents")
        assert page.headers["connection"] == "keep-alive"
        assert page.headers["content-type"] == "application/json"
        body = page.json()
        assert body["per_page"] == 25 and len(body["data"]) == 25 and body["last_page"] == 12
        ids = [d["id"] for d in body["data"]]
        assert ids == sorted(ids, reverse=True)  # newest (highest id) first
        assert ids == [d["id"] for d in emu.documents(KEY)[:25]]
        assert body["next_page_url"] == f"{emu.base_url}/documents?page=2"
        one = c.get(f"/documents/{ids[3]}")
        assert one.json() == body["data"][3]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 101}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": 0}, "page"),
        ({"start_date": "2025-02-30"}, "start_date"),
        ({"end_date": "27/10/2025"}, "end_date"),
        ({"payment_status": "unpaid"}, "payment_status"),
        ({"type": "bill"}, "type"),
        ({"partner_id": "x"}, "partner_id"),
    ],
)
def test_invalid_query_is_a_422_validation_error(
    emu: BillingoEmulator, params: dict[str, Any], field: str
) -> None:
    response = get(emu, "/documents", **params)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "The given data was invalid."
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["message"]


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_missing_or_wrong_key_is_a_401_and_is_counted(
    emu: BillingoEmulator, key: str | None
) -> None:
    before = emu.request_count()
    response = get(emu, "/documents", key=key)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"message": "Authorization information (Header: X-API-KEY) is missing or invalid."}
    }
    assert emu.request_count() == before + 1


def test_other_routes(emu: BillingoEmulator) -> None:
    assert get(emu, "/documents/1").status_code == 404
    assert get(emu, "/documents/1").json() == {"error": {"message": "Document not found."}}
    assert get(emu, "/nothing/here").status_code == 404
    assert "message" in get(emu, "/nothing/here").json()["error"]
    with client(emu) as c:
        assert c.post("/documents", json={}).status_code == 405
    clock = get(emu, "/utils/time").json()
    assert clock["timezone"] == "Europe/Budapest"
    assert clock["formatted"].startswith("2025-10-27 ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", clock["formatted"])
    assert clock["w3c"].startswith("2025-10-27T") and isinstance(clock["epoch"], int)


def test_partners(emu: BillingoEmulator) -> None:
    body = get(emu, "/partners", per_page=7).json()
    assert list(body) == ENVELOPE
    assert body["total"] >= 10 and len(body["data"]) == 7
    partner = body["data"][0]
    assert partner["custom_billing_settings"] == {
        "payment_method": None,
        "document_form": None,
        "due_days": None,
        "document_currency": None,
        "template_language_code": None,
        "discount": None,
    }
    assert partner["address"]["country_code"] in ("HU", "AT")
    used = {d["document_partner"]["id"] for d in emu.documents(KEY)}
    all_ids = {p["id"] for p in get(emu, "/partners", per_page=100).json()["data"]}
    assert used <= all_ids


# -- filters ------------------------------------------------------------------------------


def crawl(emulator: BillingoEmulator, key: str = KEY, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with client(emulator, key) as c:
        url: str | None = "/documents"
        query: dict[str, Any] | None = {"per_page": 100, **params}
        while url:
            body = c.get(url, params=query).json()
            out += body["data"]
            url, query = body["next_page_url"], None
    return out


def test_filters(emu: BillingoEmulator) -> None:
    docs = emu.documents(KEY)
    for status in ("paid", "outstanding", "expired", "none"):
        expected = [d["id"] for d in docs if d["payment_status"] == status]
        assert expected, status
        assert [d["id"] for d in crawl(emu, payment_status=status)] == expected
    invoices = crawl(emu, type="invoice")
    assert invoices and {d["type"] for d in invoices} == {"invoice"}
    dates = sorted({d["invoice_date"] for d in docs})
    low, high = dates[len(dates) // 4], dates[len(dates) // 2]
    window = crawl(emu, start_date=low, end_date=high)
    assert [d["id"] for d in window] == [d["id"] for d in docs if low <= d["invoice_date"] <= high]
    paid = crawl(emu, paid_start_date=low, paid_end_date=high)
    assert paid and all(d["payment_status"] in ("paid", "partially_paid") for d in paid)
    assert all(low <= d["paid_date"] <= high for d in paid)
    block = docs[0]["block_id"]
    assert {d["block_id"] for d in crawl(emu, block_id=block)} == {block}
    partner = docs[0]["document_partner"]["id"]
    by_partner = crawl(emu, partner_id=partner)
    assert by_partner and {d["document_partner"]["id"] for d in by_partner} == {partner}
    combined = crawl(emu, type="invoice", payment_status="paid", per_page=7)
    assert {(d["type"], d["payment_status"]) for d in combined} == {("invoice", "paid")}


# -- data ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_other_seeds_differ() -> None:
    bodies = []
    for seed in (11, 11, 12):
        with BillingoEmulator(today=TODAY) as e:
            e.add_account(KEY, docs=120, seed=seed)
            r = get(e, "/documents", per_page=100, page=1)
            bodies.append(r.content.replace(e.base_url.encode(), b"BASE"))
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


def test_documents_have_every_spec_field_and_realistic_values(emu: BillingoEmulator) -> None:
    docs = emu.documents(KEY)
    ids = [d["id"] for d in docs]
    assert len(set(ids)) == len(ids) and min(ids) > 100_000_000
    numbers = [d["invoice_number"] for d in docs]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"[A-Z-]+-\d{4}-\d+", n) for n in numbers)
    for d in docs:
        assert set(d) >= DOCUMENT_FIELDS
        assert d["partner"]["id"] == d["document_partner"]["id"]
        assert d["partner"]["name"] == d["document_partner"]["name"]
        assert 1 <= len(d["items"]) <= 20
        for item in d["items"]:
            assert set(item) >= ITEM_FIELDS
        due = date.fromisoformat(d["due_date"]) - date.fromisoformat(d["invoice_date"])
        assert timedelta(0) <= due <= timedelta(days=30)
        assert {"net_amount", "vat_amount", "vat_rate_summary"} <= set(d["summary"])
        assert d["settings"]["selected_type"] in (d["type"], "cancellation")
    currencies = {d["currency"] for d in docs}
    assert currencies == {"HUF", "EUR"}
    assert all(d["conversion_rate"] == 1 for d in docs if d["currency"] == "HUF")
    assert any(ch in json.dumps(docs, ensure_ascii=False) for ch in "őűáé")
    cancellations = [d for d in docs if d["type"] == "cancellation"]
    by_id = {d["id"]: d for d in docs}
    for c in cancellations:
        original = by_id[c["related_documents"][0]["id"]]
        assert original["cancelled"] is True and c["gross_total"] == -original["gross_total"]


def test_paid_date_is_today_unless_paid_and_follows_today() -> None:
    with BillingoEmulator(today=TODAY) as e:
        e.add_account(KEY, docs=150, seed=2)
        docs = crawl(e)
        unpaid = [d for d in docs if d["payment_status"] not in ("paid", "partially_paid")]
        paid = [d for d in docs if d["payment_status"] in ("paid", "partially_paid")]
        assert unpaid and paid
        assert {d["paid_date"] for d in unpaid} == {TODAY.isoformat()}
        assert all(d["invoice_date"] <= d["paid_date"] <= TODAY.isoformat() for d in paid)
        e.today = TODAY + timedelta(days=3)
        moved = {d["id"]: d["paid_date"] for d in crawl(e)}
        assert {moved[d["id"]] for d in unpaid} == {(TODAY + timedelta(days=3)).isoformat()}
        assert all(moved[d["id"]] == d["paid_date"] for d in paid)
        assert get(e, "/utils/time").json()["formatted"].startswith("2025-10-30")


def test_money_text_is_exact_decimal(emu: BillingoEmulator) -> None:
    with client(emu) as c:
        pages = [
            c.get("/documents", params={"per_page": 100, "page": p}).content for p in (1, 2, 3)
        ]
    assert not any(re.search(rb"\d\.\d{3,}", raw) for raw in pages)  # never 0.30000000000000004
    docs = [d for raw in pages for d in json.loads(raw, parse_float=Decimal)["data"]]
    eur = [d for d in docs if d["currency"] == "EUR"]
    assert eur and any(isinstance(d["gross_total"], Decimal) for d in eur)
    assert all(isinstance(d["gross_total"], int) for d in docs if d["currency"] == "HUF")
    for d in docs:
        assert sum(i["gross_amount"] for i in d["items"]) == d["gross_total"]
        for item in d["items"]:
            assert item["net_amount"] + item["vat_amount"] == item["gross_amount"]
            exponent = Decimal(item["gross_amount"]).as_tuple().exponent
            assert isinstance(exponent, int) and exponent >= -2
    for doc in json.loads(pages[0])["data"]:
        assert encode(doc) in pages[0]  # re-encoding a served document gives the same bytes


# -- changes between syncs ----------------------------------------------------------------


def test_pay_cancel_add_and_replace_change_what_is_served() -> None:
    with BillingoEmulator(today=TODAY) as e:
        e.add_account(KEY, docs=60, seed=4)
        before = crawl(e)  # fills the page cache
        unpaid = next(d for d in before if d["payment_status"] in ("outstanding", "expired"))
        paid = e.pay(KEY, unpaid["id"], paid_date=date(2025, 10, 20))
        assert paid["payment_status"] == "paid" and paid["paid_date"] == "2025-10-20"
        original = next(d for d in before if d["type"] == "invoice" and not d["cancelled"])
        storno = e.cancel(KEY, original["id"])
        new = e.add_document(KEY, comment="Új számla")
        after = crawl(e)
        assert [d["id"] for d in after[:2]] == [new["id"], storno["id"]]
        assert new["id"] > storno["id"] > before[0]["id"]
        assert after[0] == new and new["comment"] == "Új számla" and new["type"] == "invoice"
        assert after[1] == storno and storno["type"] == "cancellation"
        assert storno["related_documents"] == [
            {"id": original["id"], "invoice_number": original["invoice_number"]}
        ]
        served = {d["id"]: d for d in after}
        assert served[original["id"]]["cancelled"] is True
        assert served[unpaid["id"]]["paid_date"] == "2025-10-20"
        assert len(after) == 62 and e.documents(KEY) == after
        e.replace_document(KEY, original["id"], {"id": original["id"], "gross_total": "oops"})
        assert get(e, f"/documents/{original['id']}").json() == {
            "id": original["id"],
            "gross_total": "oops",
        }
        assert {"id": original["id"], "gross_total": "oops"} in crawl(e)
        with pytest.raises(KeyError):
            e.pay(KEY, 12345)


def _local(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo("Europe/Budapest")).strftime("%Y-%m-%d %H:%M:%S")


def test_last_modified_date_keeps_documents_changed_at_or_after_it() -> None:
    with BillingoEmulator(today=TODAY) as e:
        e.add_account(KEY, docs=80, seed=7)
        clock = get(e, "/utils/time").json()
        assert abs(clock["epoch"] - e.clock()) <= 1
        before = crawl(e)
        # generated documents were modified at least an hour before the account existed
        assert crawl(e, last_modified_date=_local(clock["epoch"] - 3599)) == []
        assert len(crawl(e, last_modified_date="2000-01-01")) == 80
        midnight = crawl(e, last_modified_date=f"{TODAY.isoformat()} 00:00:00")
        assert crawl(e, last_modified_date=TODAY.isoformat()) == midnight  # date only: midnight
        unpaid = next(d for d in before if d["payment_status"] in ("outstanding", "expired"))
        original = next(
            d for d in before if d["type"] == "invoice" and not d["cancelled"] and d != unpaid
        )
        status = next(d for d in before if d["id"] not in (unpaid["id"], original["id"]))
        quiet = before[-1]
        since = e.clock()
        e.pay(KEY, unpaid["id"])
        storno = e.cancel(KEY, original["id"])
        new = e.add_document(KEY)
        e.update_document(KEY, status["id"], online_szamla_status="done")
        e.update_document(KEY, quiet["id"], touch=False, comment="not stamped")
        changed = crawl(e, last_modified_date=_local(since))
        assert [d["id"] for d in changed] == [
            d["id"] for d in crawl(e) if d["id"] in {unpaid["id"], original["id"], status["id"],
                                                      storno["id"], new["id"]}
        ]  # fmt: skip
        assert {d["id"]: d for d in changed}[original["id"]]["cancelled"] is True
        stamped = e.modified_at(KEY, new["id"])
        assert stamped >= since > e.modified_at(KEY, quiet["id"])
        assert new["id"] in {d["id"] for d in crawl(e, last_modified_date=_local(stamped))}
        assert {d["id"]: d for d in crawl(e)}[quiet["id"]]["comment"] == "not stamped"
        assert crawl(e, last_modified_date=_local(e.clock() + 2)) == []  # nothing from the future
        combined = crawl(e, last_modified_date=_local(since), type="cancellation")
        assert [d["id"] for d in combined] == [storno["id"]]


@pytest.mark.parametrize(
    "value", ["2025-10-27T10:00:00", "2025-10-27 10:00", "27/10/2025", "2025-02-30 10:00:00"]
)
def test_bad_last_modified_date_is_a_422(emu: BillingoEmulator, value: str) -> None:
    response = get(emu, "/documents", last_modified_date=value)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["last_modified_date"]


def test_deleted_document_is_no_longer_served() -> None:
    with BillingoEmulator(today=TODAY) as e:
        e.add_account(KEY, docs=30, seed=8)
        gone = crawl(e)[5]
        e.delete_document(KEY, gone["id"])
        after = crawl(e)
        assert len(after) == 29 and gone["id"] not in {d["id"] for d in after}
        assert get(e, f"/documents/{gone['id']}").status_code == 404
        assert get(e, "/documents", per_page=10).json()["total"] == 29
        with pytest.raises(KeyError):
            e.delete_document(KEY, gone["id"])


# -- faults, rate limit, latency ----------------------------------------------------------


def test_each_scripted_fault_kind() -> None:
    with BillingoEmulator(today=TODAY, timeout_s=0.5) as e:
        e.add_account(KEY, docs=30, seed=1)
        e.add_account(OTHER, docs=5, seed=1)
        with client(e) as c:

            def next_with(fault: str, timeout: float = 2.0) -> httpx.Response:
                e.script_faults(KEY, [fault])
                return c.get("/documents", timeout=timeout)

            r = next_with("500")
            assert r.status_code == 500 and r.json()["error"]["message"] == "Internal server error"
            assert re.fullmatch(r"[0-9a-f]{32}", r.json()["error"]["trace_id"])
            r = next_with("429")
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert r.json() == {"error": {"message": "Too many requests"}}
            r = next_with("429-no-retry-after")
            assert r.status_code == 429 and "retry-after" not in r.headers
            r = next_with("429-http-date")
            assert parsedate_to_datetime(r.headers["retry-after"]).timestamp() > time.time()
            r = next_with("html")
            assert r.status_code == 200 and r.text.startswith("<!DOCTYPE html>")
            assert r.headers["content-type"].startswith("text/html")
            r = next_with("401")
            assert r.status_code == 401
            with pytest.raises(httpx.RemoteProtocolError):
                next_with("truncated")
            with pytest.raises(httpx.TransportError):
                next_with("reset")
            with pytest.raises(httpx.ReadTimeout):
                next_with("timeout", timeout=0.2)
            assert c.get("/documents").status_code == 200  # the queue is empty again
            e.script_faults(None, ["500", "500"])  # any key, FIFO, one per request
            assert get(e, "/utils/time", key=OTHER).status_code == 500
            e.script_faults(KEY, ["429"])  # the key's own queue goes first
            assert c.get("/documents").status_code == 429
            assert c.get("/documents").status_code == 500
            assert c.get("/documents").status_code == 200
        with pytest.raises(ValueError):
            e.script_faults(KEY, ["503"])


def test_random_faults_are_deterministic_for_a_seed() -> None:
    outcomes = []
    for _ in range(2):
        with BillingoEmulator(today=TODAY, fault_rate=0.4, fault_seed=3, timeout_s=0.01) as e:
            e.add_account(KEY, docs=10, seed=1)
            seen = []
            with client(e) as c:  # a broken connection is replaced on the next request
                for _ in range(25):
                    try:
                        seen.append(str(c.get("/documents").status_code))
                    except httpx.TransportError as exc:
                        seen.append(type(exc).__name__)
            outcomes.append(seen)
            assert get(e, "/utils/time").status_code == 200  # only /documents routes fault
    assert outcomes[0] == outcomes[1]
    assert "200" in outcomes[0] and set(outcomes[0]) - {"200"}


def test_random_faults_follow_the_request_and_attempt_not_arrival_order() -> None:
    tries = [(key, f"GET /v3/documents?page={page}") for key in "ab" for page in range(40)] * 3

    def faults(order: list[tuple[str, str]]) -> dict[tuple[str, str, int], str | None]:
        injector, seen = FaultInjector(0.3, seed=5), Counter[tuple[str, str]]()
        drawn = {}
        for key, request in order:
            seen[key, request] += 1
            drawn[key, request, seen[key, request]] = injector.next_random(key, request)
        return drawn

    drawn = faults(tries)
    assert drawn == faults(tries[::-1]) == faults(random.Random(1).sample(tries, len(tries)))
    assert 0 < sum(map(bool, drawn.values())) < len(drawn)
    assert all(drawn["a", r, n] == drawn["b", r, n] for _, r, n in drawn)  # keys count apart


@pytest.mark.parametrize("mode", ["seconds", "http-date", "none"])
def test_rate_limit_429_per_key_with_retry_after_mode(mode: str) -> None:
    with BillingoEmulator(
        today=TODAY, rate_limit=3, rate_limit_window_s=0.6, retry_after=mode
    ) as e:
        e.add_account(KEY, docs=3, seed=1)
        e.add_account(OTHER, docs=3, seed=1)
        with client(e) as c:
            remaining = [c.get("/documents").headers["x-ratelimit-remaining"] for _ in range(3)]
            assert remaining == ["2", "1", "0"]
            limited = c.get("/documents")
            assert limited.status_code == 429
            assert limited.json() == {"error": {"message": "Too many requests"}}
            assert limited.headers["x-ratelimit-limit"] == "3"
            value = limited.headers.get("retry-after")
            if mode == "seconds":
                assert value == "1"
            elif mode == "http-date":
                assert value is not None
                ahead = parsedate_to_datetime(value).timestamp() - time.time()
                assert 0 < ahead <= 2
            else:
                assert value is None
            assert get(e, "/documents", key=OTHER).status_code == 200  # per key
            time.sleep(0.65)
            assert c.get("/documents").status_code == 200
        assert e.request_count(KEY) == 5 and e.request_count(OTHER) == 1


def test_latency() -> None:
    with BillingoEmulator(today=TODAY, latency_ms=150) as e:
        e.add_account(KEY, docs=2, seed=1)
        with client(e) as c:
            c.get("/utils/time")
            start = time.perf_counter()
            assert c.get("/documents").status_code == 200
            assert time.perf_counter() - start >= 0.15


def test_stop_closes_keep_alive_connections() -> None:
    e = BillingoEmulator(today=TODAY).start()
    e.add_account(KEY, docs=2, seed=1)
    with client(e) as c:
        assert c.get("/documents").status_code == 200
        e.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/documents")


def test_serve_billingo_prints_no_key_and_stops_on_sigterm() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secret = "secret-key-" + "x" * 8
    code = (
        "from invoice_pipeline.emulators.billingo import serve_billingo; "
        f"serve_billingo({port}, 12, 1, api_key={secret!r})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"Billingo emulator on http://127.0.0.1:{port}/v3 (12 documents")
        assert secret not in line
        response = httpx.get(
            f"http://127.0.0.1:{port}/v3/documents", headers={"X-API-KEY": secret}, timeout=5
        )
        assert response.json()["total"] == 12
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert secret not in proc.stdout.read() + (proc.stderr.read() if proc.stderr else "")
    finally:
        proc.kill()
        proc.wait()
