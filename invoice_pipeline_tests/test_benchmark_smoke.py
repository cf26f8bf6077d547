"""The benchmark code runs end to end (on a small account; the real figures are in the README)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.incremental_benchmark import report as incremental_report
from benchmarks.incremental_benchmark import run as incremental_run
from benchmarks.query_benchmark import SCENARIOS, report
from benchmarks.sync_benchmark import report as sync_report
from benchmarks.sync_benchmark import run

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_runs_on_a_small_account() -> None:
    result = run(300)
    assert result["floor"]["documents"] == 300
    assert result["full_sync"]["result"]["invoices_created"] == 300
    assert result["unchanged_resync"]["result"]["invoices_skipped"] == 300
    next_day = result["next_day_resync"]["result"]
    assert (next_day["invoices_skipped"], next_day["invoices_updated"]) == (300, 0)
    assert "| full_sync |" in sync_report(result)


def test_incremental_benchmark_runs_on_a_small_account() -> None:
    result = incremental_run(500, 20)  # refuses (SystemExit) unless the counts are exact
    got = result["incremental"]["result"]
    assert result["changed_documents"] == 20 and got["sync_mode"] == "incremental"
    assert (got["invoices_created"], got["invoices_updated"]) == (8, 12)
    assert result["full"]["api_calls"] == 5 and result["incremental"]["calls_by_part"]
    assert result["full_after_check"]["invoices_skipped"] == 508
    assert "| incremental sync |" in incremental_report(result)


def _module(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", *args, "--json"], cwd=REPO, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_query_benchmark_runs_on_a_small_generated_warehouse(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    generated = _module(
        "benchmarks.warehouse_generator", "--invoices", "2000", "--lines-per-invoice", "3",
        "--companies", "3", "--partners-per-company", "200", "--sync-logs-per-company", "4",
        "--out", str(db),
    )  # fmt: skip
    sizes = {int(k): v for k, v in generated["company_invoices"].items()}
    assert sum(sizes.values()) == 2000 and generated["invoice_items"] == 2000 * 3
    assert max(sizes.values()) == sizes[1] and sizes[1] >= 0.35 * 2000
    assert generated["snapshot_bytes"] > 0 and generated["publish_seconds"] >= 0

    result = _module(
        "benchmarks.query_benchmark", "--db", str(db), "--repeat", "5", "--cold-runs", "1"
    )
    assert set(result["scenarios"]) == set(SCENARIOS)
    for entry in result["scenarios"].values():
        assert entry["calls"] == 5 and len(entry["cold_first_call_ms"]) == 1
        assert 0 < entry["p50_ms"] <= entry["p95_ms"] <= entry["max_ms"]
    assert set(result["targets_met"]) == {"list_p50", "detail_p50"}
    assert "| list_search |" in report(result)

    # every count the benchmark saw, against the generated data itself
    scenarios, setup = result["scenarios"], result["setup"]
    assert setup["largest_company"] == 1 and setup["smallest_company"] == 3
    start, end = setup["window"]
    con = duckdb.connect(str(db), read_only=True)
    try:

        def count(where: str, *args: object) -> int:
            sql = f"SELECT count(*) FROM invoices WHERE company_id = 1 AND {where}"
            return con.execute(sql, list(args)).fetchone()[0]  # type: ignore[index]

        assert scenarios["list_first_page"]["count"] == sizes[1] == count("TRUE")
        assert scenarios["list_first_page"]["results"] == 100
        assert scenarios["list_deep_page"]["count"] == sizes[1]
        assert scenarios["list_deep_page"]["results"] == max(0, min(100, sizes[1] - 49_900))
        assert scenarios["list_small_company"]["count"] == sizes[3]
        filtered = count(
            "payment_status = 'outstanding' AND invoice_date BETWEEN ? AND ?", start, end
        )
        assert scenarios["list_filtered"]["count"] == filtered > 0
        assert scenarios["list_filtered"]["results"] == max(0, min(100, filtered - 200))
        searched = count("contains(lower(invoice_number), '2025-0001')")
        assert scenarios["list_search"]["count"] == searched > 0
        for seen in scenarios["list_partner"]["outcomes"]:
            tax = seen["args"]["partner_tax_number"]
            assert seen["count"] == count("partner_tax_number = ?", tax) > 0
        for seen in scenarios["detail"]["outcomes"]:
            lines = con.execute(
                "SELECT count(*) FROM invoice_items WHERE company_id = 1 AND invoice_id = ?",
                [seen["id"]],
            ).fetchone()[0]  # type: ignore[index]
            assert seen["lines"] == seen["item_count"] == lines > 0
        assert scenarios["sync_logs"]["count"] == 4
    finally:
        con.close()
