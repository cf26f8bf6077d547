"""The nightly schedule's runs through the real run queue of ``dagster dev`` under the
committed ``config/dagster.yaml``, against a rate-limited, faulty emulator: every run
succeeds, counts are exact, nothing fails on a lock (the load benchmark, small)."""

import pytest

from benchmarks.load_benchmark import report, run, verify
from invoice_pipeline.emulators.knobs import FaultInjector

COMPANIES, DOCS = 3, 300
# Seed 2 at 10%: the emulator's fault draws (one per /documents request, in arrival order)
# are a 500 on the 3rd and a truncated body on the 10th: at least two retries happen, and
# with three faults in the first 30 draws no page can fail all four of its attempts.
FAULT_RATE, SEED = 0.1, 2


def test_the_seeded_faults_are_the_ones_the_test_relies_on() -> None:
    injector = FaultInjector(FAULT_RATE, SEED)
    draws = [injector.next_random() for _ in range(30)]
    assert [(i, d) for i, d in enumerate(draws) if d] == [(2, "500"), (9, "truncated"),
                                                          (19, "500")]  # fmt: skip


@pytest.mark.timeout(240)
def test_nightly_runs_of_three_companies_through_the_run_queue() -> None:
    result = run(COMPANIES, DOCS, rate_limit=300, fault_rate=FAULT_RATE, seed=SEED)
    assert verify(result) == [], report(result)
    assert result["run_partitions"] == ["101", "102", "103"]
    assert result["http_retries"] >= 2  # the 500 and the truncated body, retried
    assert result["run_processes_started"] == [1] * COMPANIES  # one process per run
    assert result["run_processes_seen"] == COMPANIES  # and each one's memory was measured
    assert 1 <= result["most_runs_at_once"] <= result["max_concurrent_runs"]  # the committed 4
    assert result["peak_rss_mb_max"] < 1024
    assert all(result["warehouse"][c] == result["expected"][c] for c in result["expected"])
