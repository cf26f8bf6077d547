"""Incremental against full: API calls and wall time after a few changes to a large account.

    python -m benchmarks.incremental_benchmark [--docs 100000] [--changes 50] [--json]

The Billingo emulator runs in a thread of this process (so that the changes are made through
its own controls); each sync runs in a fresh child process through the Dagster sync job, as
``invoice-pipeline sync [--incremental]`` runs it, with client-side pacing off. Phases: a full
sync into an empty warehouse, ``--changes`` changed documents (payments, cancellations: the
flipped original and its new cancellation document, new documents, status changes), an
incremental sync, then a full sync that must find nothing left to change. The benchmark
refuses to report when a count is not exactly what the changes made.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from benchmarks.children import KEY_ENV, run_child
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.server import Request, Response

PACED_PER_MINUTE = 300  # Billingo's documented limit: what the calls cost when paced


def child_sync(base_url: str, mode: str) -> dict[str, Any]:
    from invoice_pipeline import settings_store
    from invoice_pipeline.orchestration.run import run_sync
    from invoice_pipeline.warehouse import Warehouse

    wh = Warehouse(os.environ["INVOICE_PIPELINE_DB"])
    if not settings_store.list_settings(wh, company_id=1):
        settings_store.upsert(
            wh, company_id=1, source="billingo", company_name="Bench Kft.",
            api_key=os.environ[KEY_ENV], base_url=base_url,
        )  # fmt: skip
    start = time.perf_counter()
    [result] = run_sync(wh, company_id=1, mode=mode)
    return {"seconds": time.perf_counter() - start, "result": result}


def _run_child(mode: str, base_url: str, env: dict[str, str]) -> dict[str, Any]:
    args = ["--child", mode, "--base-url", base_url]
    phase = run_child("benchmarks.incremental_benchmark", args, f"the {mode} sync", env)
    result = phase["result"]
    if result["status"] != "COMPLETED":
        raise SystemExit(f"the {mode} sync did not complete: {result['errors'][-3:]}")
    return phase


@dataclass
class Changes:
    payments: int
    cancellations: int
    new_documents: int
    status_changes: int

    @property
    def documents(self) -> int:
        return self.payments + 2 * self.cancellations + self.new_documents + self.status_changes

    @property
    def created(self) -> int:
        return self.cancellations + self.new_documents  # + the cancellation documents

    @property
    def updated(self) -> int:
        return self.payments + self.cancellations + self.status_changes

    @classmethod
    def mix(cls, documents: int) -> Changes:
        """``documents`` changed documents: 30% paid, 40% in cancellations (the original
        and its new cancellation document), 20% new, 10% status changes."""
        cancellations = max(1, documents * 2 // 10)
        payments = max(1, documents * 3 // 10)
        status = max(1, documents // 10)
        new = documents - payments - 2 * cancellations - status
        if new < 1:
            raise SystemExit(f"--changes {documents} is too few for the mix (at least 6)")
        return cls(payments, cancellations, new, status)


def make_changes(emu: BillingoEmulator, key: str, plan: Changes) -> None:
    """Apply ``plan`` to distinct documents, each stamped as modified by the emulator."""
    docs = emu.documents(key)
    used: set[int] = set()

    def pick(n: int, what: str, test: Any) -> list[dict[str, Any]]:
        found = [d for d in docs if d["id"] not in used and test(d)][:n]
        if len(found) < n:
            raise SystemExit(f"the account has too few {what} for {n} changes")
        used.update(d["id"] for d in found)
        return found

    def invoice(d: dict[str, Any]) -> bool:
        return d["type"] == "invoice" and not d["cancelled"]

    def outstanding(d: dict[str, Any]) -> bool:
        return invoice(d) and d["payment_status"] == "outstanding"

    def unpaid(d: dict[str, Any]) -> bool:
        return invoice(d) and d["payment_status"] in ("outstanding", "expired", "partially_paid")

    for d in pick(plan.status_changes, "outstanding invoices", outstanding):
        emu.update_document(key, d["id"], payment_status="expired")
    for d in pick(plan.payments, "unpaid invoices", unpaid):
        emu.pay(key, d["id"])
    for d in pick(plan.cancellations, "invoices", invoice):
        emu.cancel(key, d["id"])
    kinds = ["invoice", "proforma", "receipt", "advance"]
    for n in range(plan.new_documents):
        emu.add_document(key, type=kinds[n % len(kinds)])


def _part(request: Request) -> str:
    """Which part of an incremental sync a request is (billingo/incremental.py)."""
    if request.path.endswith("/utils/time"):
        return "server clock"
    if request.path.startswith("/v3/documents/"):
        return "cancelled originals"
    names = {name for name, _ in request.query}
    for name, part in (
        ("last_modified_date", "last_modified_date"),
        ("payment_status", "expired re-check"),
        ("paid_start_date", "paid-date window"),
        ("start_date", "invoice-date window"),
    ):
        if name in names:
            return part
    return "unfiltered"


def run(docs: int, changes: int, check: bool = True) -> dict[str, Any]:
    plan = Changes.mix(changes)
    key = "bench-" + secrets.token_hex(12)
    with tempfile.TemporaryDirectory() as tmp, BillingoEmulator() as emu:
        env = {
            **os.environ,
            KEY_ENV: key,
            "INVOICE_PIPELINE_DB": str(Path(tmp) / "bench.duckdb"),
            "INVOICE_PIPELINE_SECRET_KEY": Fernet.generate_key().decode(),
            "INVOICE_PIPELINE_REQUESTS_PER_MINUTE": "0",
        }
        env.pop("DAGSTER_HOME", None)
        emu.add_account(key, docs=docs, seed=1)
        full = _run_child("full", emu.base_url, env)
        make_changes(emu, key, plan)
        parts: Counter[str] = Counter()

        def count(request: Request) -> Response | None:
            parts[_part(request)] += 1
            return None

        emu.before_request = count
        incremental = _run_child("incremental", emu.base_url, env)
        emu.before_request = None
        after = _run_child("full", emu.base_url, env) if check else None
    got = incremental["result"]
    if (got["invoices_created"], got["invoices_updated"]) != (plan.created, plan.updated):
        raise SystemExit(
            f"the incremental sync counted {got['invoices_created']} created and "
            f"{got['invoices_updated']} updated, the changes made {plan.created} and "
            f"{plan.updated}: not reported"
        )
    if got["sync_mode"] != "incremental":
        raise SystemExit(f"the incremental sync ran as {got['sync_mode']}: not reported")
    if after is not None:
        left = (after["result"]["invoices_created"], after["result"]["invoices_updated"])
        if left != (0, 0):
            raise SystemExit(f"a full sync after the incremental one still found {left}")
    calls_full, calls_inc = full["result"]["api_calls"], got["api_calls"]
    return {
        "documents": docs,
        "changed_documents": plan.documents,
        "changes": plan.__dict__,
        "expected": {"created": plan.created, "updated": plan.updated},
        "full": {"api_calls": calls_full, "seconds": full["seconds"], "result": full["result"]},
        "incremental": {
            "api_calls": calls_inc,
            "seconds": incremental["seconds"],
            "calls_by_part": dict(parts),
            "result": got,
        },
        "api_call_ratio": calls_inc / calls_full,
        "full_after_check": after["result"] if after is not None else None,
    }


def report(r: dict[str, Any]) -> str:
    full, inc = r["full"], r["incremental"]
    paced = {k: r[k]["api_calls"] * 60 / PACED_PER_MINUTE for k in ("full", "incremental")}
    got = inc["result"]
    rows = [
        f"| full sync | {full['api_calls']:,} | {full['seconds']:.2f} | {paced['full']:,.0f} | "
        f"{full['result']['invoices_created']:,} created |",
        f"| incremental sync | {inc['api_calls']:,} | {inc['seconds']:.2f} | "
        f"{paced['incremental']:,.0f} | {got['invoices_created']} created, "
        f"{got['invoices_updated']} updated, {got['invoices_skipped']} skipped |",
    ]
    head = (
        "| sync | API calls | wall s (pacing off) | s at 300 calls/min | counts |\n"
        "|---|---|---|---|---|\n"
    )
    parts = ", ".join(f"{k} {v}" for k, v in sorted(inc["calls_by_part"].items()))
    return (
        f"{r['documents']:,} documents, {r['changed_documents']} changed ({r['changes']})\n\n"
        + head
        + "\n".join(rows)
        + f"\n\nincremental / full API calls: {r['api_call_ratio']:.2%} ({parts})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--no-check", action="store_true", help="skip the final full sync")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=["full", "incremental"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_sync(args.base_url, args.child), default=str))
        return
    result = run(args.docs, args.changes, check=not args.no_check)
    print(json.dumps(result, indent=2, default=str) if args.json else report(result))


if __name__ == "__main__":
    main()
