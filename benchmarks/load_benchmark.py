"""The nightly sync of many companies at once, through the real Dagster run queue.

    python -m benchmarks.load_benchmark --companies 20 --docs 5000 \\
        [--rate-limit 300] [--fault-rate 0.01] [--seed 1] [--json]

A Billingo emulator process serves one account per company (per-key rate limit, seeded
random faults: 500s, truncated bodies, timeouts). The companies are configured in a fresh
warehouse, and ``dagster dev`` (webserver, daemon, code server) runs with a temporary
DAGSTER_HOME holding the committed ``config/dagster.yaml``. The ``nightly_sync`` schedule is
evaluated by the code server (the UI's "test schedule", GraphQL ``scheduleDryRun``) and its
run requests are submitted as the scheduler submits them, tagged with the schedule's name:
into the run queue, which the daemon drains under the instance's limits. When every run has
ended, the benchmark checks that all succeeded, that every sync log is COMPLETED, that the
warehouse holds exactly the emulator's invoices and lines per company, and that no event
of any run mentions a lock error; and it reports the wall time, the API calls and retries,
how many runs ran at once, and the peak RSS of each run process.

The HTTP client keeps its production settings except its timeout (10 s instead of 30 s, so
that the emulator's timeout faults, held 12 s, cost seconds rather than minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.fernet import Fernet

from benchmarks.dagster_dev import REPO, DagsterDev, RunProcesses
from benchmarks.load_emulator import Account, EmulatorProcess

SCHEDULE = "nightly_sync"
FIRST_COMPANY = 101
HTTP_TIMEOUT_S = "10"
LOCK_ERROR = re.compile(
    r"could not set lock|conflicting lock|stayed locked|database is locked|WarehouseBusyError",
    re.IGNORECASE,
)
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUN_PROCESS = re.compile(r"Started process for run \(pid: (\d+)\)")

DRY_RUN = """
mutation ($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on PythonError { message }
    ... on DryRunInstigationTick {
      evaluationResult {
        skipReason
        error { message }
        runRequests { runKey runConfigYaml tags { key value } assetSelection { path } }
      }
    }
  }
}"""

LAUNCH = """
mutation ($params: [ExecutionParams!]!) {
  launchMultipleRuns(executionParamsList: $params) {
    __typename
    ... on PythonError { message }
    ... on LaunchMultipleRunsResult {
      launchMultipleRunsResult {
        __typename
        ... on LaunchRunSuccess { run { runId } }
        ... on PythonError { message }
        ... on RunConfigValidationInvalid { errors { message } }
      }
    }
  }
}"""

RUNS = """
query ($ids: [String!]) {
  runsOrError(filter: {runIds: $ids}) {
    ... on Runs {
      results {
        runId status startTime endTime tags { key value }
        stepStats { stepKey startTime endTime }
      }
    }
  }
}"""

LOGS = """
query ($id: ID!, $after: String) {
  logsForRun(runId: $id, afterCursor: $after) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MessageEvent { message }
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { pipelineFailureError: error { message } }
      }
    }
  }
}"""


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block (the settings are written
    here), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _configure(db: Path, companies: list[int], accounts: list[Account], base_url: str) -> None:
    from invoice_pipeline import settings_store
    from invoice_pipeline.warehouse import Warehouse

    wh = Warehouse(db)
    for company, account in zip(companies, accounts, strict=True):
        settings_store.upsert(
            wh, company_id=company, source="billingo", company_name=f"Load {company} Kft.",
            api_key=account.api_key, base_url=base_url,
        )  # fmt: skip


def _tags(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in pairs}


def _submit_nightly(dev: DagsterDev) -> list[str]:
    """Evaluate the nightly schedule in the code server and queue its run requests as the
    scheduler does; returns the run ids."""
    selector = {**dev.repository_selector, "scheduleName": SCHEDULE}
    tick = dev.gql(DRY_RUN, selector=selector, timestamp=time.time())["scheduleDryRun"]
    if tick["__typename"] != "DryRunInstigationTick":
        raise RuntimeError(f"the schedule could not be evaluated: {tick}")
    result = tick["evaluationResult"]
    if result["error"] or not result["runRequests"]:
        raise RuntimeError(f"the schedule asked for no runs: {result}")
    params = [
        {
            "selector": {
                **dev.repository_selector,
                "jobName": "sync_job",
                "assetSelection": request["assetSelection"],
            },
            "runConfigData": yaml.safe_load(request["runConfigYaml"]) or {},
            "executionMetadata": {
                "tags": [*request["tags"], {"key": "dagster/schedule_name", "value": SCHEDULE}]
            },
        }
        for request in result["runRequests"]
    ]
    launched = dev.gql(LAUNCH, params=params)["launchMultipleRuns"]
    outcomes = launched.get("launchMultipleRunsResult") or [launched]
    failed = [o for o in outcomes if o["__typename"] != "LaunchRunSuccess"]
    if failed:
        raise RuntimeError(f"runs could not be queued: {failed[:3]}")
    return [o["run"]["runId"] for o in outcomes]


def _wait(
    dev: DagsterDev, run_ids: list[str], timeout_s: float
) -> tuple[list[dict[str, Any]], RunProcesses]:
    """Until every run has ended, watching the run processes meanwhile."""
    processes = RunProcesses(session=dev.proc.pid)
    deadline = time.monotonic() + timeout_s
    last_query = 0.0
    runs: list[dict[str, Any]] = []
    while True:
        processes.poll()
        if time.monotonic() - last_query >= 1.0:
            last_query = time.monotonic()
            runs = dev.gql(RUNS, ids=run_ids)["runsOrError"]["results"]
            if len(runs) == len(run_ids) and all(r["status"] in TERMINAL for r in runs):
                break
        if time.monotonic() > deadline:
            states = sorted(r["status"] for r in runs)
            raise RuntimeError(f"runs still not done after {timeout_s:.0f} s: {states}")
        if dev.proc.poll() is not None:
            raise RuntimeError("dagster dev exited:\n" + dev.log_tail())
        time.sleep(0.2)
    return runs, processes


@dataclass
class RunEvents:
    """What the runs' event logs (and dagster dev's log) say: lock errors, step and run
    failure messages, and each run's process ids (Dagster's "Started process for run")."""

    locks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    pids: dict[str, list[int]] = field(default_factory=dict)


def _run_events(dev: DagsterDev, run_ids: list[str]) -> RunEvents:
    found = RunEvents()
    for run_id in run_ids:
        found.pids[run_id] = []
        cursor = None
        while True:
            page = dev.gql(LOGS, id=run_id, after=cursor)["logsForRun"]
            for event in page.get("events", []):
                texts = [event.get("message") or ""]
                started = RUN_PROCESS.match(texts[0])
                if started:
                    found.pids[run_id].append(int(started.group(1)))
                for key in ("error", "pipelineFailureError"):
                    if event.get(key):
                        texts.append(event[key]["message"])
                        found.failures.append(f"{run_id[:8]}: {event[key]['message'][:300]}")
                found.locks += [f"{run_id[:8]}: {t[:200]}" for t in texts if LOCK_ERROR.search(t)]
            cursor = page.get("cursor")
            if not page.get("hasMore"):
                break
    log = dev.log_tail(10**9).splitlines()
    found.locks += [line[:200] for line in log if LOCK_ERROR.search(line)]
    return found


def _warehouse_facts(db: Path, run_ids: list[str]) -> dict[str, Any]:
    from invoice_pipeline.warehouse import Warehouse

    with Warehouse(db).read() as con:
        invoices = dict(
            con.execute("SELECT company_id, count(*) FROM invoices GROUP BY 1").fetchall()
        )
        lines = dict(
            con.execute("SELECT company_id, count(*) FROM invoice_items GROUP BY 1").fetchall()
        )
        logs = con.execute(
            "SELECT company_id, status, api_calls_made, invoices_created, sync_type, run_id "
            "FROM sync_logs ORDER BY id"
        ).fetchall()
    return {
        "counts": {c: (invoices[c], lines.get(c, 0)) for c in invoices},
        "sync_logs": [
            {"company": c, "status": s, "api_calls": a, "created": n, "sync_type": t,
             "in_these_runs": r in run_ids}
            for c, s, a, n, t, r in logs
        ],
    }  # fmt: skip


def run(
    companies: int,
    docs: int,
    rate_limit: int | None = 300,
    fault_rate: float = 0.01,
    seed: int = 1,
    timeout_s: float = 1800.0,
    max_concurrent_runs: int | None = None,
) -> dict[str, Any]:
    """``max_concurrent_runs`` overrides the committed instance's limit (to compare limits)."""
    from invoice_pipeline.billingo.client import PER_PAGE

    ids = list(range(FIRST_COMPANY, FIRST_COMPANY + companies))
    accounts = [Account("load-" + secrets.token_hex(12), docs, seed + i) for i in range(companies)]
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        instance = yaml.safe_load((REPO / "config" / "dagster.yaml").read_text())
        if max_concurrent_runs is not None:
            instance["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
        db = Path(tmp) / "warehouse.duckdb"
        env = {
            "DAGSTER_HOME": str(home),
            "INVOICE_PIPELINE_DB": str(db),
            "INVOICE_PIPELINE_SECRET_KEY": Fernet.generate_key().decode(),
            "INVOICE_PIPELINE_HTTP_TIMEOUT_S": HTTP_TIMEOUT_S,
        }
        emulator = EmulatorProcess(accounts, rate_limit, fault_rate, seed)
        try:
            with _environment(env):
                _configure(db, ids, accounts, emulator.base_url)
            child_env = {**os.environ, **env}
            for name in ("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", "INVOICE_PIPELINE_HTTP_RETRIES"):
                child_env.pop(name, None)  # production pacing and retries
            dev = DagsterDev(child_env, Path(tmp) / "dagster_dev.log")
            try:
                dev.wait_loaded()
                started = time.monotonic()
                run_ids = _submit_nightly(dev)
                runs, processes = _wait(dev, run_ids, timeout_s)
                wall = time.monotonic() - started
                events = _run_events(dev, run_ids)
            finally:
                dev.stop()
            requests = emulator.request_counts()
        finally:
            emulator.stop()
        facts = _warehouse_facts(db, run_ids)
    expected = dict(zip(ids, emulator.expected, strict=True))
    logs = [log for log in facts["sync_logs"] if log["in_these_runs"]]
    pages = sum(max(1, math.ceil(docs / PER_PAGE)) for _ in ids)
    api_calls = sum(log["api_calls"] for log in logs)
    run_pids = {pid for pids in events.pids.values() for pid in pids}
    rss = sorted(mb for pid, mb in processes.peak_rss_mb.items() if pid in run_pids)
    partitions = sorted(_tags(r["tags"]).get("dagster/partition", "") for r in runs)
    return {
        "companies": companies,
        "documents_per_company": docs,
        "rate_limit_per_minute": rate_limit,
        "fault_rate": fault_rate,
        "max_concurrent_runs": instance["concurrency"]["runs"]["max_concurrent_runs"],
        "wall_seconds": round(wall, 1),
        "documents_per_second": round(companies * docs / wall, 1),
        "runs": len(runs),
        "runs_succeeded": sum(r["status"] == "SUCCESS" for r in runs),
        "run_partitions": partitions,
        "run_seconds": sorted(round(r["endTime"] - r["startTime"], 1) for r in runs),
        "step_seconds_median": step_medians(runs),
        "most_runs_at_once": most_at_once(runs),
        "most_run_processes_alive": processes.most_alive,
        "run_processes_started": sorted(len(pids) for pids in events.pids.values()),
        "run_processes_seen": len(rss),
        "run_cpu_seconds": round(sum(processes.cpu_s.get(pid, 0.0) for pid in run_pids), 1),
        "peak_rss_mb_max": round(rss[-1], 1) if rss else None,
        "peak_rss_mb_median": round(statistics.median(rss), 1) if rss else None,
        "sync_logs": len(logs),
        "sync_logs_completed": sum(log["status"] == "COMPLETED" for log in logs),
        "sync_logs_automatic": sum(log["sync_type"] == "AUTOMATIC" for log in logs),
        "step_retries": len(logs) - companies,
        "api_calls": api_calls,
        "emulator_requests": sum(requests),
        "http_retries": api_calls - pages,
        "expected": {str(c): list(e) for c, e in expected.items()},
        "warehouse": {str(c): list(facts["counts"].get(c, (0, 0))) for c in ids},
        "lock_errors": events.locks,
        "failures": events.failures,
    }


def step_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Each step's median duration over the runs, longest first."""
    durations: dict[str, list[float]] = {}
    for r in runs:
        for step in r["stepStats"]:
            if step["startTime"] and step["endTime"]:
                durations.setdefault(step["stepKey"], []).append(
                    step["endTime"] - step["startTime"]
                )
    medians = {k: round(statistics.median(v), 2) for k, v in durations.items()}
    return dict(sorted(medians.items(), key=lambda kv: -kv[1]))


def most_at_once(runs: list[dict[str, Any]]) -> int:
    """The most runs between their start and end at one moment."""
    edges = sorted(
        [(r["startTime"], 1) for r in runs if r["startTime"]]
        + [(r["endTime"], -1) for r in runs if r["endTime"]]
    )  # an end sorts before a start at the same instant
    most = running = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def verify(r: dict[str, Any]) -> list[str]:
    """What did not hold; empty when everything did."""
    problems = []
    n = r["companies"]
    if r["runs"] != n or r["runs_succeeded"] != n:
        problems.append(f"{r['runs_succeeded']} of {n} runs succeeded ({r['runs']} runs)")
    if r["sync_logs_completed"] != r["sync_logs"] or r["sync_logs"] < n:
        problems.append(f"{r['sync_logs_completed']} of {r['sync_logs']} sync logs COMPLETED")
    if r["sync_logs_automatic"] != r["sync_logs"]:
        problems.append("not every sync log is AUTOMATIC")
    wrong = mismatched(r)
    if wrong:
        c = wrong[0]
        problems.append(
            f"{len(wrong)} companies' counts differ, e.g. {c}: warehouse "
            f"{r['warehouse'][c]} vs emulator {r['expected'][c]} (invoices, lines)"
        )
    if r["failures"]:
        problems.append(f"{len(r['failures'])} failures, e.g. {r['failures'][0]}")
    if r["lock_errors"]:
        problems.append(f"{len(r['lock_errors'])} lock errors, e.g. {r['lock_errors'][0]}")
    if r["api_calls"] != r["emulator_requests"]:
        problems.append(f"{r['api_calls']} API calls logged, emulator saw {r['emulator_requests']}")
    return problems


def mismatched(r: dict[str, Any]) -> list[str]:
    """Companies whose warehouse (invoices, lines) differ from the emulator's."""
    return [c for c in r["expected"] if r["warehouse"][c] != r["expected"][c]]


def report(r: dict[str, Any]) -> str:
    invoices = sum(e[0] for e in r["expected"].values())
    lines = sum(e[1] for e in r["expected"].values())
    counted = "exact per company" if not mismatched(r) else "MISMATCH"
    rows = [
        ("companies x documents", f"{r['companies']} x {r['documents_per_company']:,}"),
        ("max_concurrent_runs", str(r["max_concurrent_runs"])),
        ("rate limit per key / faults",
         f"{r['rate_limit_per_minute']}/min / {r['fault_rate']:.0%} of requests"),
        ("wall time (queued to last run ended)", f"{r['wall_seconds']} s"),
        ("documents/s overall", f"{r['documents_per_second']:,}"),
        ("runs succeeded", f"{r['runs_succeeded']} of {r['runs']}"),
        ("run duration min / median / max", _spread(r["run_seconds"], "s")),
        ("most runs at once (run processes alive)",
         f"{r['most_runs_at_once']} ({r['most_run_processes_alive']})"),
        ("CPU of the run processes", f"{r['run_cpu_seconds']} s"),
        ("median step seconds",
         ", ".join(f"{k} {v}" for k, v in list(r["step_seconds_median"].items())[:4])),
        ("peak RSS per run median / max",
         f"{r['peak_rss_mb_median']} / {r['peak_rss_mb_max']} MB"),
        ("sync logs COMPLETED", f"{r['sync_logs_completed']} of {r['sync_logs']}"),
        ("invoices / lines in the warehouse", f"{invoices:,} / {lines:,} ({counted})"),
        ("API calls (sync logs = emulator)", f"{r['api_calls']:,} = {r['emulator_requests']:,}"),
        ("HTTP retries / step retries", f"{r['http_retries']} / {r['step_retries']}"),
        ("lock errors", str(len(r["lock_errors"]))),
    ]  # fmt: skip
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    problems = verify(r)
    verdict = "all checks passed" if not problems else "FAILED: " + "; ".join(problems)
    return f"{table}\n\n{verdict}"


def _spread(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    return f"{values[0]} / {round(statistics.median(values), 1)} / {values[-1]} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--rate-limit", type=int, default=300, help="per key per minute; 0: none")
    parser.add_argument("--fault-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for all runs")
    parser.add_argument(
        "--max-concurrent-runs", type=int, help="override config/dagster.yaml's limit"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.companies < 1 or args.docs < 0 or not 0 <= args.fault_rate <= 1:
        parser.error("--companies must be >= 1, --docs >= 0, --fault-rate within 0..1")
    result = run(
        args.companies, args.docs, args.rate_limit or None, args.fault_rate, args.seed,
        args.timeout, args.max_concurrent_runs,
    )  # fmt: skip
    print(json.dumps(result, indent=2) if args.json else report(result))
    raise SystemExit(1 if verify(result) else 0)


if __name__ == "__main__":
    main()
