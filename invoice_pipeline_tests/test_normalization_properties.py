"""Property tests of normalization, each example a real sync (emulator over HTTP -> Dagster
assets -> a fresh DuckDB file): money is exact, a repeated sync is a no-op, and the order
in which documents are served does not matter. Few examples each: every one is a sync.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from decimal import Decimal
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from invoice_pipeline import settings_store
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import configure, sync
from invoice_pipeline_tests.warehouse_checks import integrity_problems, snapshot

PROPERTY_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LIMIT = Decimal("1e13")  # amounts from here on cannot arrive exactly (models.Money)


@pytest.fixture(scope="module")
def instance() -> dg.DagsterInstance:
    """In-memory run storage (the shared test instance's sqlite fsyncs slow every sync)."""
    return dg.DagsterInstance.ephemeral()


def fresh_warehouse(tmp_path: Path) -> Warehouse:
    """A new warehouse file for one example (the test's tmp_path is shared by all)."""
    return Warehouse(tmp_path / secrets.token_hex(6) / "warehouse.duckdb")


def new_company(
    emulator: BillingoEmulator, tmp_path: Path, docs: int, seed: int
) -> tuple[Warehouse, str]:
    """A fresh warehouse with company 4 on a new emulator account."""
    wh, key = fresh_warehouse(tmp_path), "key-" + secrets.token_hex(8)
    configure(wh, emulator, key, docs=docs, seed=seed)
    return wh, key


def table(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with wh.read() as con:
        return con.execute(sql).fetchall()


# -- money is exact ------------------------------------------------------------------------


def _signed(low: str, high: str) -> st.SearchStrategy[Decimal]:
    magnitudes = st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=2)
    return magnitudes.flatmap(lambda d: st.sampled_from([d, -d]))


amounts = st.one_of(
    _signed("0", "1000"),  # everyday amounts, fillér
    _signed("1000", "1e12"),
    _signed("1e12", "1e15"),  # around the 15 significant digits a double carries exactly
)
# How an amount is written in the JSON: its plain text ("12.50"), or as a float serializer
# writes it (shortest round-trip text: "12.5", "140000.0", "1e+16"), or as an integer when
# whole, as Billingo writes HUF.
styles = st.sampled_from(["plain", "float", "integer"])


def json_number(amount: Decimal, style: str) -> str:
    if style == "float":
        return repr(float(amount))
    if style == "integer" and amount == amount.to_integral_value():
        return str(int(amount))
    return str(amount)


@settings(PROPERTY_SETTINGS, max_examples=5)
@given(
    docs=st.lists(st.tuples(amounts, amounts, amounts, styles), min_size=5, max_size=40),
)
@example(  # the edges, always: 15 significant digits, 16 (...99 would arrive as ...98), 10^14
    docs=[
        (D("9999999999999.99"), D("-9999999999999.99"), D("0.01"), "plain"),
        (D("99999999999999.99"), D("1.10"), D("-0.35"), "plain"),
        (D("12345678901234.57"), D("0.10"), D("140000"), "float"),
        (D("100000000000000.00"), D("2.675"), D("-0.01"), "integer"),
        (D("0.00"), D("-0.00"), D("1E+3"), "plain"),
    ]
)
def test_money_lands_exactly_or_its_document_is_rejected(
    emulator: BillingoEmulator, instance: dg.DagsterInstance, tmp_path: Path, docs: list[Any]
) -> None:
    """Amounts with at most 2 decimals, sent as JSON numbers, are stored as exactly that
    DECIMAL; one that cannot be (|amount| >= 10^13) rejects its document, never altered."""
    wh, key = new_company(emulator, tmp_path, docs=len(docs), seed=1)
    expected: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
    rejected: set[int] = set()
    for base, (gross, net, line_gross, style) in zip(emulator.documents(key), docs, strict=True):
        line = {**base["items"][0], "net_amount": "@@net@@", "gross_amount": "@@line@@"}
        body = json.dumps({**base, "gross_total": "@@gross@@", "items": [line]}).encode()
        for mark, value in (("gross", gross), ("net", net), ("line", line_gross)):
            body = body.replace(f'"@@{mark}@@"'.encode(), json_number(value, style).encode())
        emulator.replace_document(key, base["id"], body)
        if max(abs(gross), abs(net), abs(line_gross)) >= LIMIT:
            rejected.add(base["id"])
        else:
            expected[base["id"]] = (gross, net, line_gross)

    _, result = sync(wh, instance)

    assert result["status"] == ("PARTIAL" if rejected else "COMPLETED")
    assert {e["invoice_id"] for e in result["errors"]} == rejected
    stored = table(
        wh,
        "SELECT invoice_id, gross_total, net_amount, gross_amount FROM invoices "
        "JOIN invoice_items USING (source, company_id, invoice_id)",
    )
    assert {r[0]: tuple(r[1:]) for r in stored} == expected
    assert table(wh, "SELECT sum(gross_total) FROM invoices") == [
        (sum(g for g, _, _ in expected.values()) if expected else None,)
    ]


# -- a repeated sync is a no-op ------------------------------------------------------------


@settings(PROPERTY_SETTINGS, max_examples=3)
@given(
    docs=st.integers(0, 230),
    seed=st.integers(0, 10_000),
    changes=st.lists(st.sampled_from(["pay", "cancel", "add", "odd"]), max_size=4),
    days_later=st.integers(0, 3),
)
def test_a_repeated_sync_writes_nothing(
    emulator: BillingoEmulator,
    instance: dg.DagsterInstance,
    tmp_path: Path,
    docs: int,
    seed: int,
    changes: list[str],
    days_later: int,
) -> None:
    """Whatever the account holds, the second sync creates, updates and writes nothing, also
    on a later day (when the served ``paid_date`` of unpaid documents moves)."""
    wh, key = new_company(emulator, tmp_path, docs=docs, seed=seed)
    for change in changes:
        served = emulator.documents(key)
        open_ = [d for d in served if d["payment_status"] in ("outstanding", "expired")]
        invoices = [d for d in served if d["type"] == "invoice" and not d["cancelled"]]
        if change == "pay" and open_:
            emulator.pay(key, open_[0]["id"])
        elif change == "cancel" and invoices:
            emulator.cancel(key, invoices[0]["id"])
        elif change == "odd" and served:  # nulls, "", unknown values, extra fields
            doc = served[-1]
            emulator.replace_document(
                key,
                doc["id"],
                {**doc, "comment": None, "language": "", "type": "hologram", "extra": [1]},
            )
        else:
            emulator.add_document(key)
    _, first = sync(wh, instance)
    assert first["status"] == "COMPLETED", first["errors"]
    before = snapshot(wh)
    emulator.today = emulator.today + timedelta(days=days_later)

    _, again = sync(wh, instance)

    assert again["status"] == "COMPLETED"
    assert (again["invoices_created"], again["invoices_updated"], again["items_extracted"]) == (
        0,
        0,
        0,
    )
    assert again["invoices_skipped"] == again["invoices_processed"] == first["invoices_processed"]
    assert snapshot(wh) == before  # not a row rewritten, not a timestamp moved


# -- the order documents are served in does not matter ---------------------------------------

NORMALIZED = {
    "invoices": "SELECT * EXCLUDE (first_seen_at, last_changed_at) FROM invoices "
    "ORDER BY invoice_id",
    "invoice_items": "SELECT * FROM invoice_items ORDER BY invoice_id, line_no",
    "raw_documents": "SELECT document_id, payload, content_hash FROM raw_documents "
    "ORDER BY document_id",
}


@settings(PROPERTY_SETTINGS, max_examples=3)
@given(docs=st.integers(1, 260), seed=st.integers(0, 10_000), data=st.data())
def test_the_order_documents_are_served_in_does_not_matter(
    emulator: BillingoEmulator,
    instance: dg.DagsterInstance,
    tmp_path: Path,
    docs: int,
    seed: int,
    data: st.DataObject,
) -> None:
    """The same documents served in another order (so on other pages, in other batches of
    the loader) give identical invoices, lines and raw documents."""
    first, key = new_company(emulator, tmp_path, docs=docs, seed=seed)
    _, result = sync(first, instance)
    assert result["status"] == "COMPLETED"
    ids = [d["id"] for d in emulator.documents(key)]
    emulator.reorder_documents(key, data.draw(st.permutations(ids), label="served order"))
    second = fresh_warehouse(tmp_path)
    configure_again(second, emulator, key)

    _, reordered = sync(second, instance)

    assert reordered["status"] == "COMPLETED"
    assert reordered["invoices_created"] == result["invoices_created"] == docs
    for name, sql in NORMALIZED.items():
        assert table(second, sql) == table(first, sql), name
    assert integrity_problems(second) == []


def configure_again(wh: Warehouse, emulator: BillingoEmulator, key: str) -> None:
    """Company 4 on an existing emulator account, in another warehouse."""
    settings_store.upsert(
        wh, company_id=4, source="billingo", company_name="Company 4 Kft.",
        api_key=key, base_url=emulator.base_url,
    )  # fmt: skip
