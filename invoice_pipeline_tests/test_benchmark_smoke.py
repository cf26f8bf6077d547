"""The benchmark code runs end to end (on a small account; the real figures are in the README)."""

from benchmarks.sync_benchmark import report, run


def test_benchmark_runs_on_a_small_account() -> None:
    result = run(300)
    assert result["floor"]["documents"] == 300
    assert result["full_sync"]["result"]["invoices_created"] == 300
    assert result["unchanged_resync"]["result"]["invoices_skipped"] == 300
    assert "| full_sync |" in report(result)
