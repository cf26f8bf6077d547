"""Full sync, unchanged re-syncs and the fetch floor against a Billingo emulator.

    python -m benchmarks.sync_benchmark [--docs 100000] [--rounds 5] [--json]

The emulator runs in this process, which does nothing else while it measures. Each phase
runs in a fresh child process so that its peak RSS is its own: the floor (the Billingo
client fetching and validating every page, nothing else), a full sync into an empty
warehouse, an unchanged re-sync the same day, and one the next day (all through the Dagster
sync job in process). Wall times exclude interpreter start-up and imports (including the
storage modules Dagster imports when it creates its first instance). With ``--rounds`` the
phases are measured that many times, each sync compared with the floor of its own round.
"""

import argparse
import json
import os
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.children import KEY_ENV, peak_rss_mb, run_child
from invoice_pipeline.emulators.billingo import BillingoEmulator


def child_floor(base_url: str) -> dict[str, Any]:
    from invoice_pipeline.billingo.client import BillingoClient
    from invoice_pipeline.http import RetryPolicy

    start = time.perf_counter()
    docs = 0
    with BillingoClient(
        company_id=1, api_key=os.environ[KEY_ENV], base_url=base_url,
        policy=RetryPolicy(requests_per_minute=None),
    ) as client:  # fmt: skip
        for page in client.document_pages():
            docs += len(page.ids)
        calls = client.api_calls
    return {
        "seconds": time.perf_counter() - start,
        "documents": docs,
        "api_calls": calls,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_sync(base_url: str) -> dict[str, Any]:
    import dagster as dg

    from invoice_pipeline import settings_store
    from invoice_pipeline.orchestration.run import run_sync
    from invoice_pipeline.warehouse import Warehouse

    dg.DagsterInstance.ephemeral().dispose()  # imports Dagster's storage modules, off the clock

    wh = Warehouse(os.environ["INVOICE_PIPELINE_DB"])
    settings_store.upsert(
        wh, company_id=1, source="billingo", company_name="Bench Kft.",
        api_key=os.environ[KEY_ENV], base_url=base_url,
    )  # fmt: skip
    start = time.perf_counter()
    [result] = run_sync(wh, company_id=1)
    seconds = time.perf_counter() - start
    if result["status"] != "COMPLETED" or result["invoices_processed"] == 0:
        raise RuntimeError(f"the sync did not complete: {result['errors'][-1:]}")
    return {
        "seconds": seconds,
        "documents": result["invoices_processed"],
        "result": result,
        "peak_rss_mb": peak_rss_mb(),
    }


def _run_child(phase: str, base_url: str, env: dict[str, str]) -> dict[str, Any]:
    args = ["--child", phase, "--base-url", base_url]
    return run_child("benchmarks.sync_benchmark", args, f"the {phase} phase", env)


def _start_emulator(docs: int, key: str) -> BillingoEmulator:
    """The emulator in this process's threads: the benchmark's own process only waits for
    its children meanwhile, and between phases it can move the emulator's date."""
    emulator = BillingoEmulator().start()
    emulator.add_account(key, docs=docs, seed=1)
    return emulator


PHASES = ("floor", "full_sync", "unchanged_resync", "next_day_resync")


def run(docs: int, rounds: int = 1) -> dict[str, Any]:
    """``rounds`` rounds of floor, full sync (into a new warehouse), unchanged re-sync (the
    same day: every page's bytes are the same) and next-day re-sync (the emulator's date
    moved on: every unpaid document's ``paid_date`` with it, as Billingo's does, so every
    page's bytes changed; nothing else did), against one emulator. Per phase: the round
    with the median wall time; ``ratios``: each round's sync time over that round's floor
    (the floor is measured in every round because a shared machine's speed drifts)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            KEY_ENV: "bench-" + secrets.token_hex(12),
            "INVOICE_PIPELINE_SECRET_KEY": __import__("cryptography.fernet")
            .fernet.Fernet.generate_key()
            .decode(),
            "INVOICE_PIPELINE_REQUESTS_PER_MINUTE": "0",
        }
        env.pop("DAGSTER_HOME", None)
        emulator = _start_emulator(docs, env[KEY_ENV])
        base_url = emulator.base_url
        measured: list[dict[str, Any]] = []
        try:
            for n in range(rounds):
                env["INVOICE_PIPELINE_DB"] = str(Path(tmp) / f"bench-{n}.duckdb")
                phases = {
                    "floor": _run_child("floor", base_url, env),
                    "full_sync": _run_child("sync", base_url, env),
                    "unchanged_resync": _run_child("sync", base_url, env),
                }
                emulator.today += timedelta(days=1)
                phases["next_day_resync"] = _run_child("sync", base_url, env)
                measured.append(phases)
        finally:
            emulator.stop()
    result: dict[str, Any] = {"documents": docs, "rounds": measured}
    for phase in PHASES:
        by_time = sorted(measured, key=lambda r: r[phase]["seconds"])
        result[phase] = by_time[len(by_time) // 2][phase]
        result[f"{phase}_seconds"] = [r[phase]["seconds"] for r in measured]
        result[f"{phase}_ratios"] = [r[phase]["seconds"] / r["floor"]["seconds"] for r in measured]
        result[f"{phase}_peak_rss_mb"] = max(r[phase]["peak_rss_mb"] for r in measured)
    return result


def report(r: dict[str, Any]) -> str:
    rows = []
    for name in PHASES:
        seconds, ratios = sorted(r[f"{name}_seconds"]), sorted(r[f"{name}_ratios"])
        spread = f" ({seconds[0]:.2f}-{seconds[-1]:.2f})" if len(seconds) > 1 else ""
        ratio_spread = f" ({ratios[0]:.2f}-{ratios[-1]:.2f})" if len(ratios) > 1 else ""
        median, ratio = seconds[len(seconds) // 2], ratios[len(ratios) // 2]
        rows.append(
            f"| {name} | {median:.2f}{spread} | {r['documents'] / median:,.0f} | "
            f"{ratio:.2f}x{ratio_spread} | {r[f'{name}_peak_rss_mb']:.0f} |"
        )
    rounds = len(r["rounds"])
    head = (
        "| phase | wall s, median (range) | documents/s | vs the round's floor, median "
        "(range) | peak RSS MB (max) |\n|---|---|---|---|---|\n"
    )
    return f"{r['documents']:,} documents, {rounds} round(s)\n\n" + head + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000])
    parser.add_argument("--rounds", type=int, default=1, help="rounds per account size")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=["floor", "sync"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = child_floor if args.child == "floor" else child_sync
        print(json.dumps(fn(args.base_url), default=str))
        return
    results = [run(n, args.rounds) for n in args.docs]
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print("\n\n".join(report(r) for r in results))


if __name__ == "__main__":
    main()
