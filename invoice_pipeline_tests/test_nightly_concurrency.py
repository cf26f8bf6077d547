"""The nightly schedule's runs through the real run queue of ``dagster dev`` under the
committed ``config/dagster.yaml``, against a rate-limited, faulty emulator: every run
succeeds, counts are exact, nothing fails on a lock (the load benchmark, small)."""

import pytest

from benchmarks.load_benchmark import report, run, verify
from invoice_pipeline.emulators.knobs import FaultInjector

COMPANIES, DOCS = 3, 300
# Seed 31 at 10%: a fault follows the request and the attempt (not arrival order), so every
# company's page 3 answers a truncated body, then a 500, then the page; no page fails all
# four of its attempts. Each run retries twice, whichever order the runs' requests arrive in.
FAULT_RATE, SEED = 0.1, 31
PAGES = [f"GET /v3/documents?page={page}&per_page=100" for page in (1, 2, 3)]


def test_the_seeded_faults_are_the_ones_the_test_relies_on() -> None:
    injector = FaultInjector(FAULT_RATE, SEED)
    draws = {page: [injector.fault_for(page, n) for n in range(1, 5)] for page in PAGES}
    assert draws == {
        PAGES[0]: [None] * 4,
        PAGES[1]: [None] * 4,
        PAGES[2]: ["truncated", "500", None, None],
    }


@pytest.mark.timeout(240)
def test_nightly_runs_of_three_companies_through_the_run_queue() -> None:
    result = run(COMPANIES, DOCS, rate_limit=300, fault_rate=FAULT_RATE, seed=SEED)
    assert verify(result) == [], report(result)
    assert result["run_partitions"] == ["101", "102", "103"]
    assert result["http_retries"] == 2 * COMPANIES  # the truncated body and the 500, retried
    assert result["run_processes_started"] == [1] * COMPANIES  # one process per run
    assert result["run_processes_seen"] == COMPANIES  # and each one's memory was measured
    assert 1 <= result["most_runs_at_once"] <= result["max_concurrent_runs"]  # the committed 4
    assert result["peak_rss_mb_max"] < 1024
    assert all(result["warehouse"][c] == result["expected"][c] for c in result["expected"])
