"""A large company's data checks run in ranges of invoice ids (``checks.invoice_offenders``): the
counts and examples must be exactly those of one pass over all its rows."""

from typing import Any

import dagster as dg
import duckdb
import pytest

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.orchestration import checks
from invoice_pipeline.orchestration.company_checks import COMPANY_CHECKS
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.helpers import configure, sync


def _corrupt(wh: Warehouse) -> None:
    """Offenders of every check spread over the whole id range: duplicated invoices (one of
    them four times), lines of ids below and above every invoice's, lines missing, totals
    off by different amounts, malformed tax numbers."""
    with wh.write() as con:
        ids = [r[0] for r in con.execute("SELECT invoice_id FROM invoices ORDER BY 1").fetchall()]
        spread = ids[5::23]  # about 9 invoices, from the oldest to the newest
        for n, invoice_id in enumerate(spread):
            copies = 2 if n == 4 else 1
            for _ in range(copies if n % 2 == 0 else 0):
                con.execute(
                    "INSERT INTO invoices SELECT * FROM invoices WHERE invoice_id = ?", [invoice_id]
                )
            con.execute(
                "UPDATE invoices SET gross_total = gross_total + ? WHERE invoice_id = ?",
                [100 * (n + 1), ids[7 + 20 * n]],
            )
            con.execute(
                "UPDATE invoices SET partner_tax_number = '1234-5' "
                "WHERE invoice_id = ? AND partner_country_code = 'HU'",
                [ids[9 + 20 * n]],
            )
            con.execute(
                "DELETE FROM invoice_items WHERE invoice_id = ? AND line_no = 1", [ids[11 + 20 * n]]
            )
        for orphan in (-5, min(ids) - 1, max(ids) + 1):
            con.execute(
                "INSERT INTO invoice_items (source, company_id, invoice_id, line_no, name) "
                "VALUES ('billingo', 4, ?, 99, 'orphan')",
                [orphan],
            )


def _evaluate(wh: Warehouse) -> dict[str, Any]:
    with wh.read() as con:
        found = {c.name: c.evaluate(con, 4, "no-run") for c in COMPANY_CHECKS}
    return {
        name: (r.passed, r.severity, r.description, {k: v.value for k, v in r.metadata.items()})
        for name, r in found.items()
    }


def test_checks_in_rounds_find_exactly_what_one_pass_finds(
    wh: Warehouse,
    dagster_instance: dg.DagsterInstance,
    emulator: BillingoEmulator,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(wh, emulator, api_key, docs=200)
    assert sync(wh, dagster_instance)[1]["status"] == "COMPLETED"
    with wh.read() as con:
        min_id, max_id = con.execute(
            "SELECT min(invoice_id), max(invoice_id) FROM invoices"
        ).fetchone()  # type: ignore[misc]
    _corrupt(wh)
    whole = _evaluate(wh)

    monkeypatch.setattr(checks, "ROUND_INVOICES", 30)
    with wh.read() as con:
        ranges = checks.invoice_rounds(con, 4)
    assert len(ranges) == 7 and ranges[0][0] is None and ranges[-1][1] is None
    attached: list[str] = []  # the warehouse is attached anew after every round
    real_attach_anew = checks.attach_anew

    def attach_anew(con: duckdb.DuckDBPyConnection) -> None:
        real_attach_anew(con)
        attached.append(con.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]

    monkeypatch.setattr(checks, "attach_anew", attach_anew)
    in_rounds = _evaluate(wh)
    assert len(attached) == 7 * 5 and set(attached) == {"warehouse"}  # five checks in rounds

    assert in_rounds == whole
    failed = {name for name, (passed, *_) in whole.items() if not passed}
    assert failed == {
        "unique_invoice_keys", "no_orphan_items", "complete_invoice_lines",
        "line_totals_match", "partner_tax_numbers", "invoice_count_matches_api",
    }  # fmt: skip
    meta = {name: m for name, (_, _, _, m) in whole.items()}
    # More offenders than examples, from several rounds: the examples are the first in order.
    keys = meta["unique_invoice_keys"]
    assert keys["offending"] == 5 and [x["copies"] for x in keys["examples"]] == [4, 2, 2, 2, 2]
    assert len({_range_of(ranges, x["invoice_id"]) for x in keys["examples"]}) == 5
    orphans = meta["no_orphan_items"]["examples"]
    assert [x["invoice_id"] for x in orphans] == [-5, min_id - 1, max_id + 1]
    for name in ("complete_invoice_lines", "line_totals_match", "partner_tax_numbers"):
        assert meta[name]["offending"] > checks.EXAMPLES == len(meta[name]["examples"])
    worst = [float(x["worst"]) for x in meta["line_totals_match"]["examples"]]
    assert worst == sorted(worst, reverse=True)


def _range_of(ranges: list[tuple[int | None, int | None]], invoice_id: int) -> int:
    return next(
        n
        for n, (low, high) in enumerate(ranges)
        if (low is None or invoice_id > low) and (high is None or invoice_id <= high)
    )
