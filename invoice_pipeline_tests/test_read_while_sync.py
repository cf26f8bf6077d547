"""Readers during a sync: another process queries in a loop while a slow sync writes in
batches. Zero errors, no waiting on the writer, and only ever a whole sync's data."""

import json
import subprocess
import sys
import time
from pathlib import Path

from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.server import Request, Response
from invoice_pipeline_tests.test_cli import cli, configure_company

READER = """
import json, sys, time
from pathlib import Path
from invoice_pipeline import queries
stop = Path(sys.argv[1])
while not stop.exists():
    started = time.monotonic()
    try:
        page = queries.list_invoices(4, page_size=1000)
        paid = sum(r.payment_status == "paid" for r in page.results)
        state = {"count": page.count, "paid": paid, "as_of": str(page.snapshot.data_as_of)}
    except Exception as exc:
        state = {"error": f"{type(exc).__name__}: {exc}"}
    state["seconds"] = time.monotonic() - started
    print(json.dumps(state), flush=True)
    time.sleep(0.01)
"""


def _state(emulator: BillingoEmulator, key: str) -> tuple[int, int]:
    docs = emulator.documents(key)
    return len(docs), sum(d["payment_status"] == "paid" for d in docs)


def test_readers_see_only_whole_syncs_and_never_wait(
    emulator: BillingoEmulator, api_key: str, tmp_path: Path
) -> None:
    emulator.add_account(api_key, docs=900, seed=11)
    configure_company(emulator, api_key)
    assert cli("sync", "--company", "4").returncode == 0
    before = _state(emulator, api_key)

    # Changes all over the listing, so a half-written sync would show a mixed state.
    unpaid = [d["id"] for d in emulator.documents(api_key) if d["payment_status"] != "paid"]
    for doc_id in unpaid[::3][:60]:
        emulator.pay(api_key, doc_id)
    for _ in range(50):
        emulator.add_document(api_key)
    after = _state(emulator, api_key)
    assert after != before

    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.5)  # the reader is up and reading the first sync
        emulator.latency_ms = 150  # ten pages: the sync takes seconds, five batches commit
        writer = cli("sync", "--company", "4", env={"INVOICE_PIPELINE_BATCH_DOCUMENTS": "200"})
        assert writer.returncode == 0, writer.stderr
        time.sleep(1.0)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    states = [json.loads(line) for line in out.splitlines()]
    assert not [s for s in states if "error" in s]
    seen = [(s["count"], s["paid"]) for s in states]
    assert set(seen) == {before, after}, set(seen)
    flips = [i for i in range(1, len(seen)) if seen[i] != seen[i - 1]]
    assert len(flips) == 1 and seen[0] == before and seen[-1] == after  # one step, forward
    assert max(s["seconds"] for s in states) < 2.0  # readers never waited for the writer
    assert len(states) > 20


def test_a_failed_sync_leaves_readers_on_the_last_complete_one(
    emulator: BillingoEmulator, api_key: str
) -> None:
    emulator.add_account(api_key, docs=450, seed=12)
    configure_company(emulator, api_key)
    assert cli("sync", "--company", "4").returncode == 0
    first = json.loads(cli("invoices", "list", "--company", "4", "--format", "json").stdout)
    for _ in range(30):
        emulator.add_document(api_key)
    # Pages 1-2 commit as batches, then page 3 keeps failing: the sync fails half-way.
    failing_from = emulator.request_count(api_key) + 3

    def fail_late(request: Request) -> Response | None:
        if emulator.request_count(api_key) < failing_from:
            return None
        return Response(500, b'{"error": {"message": "Internal Server Error"}}')

    emulator.before_request = fail_late
    failed = cli(
        "sync", "--company", "4", "--json",
        env={"INVOICE_PIPELINE_BATCH_DOCUMENTS": "100", "INVOICE_PIPELINE_HTTP_RETRIES": "1"},
    )  # fmt: skip
    emulator.before_request = None
    assert failed.returncode != 0
    assert json.loads(failed.stdout)[0]["status"] == "FAILED"
    now = json.loads(cli("invoices", "list", "--company", "4", "--format", "json").stdout)
    assert now["count"] == first["count"] == 450
    assert now["snapshot"]["data_as_of"] == first["snapshot"]["data_as_of"]
    # The per-day summary the list counts and searches from holds the carried rows too.
    number = first["results"][-1]["invoice_number"]
    found = cli("invoices", "list", "--company", "4", "--search", number, "--format", "json")
    assert number in [r["invoice_number"] for r in json.loads(found.stdout)["results"]]
    logs = json.loads(cli("sync-logs", "--company", "4", "--format", "json").stdout)
    assert [r["status"] for r in logs["results"]] == ["FAILED", "COMPLETED"]  # logs are current
    assert cli("sync", "--company", "4").returncode == 0
    final = json.loads(cli("invoices", "list", "--company", "4", "--format", "json").stdout)
    assert final["count"] == 480
