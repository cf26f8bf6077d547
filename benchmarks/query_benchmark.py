"""Read-side latency: the query module on a large warehouse, warm and cold.

    python -m benchmarks.query_benchmark --db /tmp/qbench/warehouse.duckdb [--repeat 200] [--json]

When ``--db`` does not exist it is generated first (``benchmarks.warehouse_generator``,
sized by ``--invoices``, ``--lines-per-invoice`` and ``--companies``); when it has no read
snapshot yet, one is published. Every call goes through the public query module
(``invoice_pipeline.queries``), as the CLI and the HTTP API call it.

- warm: one child process calls every scenario ``--repeat`` times, round robin (so noise
  from other processes on the machine spreads over all of them), on the connection the
  query module caches; p50 / p95 / max per scenario. Each scenario is called once before
  the timed calls: that first call is the cold figure.
- cold: ``--cold-runs`` fresh child processes each time the first call of every scenario
  in order; the first one includes opening the snapshot (imports are timed apart). The OS
  page cache is not dropped, so "cold" means a cold process, not a cold disk.

Scenarios run against the company with the most invoices (the worst case for a
company-scoped query), except ``list_small_company``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.children import peak_rss_mb, run_child

TARGETS_MS = {"list_p50": 20.0, "detail_p50": 10.0}
SCENARIOS = (
    "list_filtered", "list_first_page", "list_deep_page", "list_search", "list_partner",
    "list_small_company", "detail", "sync_logs",
)  # fmt: skip
LIST_SCENARIOS = tuple(s for s in SCENARIOS if s.startswith("list_"))


def scenario_args(setup: dict[str, Any]) -> dict[str, Callable[[int], dict[str, Any]]]:
    """Per scenario: call number -> keyword arguments of the query function."""
    big, small = setup["largest_company"], setup["smallest_company"]
    ids, taxes = setup["invoice_ids"], setup["partner_tax_numbers"]
    window = {"invoice_date_from": setup["window"][0], "invoice_date_to": setup["window"][1]}
    filtered = {"payment_status": "outstanding", **window, "page": 3}
    page = {"company_id": big, "page_size": 100}
    return {
        "list_filtered": lambda i: {**page, **filtered},
        "list_first_page": lambda i: {**page, "page": 1},
        "list_deep_page": lambda i: {**page, "page": 500},
        "list_search": lambda i: {**page, "search": setup["search"]},
        "list_partner": lambda i: {**page, "partner_tax_number": taxes[i % len(taxes)]},
        "list_small_company": lambda i: {**page, "company_id": small, "page": 1},
        "detail": lambda i: {"company_id": big, "invoice_id": ids[i % len(ids)]},
        "sync_logs": lambda i: {**page, "page": 1},
    }


def _caller(name: str, db: str) -> Callable[[dict[str, Any]], Any]:
    from invoice_pipeline import queries

    fn = {"detail": queries.get_invoice, "sync_logs": queries.list_sync_logs}.get(
        name, queries.list_invoices
    )

    def call(kwargs: dict[str, Any]) -> Any:
        kwargs = dict(kwargs)
        return fn(kwargs.pop("company_id"), db_path=db, **kwargs)

    return call


def _outcome(name: str, result: Any) -> dict[str, Any]:
    """What a call returned, for checking: a page's count and size, a detail's lines."""
    if name == "detail":
        return {"id": result.id, "item_count": result.item_count, "lines": len(result.items)}
    return {"count": result.count, "results": len(result.results)}


def child_cold(db: str, setup: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    import invoice_pipeline.queries  # noqa: F401

    imports = time.perf_counter() - t0
    args = scenario_args(setup)
    first: dict[str, float] = {}
    for name in SCENARIOS:
        call = _caller(name, db)
        t0 = time.perf_counter()
        call(args[name](0))
        first[name] = (time.perf_counter() - t0) * 1000
    return {"import_s": imports, "first_call_ms": first, "peak_rss_mb": peak_rss_mb()}


def child_warm(db: str, setup: dict[str, Any], repeat: int) -> dict[str, Any]:
    import invoice_pipeline.queries  # noqa: F401

    args = scenario_args(setup)
    calls = {name: _caller(name, db) for name in SCENARIOS}
    first: dict[str, float] = {}
    for name in SCENARIOS:  # the first call of each: opens the snapshot, warms its data
        t0 = time.perf_counter()
        calls[name](args[name](0))
        first[name] = (time.perf_counter() - t0) * 1000
    times: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    cpu: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    outcomes: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
    started = time.perf_counter()
    for i in range(repeat):
        for name in SCENARIOS:
            kwargs = args[name](i)
            c0, t0 = time.process_time(), time.perf_counter()
            result = calls[name](kwargs)
            times[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
            if i < max(len(setup["invoice_ids"]), len(setup["partner_tax_numbers"])):
                outcomes[name].append({"args": kwargs, **_outcome(name, result)})
    return {
        "first_call_ms": first,
        "times_ms": times,
        "cpu_ms": cpu,
        "outcomes": outcomes,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "calls": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p95_ms": round(percentile(values, 95), 3),
        "max_ms": round(max(values), 3),
        "min_ms": round(min(values), 3),
        "mean_ms": round(sum(values) / len(values), 3),
    }


def _run_child(kind: str, db: Path, setup: dict[str, Any], repeat: int) -> dict[str, Any]:
    args = ["--db", str(db), "--child", kind, "--repeat", str(repeat), "--setup", json.dumps(setup)]
    return run_child("benchmarks.query_benchmark", args, f"the {kind} run")


def prepare(db: Path, generate_args: dict[str, Any]) -> dict[str, Any]:
    """Generate the warehouse if missing and publish a snapshot if there is none."""
    from invoice_pipeline.warehouse import Warehouse, snapshot

    info: dict[str, Any] = {"generated": None, "published_seconds": None}
    if not db.exists():
        cmd = [sys.executable, "-m", "benchmarks.warehouse_generator", "--out", str(db), "--json"]
        for key, value in generate_args.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"generating {db} failed:\n{out.stderr.strip()}")
        info["generated"] = json.loads(out.stdout)
    if snapshot.current_file(db) is None:
        t0 = time.perf_counter()
        Warehouse(db).publish()
        info["published_seconds"] = round(time.perf_counter() - t0, 3)
    return info


def choose(snapshot_file: Path, search: str, samples: int, seed: int) -> dict[str, Any]:
    """The companies, date window, invoice ids and partners the scenarios use (read
    straight from the snapshot, in this process, so the children start cold)."""
    import duckdb

    with duckdb.connect(str(snapshot_file), read_only=True) as con:
        sizes = con.execute(
            "SELECT company_id, count(*) AS n FROM invoices GROUP BY ALL ORDER BY n DESC, 1"
        ).fetchall()
        big, small = sizes[0][0], sizes[-1][0]
        last = con.execute(
            "SELECT max(invoice_date) FROM invoices WHERE company_id = ?", [big]
        ).fetchone()[0]  # type: ignore[index]
        ids = [r[0] for r in con.execute(
            f"SELECT invoice_id FROM (SELECT invoice_id FROM invoices WHERE company_id = ?) "
            f"USING SAMPLE reservoir({samples} ROWS) REPEATABLE ({seed})", [big]
        ).fetchall()]  # fmt: skip
        taxes = [r[0] for r in con.execute(
            f"SELECT partner_tax_number FROM (SELECT partner_tax_number FROM invoices "
            f"WHERE company_id = ? AND partner_tax_number IS NOT NULL) "
            f"USING SAMPLE reservoir({min(samples, 50)} ROWS) REPEATABLE ({seed})", [big]
        ).fetchall()]  # fmt: skip
        totals = con.execute(
            "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM invoice_items), "
            "(SELECT count(DISTINCT company_id) FROM invoices)"
        ).fetchone()
    first = last - timedelta(days=364)
    return {
        "largest_company": big,
        "largest_company_invoices": sizes[0][1],
        "smallest_company": small,
        "smallest_company_invoices": sizes[-1][1],
        "invoices": totals[0],  # type: ignore[index]
        "invoice_items": totals[1],  # type: ignore[index]
        "companies": totals[2],  # type: ignore[index]
        "window": [first.isoformat(), last.isoformat()],
        "search": search,
        "invoice_ids": ids,
        "partner_tax_numbers": taxes,
    }


def run(
    db: Path | str,
    *,
    repeat: int = 200,
    cold_runs: int = 3,
    search: str = "2025-0001",
    generate_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from invoice_pipeline.warehouse import snapshot

    db = Path(db).absolute()
    prepared = prepare(db, generate_args or {})
    current = snapshot.current_file(db)
    assert current is not None
    setup = choose(current, search, samples=max(1, min(repeat, 200)), seed=42)
    cold_runs_out = [_run_child("cold", db, setup, repeat) for _ in range(cold_runs)]
    warm = _run_child("warm", db, setup, repeat)
    cold = {
        "import_s": [round(r["import_s"], 3) for r in cold_runs_out],
        "first_call_ms": {
            name: [round(r["first_call_ms"][name], 3) for r in cold_runs_out] for name in SCENARIOS
        },
        "peak_rss_mb": [round(r["peak_rss_mb"], 1) for r in cold_runs_out],
    }
    scenarios: dict[str, Any] = {}
    for name in SCENARIOS:
        outcomes = warm["outcomes"][name]
        entry: dict[str, Any] = {
            **_stats(warm["times_ms"][name]),
            "cpu_p50_ms": round(percentile(warm["cpu_ms"][name], 50), 3),
            "warm_process_first_call_ms": round(warm["first_call_ms"][name], 3),
            "cold_first_call_ms": cold["first_call_ms"][name],
            "args": outcomes[0]["args"] if outcomes else None,
        }
        if name in ("detail", "list_partner"):  # arguments vary per call
            entry["outcomes"] = outcomes
        else:
            entry["count"] = outcomes[0]["count"] if outcomes else None
            entry["results"] = outcomes[0]["results"] if outcomes else None
        scenarios[name] = entry
    list_ok = all(scenarios[n]["p50_ms"] <= TARGETS_MS["list_p50"] for n in LIST_SCENARIOS)
    detail_ok = scenarios["detail"]["p50_ms"] <= TARGETS_MS["detail_p50"]
    return {
        "db": str(db),
        "snapshot": str(current),
        "warehouse_bytes": db.stat().st_size,
        "snapshot_bytes": current.stat().st_size,
        **prepared,
        "setup": {k: v for k, v in setup.items() if k not in ("invoice_ids",)},
        "repeat": repeat,
        "cold": cold,
        "scenarios": scenarios,
        "warm_seconds": round(warm["seconds"], 3),
        "warm_peak_rss_mb": round(warm["peak_rss_mb"], 1),
        "targets_ms": TARGETS_MS,
        "targets_met": {"list_p50": list_ok, "detail_p50": detail_ok},
    }


def report(r: dict[str, Any]) -> str:
    s = r["setup"]
    mb = 1024 * 1024
    head = [
        f"{s['invoices']:,} invoices, {s['invoice_items']:,} lines, {s['companies']} companies; "
        f"largest company {s['largest_company']} ({s['largest_company_invoices']:,} invoices), "
        f"smallest {s['smallest_company']} ({s['smallest_company_invoices']:,})",
        f"warehouse {r['warehouse_bytes'] / mb:,.0f} MB, "
        f"snapshot {r['snapshot_bytes'] / mb:,.0f} MB"
        + (f", published now in {r['published_seconds']:.1f} s" if r["published_seconds"] else ""),
        f"date window {s['window'][0]} .. {s['window'][1]}, search {s['search']!r}; "
        f"{r['repeat']} warm calls per scenario, round robin, in one process "
        f"(peak RSS {r['warm_peak_rss_mb']:,.0f} MB)",
        "cold: fresh process, first call of each scenario in order (the first opens the "
        f"snapshot); imports {', '.join(f'{x:.2f}' for x in r['cold']['import_s'])} s",
        "",
        "| scenario | count | p50 ms | p95 ms | max ms | CPU p50 ms | cold first call ms |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = []
    for name, e in r["scenarios"].items():
        count = e.get("count")
        if count is None and name == "list_partner":
            counts = [o["count"] for o in e["outcomes"]]
            count = f"{min(counts):,}..{max(counts):,}"
        elif count is None:
            count = f"{sum(o['lines'] for o in e['outcomes']) / len(e['outcomes']):.1f} lines"
        else:
            count = f"{count:,}"
        cold = ", ".join(f"{x:.1f}" for x in e["cold_first_call_ms"])
        rows.append(
            f"| {name} | {count} | {e['p50_ms']:.2f} | {e['p95_ms']:.2f} | {e['max_ms']:.2f} "
            f"| {e['cpu_p50_ms']:.2f} | {cold} |"
        )
    met = r["targets_met"]
    tail = [
        "",
        f"targets: list p50 <= {r['targets_ms']['list_p50']:.0f} ms: "
        f"{'met' if met['list_p50'] else 'NOT met'}; detail p50 <= "
        f"{r['targets_ms']['detail_p50']:.0f} ms: {'met' if met['detail_p50'] else 'NOT met'}",
    ]
    return "\n".join(head + rows + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=200, help="warm calls per scenario")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes for cold")
    parser.add_argument("--search", default="2025-0001")
    parser.add_argument("--json", action="store_true")
    gen = parser.add_argument_group("generation, when --db does not exist")
    gen.add_argument("--invoices", type=int, default=1_000_000)
    gen.add_argument("--lines-per-invoice", type=int, default=10)
    gen.add_argument("--companies", type=int, default=20)
    parser.add_argument("--child", choices=["cold", "warm"], help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1 or args.cold_runs < 1:
        parser.error("--repeat and --cold-runs must be at least 1")
    if args.child:
        setup = json.loads(args.setup)
        db = str(args.db)
        result = (
            child_cold(db, setup) if args.child == "cold" else child_warm(db, setup, args.repeat)
        )
        print(json.dumps(result, default=str))
        return
    result = run(
        args.db, repeat=args.repeat, cold_runs=args.cold_runs, search=args.search,
        generate_args={"invoices": args.invoices, "lines_per_invoice": args.lines_per_invoice,
                       "companies": args.companies},
    )  # fmt: skip
    print(json.dumps(result, indent=2, default=str) if args.json else report(result))


if __name__ == "__main__":
    main()
