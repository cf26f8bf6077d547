"""The API as a real server (``invoice-pipeline serve`` on uvicorn, its own process): the
seed's "Complete Workflow Example" step by step, and readers during a sync the server runs
itself: they keep being answered, see only whole syncs, and see what the CLI sees."""

import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from invoice_pipeline import settings_store, users
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.warehouse import Warehouse
from invoice_pipeline_tests.test_api_support import (
    SEED_DETAIL,
    SEED_INVOICE,
    SEED_PAGE,
    SEED_SETTINGS,
    SEED_SYNC,
    SEED_SYNC_LOG,
    assert_seed_shape,
)
from invoice_pipeline_tests.test_cli import cli

SEED_KEY = str(uuid.uuid4())  # generated, in the shape of the seed's example key


@dataclass
class Server:
    base: str
    env: dict[str, str]
    emulator: BillingoEmulator
    log: Path

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        out = cli(*args, stdin=stdin, env=self.env)
        assert out.returncode == 0, out.stderr
        return out

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.env["INVOICE_PIPELINE_DB"])

    def add_company(
        self, company: int, name: str, key: str, docs: int, seed: int, via_cli: bool = True
    ) -> None:
        """The demo data: an emulator account and the company registered by its name
        (inactive, no key yet: the API's POST configures it)."""
        self.emulator.add_account(key, docs=docs, seed=seed)
        if via_cli:
            self.cli("settings", "set", "--company", str(company), "--name", name,
                     "--base-url", self.emulator.base_url, "--inactive")  # fmt: skip
        else:
            settings_store.upsert(
                self.warehouse, company_id=company, source="billingo", company_name=name,
                base_url=self.emulator.base_url, is_active=False,
            )  # fmt: skip

    def add_user(self, username: str, password: str, company: int, via_cli: bool = True) -> None:
        if via_cli:
            self.cli("users", "add", "--username", username, "--company", str(company),
                     "--role", "ADMIN", "--password-stdin", stdin=password + "\n")  # fmt: skip
        else:
            users.create_user(self.warehouse, username=username, password=password,
                              role="ADMIN", company_id=company)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("server")
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "BILLINGO_BASE_URL")}
    env.update(
        INVOICE_PIPELINE_DB=str(home / "warehouse.duckdb"),
        INVOICE_PIPELINE_SECRET_KEY=Fernet.generate_key().decode(),
        INVOICE_PIPELINE_SECRET_KEY_FILE=str(home / "secret.key"),
        INVOICE_PIPELINE_REQUESTS_PER_MINUTE="0",
        INVOICE_PIPELINE_BATCH_DOCUMENTS="100",  # several commits per sync: a half-written
    )  # sync would show
    env.pop("INVOICE_PIPELINE_JWT_SECRET", None)  # the server makes data/jwt.key itself
    port = _free_port()
    log = home / "server.log"
    with BillingoEmulator() as emulator, log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "invoice_pipeline", "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            yield Server(base, env, emulator, log)
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert (home / "jwt.key").stat().st_mode & 0o777 == 0o600


def _login(server: Server, username: str, password: str) -> str:
    response = httpx.post(
        f"{server.base}/api/auth/login/",
        content=json.dumps({"username": username, "password": password}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    # The seed extracts the token with: grep -o '"access":"[^"]*"' | cut -d'"' -f4
    match = re.search(r'"access":"([^"]*)"', response.text)
    assert match is not None
    return match.group(1)


def test_the_seeds_complete_workflow_example(server: Server) -> None:
    server.add_company(4, "IT Cardigan Kft.", SEED_KEY, docs=282, seed=4)
    server.add_user("tothi", "Almafa+123", company=4)
    base = server.base

    # 1. Login and get token
    token = _login(server, "tothi", "Almafa+123")
    auth = {"Authorization": f"Bearer {token}"}
    json_auth = {**auth, "Content-Type": "application/json"}

    # 2. Configure Billingo settings
    configured = httpx.post(
        f"{base}/api/billingo-settings/",
        headers=json_auth,
        content=json.dumps({"api_key_input": SEED_KEY, "is_active": True}),
    )
    assert configured.status_code in (200, 201), configured.text
    assert_seed_shape(configured.json(), SEED_SETTINGS)
    assert configured.json()["company"] == 4
    assert configured.json()["company_name"] == "IT Cardigan Kft."
    assert configured.json()["has_api_key"] is True and configured.json()["is_active"] is True
    assert SEED_KEY not in configured.text

    # 3. Trigger manual sync
    synced = httpx.post(
        f"{base}/api/billingo-settings/trigger_sync/", headers=json_auth, content="{}", timeout=120
    )
    assert synced.status_code == 200, synced.text
    result = synced.json()
    assert_seed_shape(result, SEED_SYNC)
    assert result["status"] == "success" and result["errors"] == []
    assert result["invoices_processed"] == result["invoices_created"] == 282
    assert result["api_calls"] == 3  # 100 per page

    # 4. View invoices
    listed = httpx.get(f"{base}/api/billingo-invoices/?page_size=5", headers=auth)
    assert listed.status_code == 200
    page = listed.json()
    assert_seed_shape(page, {**SEED_PAGE, "results": [SEED_INVOICE]})
    assert page["count"] == 282 and len(page["results"]) == 5
    assert page["next"] == f"{base}/api/billingo-invoices/?page_size=5&page=2"
    assert page["previous"] is None
    assert re.fullmatch(r"-?\d+\.\d{2}", page["results"][0]["gross_total"])

    # 5. View specific invoice with items
    invoice_id = page["results"][0]["id"]
    detail = httpx.get(f"{base}/api/billingo-invoices/{invoice_id}/", headers=auth)
    assert detail.status_code == 200
    assert_seed_shape(detail.json(), SEED_DETAIL)
    assert detail.json()["id"] == invoice_id
    assert len(detail.json()["items"]) == detail.json()["item_count"] > 0

    # 6. Check sync logs
    logs = httpx.get(f"{base}/api/billingo-sync-logs/", headers=auth)
    assert logs.status_code == 200
    assert_seed_shape(logs.json(), {**SEED_PAGE, "results": [SEED_SYNC_LOG]})
    [entry] = logs.json()["results"]
    assert (entry["sync_type"], entry["sync_type_display"]) == ("MANUAL", "Kézi")
    assert (entry["status"], entry["status_display"]) == ("COMPLETED", "Befejezve")
    assert entry["invoices_created"] == 282 and entry["api_calls_made"] == 3
    assert (entry["errors"], entry["errors_parsed"]) == ("", [])

    # The settings now show the sync; nothing secret ever reached the server's log.
    settings = httpx.get(f"{base}/api/billingo-settings/", headers=auth).json()
    assert settings["results"][0]["last_sync_time"] is not None
    text = server.log.read_text()
    for secret in (SEED_KEY, "Almafa+123", token, "argon2"):
        assert secret not in text


def _upstream(emulator: BillingoEmulator, key: str) -> tuple[int, int]:
    docs = emulator.documents(key)
    return len(docs), sum(d["payment_status"] == "paid" for d in docs)


def _state(page: dict[str, Any]) -> tuple[int, int, str | None]:
    paid = sum(r["payment_status"] == "paid" for r in page["results"])
    return page["count"], paid, page["snapshot"]["data_as_of"]


def test_readers_see_whole_syncs_and_the_same_snapshot_as_the_cli(server: Server) -> None:
    key = "key-medka"
    server.add_company(7, "MEDKA Kft.", key, docs=450, seed=7, via_cli=False)
    server.add_user("medka", "medka-admin-pw", company=7, via_cli=False)
    auth = {"Authorization": f"Bearer {_login(server, 'medka', 'medka-admin-pw')}"}
    url = f"{server.base}/api/billingo-invoices/?page_size=1000"
    configured = httpx.post(f"{server.base}/api/billingo-settings/", headers=auth,
                            json={"api_key_input": key, "is_active": True})  # fmt: skip
    assert configured.status_code == 200, configured.text
    trigger = f"{server.base}/api/billingo-settings/trigger_sync/"
    assert httpx.post(trigger, headers=auth, json={}, timeout=120).status_code == 200
    before = _state(httpx.get(url, headers=auth).json())
    emulator = server.emulator
    assert before[:2] == _upstream(emulator, key)
    unpaid = [d["id"] for d in emulator.documents(key) if d["payment_status"] != "paid"]
    paid = unpaid[::2][:40]  # changes all over the listing
    for doc_id in paid:
        emulator.pay(key, doc_id)
    for _ in range(40):
        emulator.add_document(key)
    expected = _upstream(emulator, key)

    states: list[tuple[tuple[int, int, str | None], float]] = []
    bodies: dict[tuple[int, int, str | None], dict[str, Any]] = {}
    cli_reads: list[dict[str, Any]] = []
    failures: list[str] = []
    done = threading.Event()

    def read_api() -> None:
        with httpx.Client(headers=auth, timeout=10) as client:
            while not done.is_set():
                started = time.monotonic()
                response = client.get(url)
                if response.status_code != 200:
                    failures.append(response.text)
                    return
                state = _state(response.json())
                states.append((state, time.monotonic() - started))
                bodies.setdefault(state, response.json())
                time.sleep(0.02)

    def read_cli() -> None:
        args = ["invoices", "list", "--company", "7", "--page-size", "1000", "--format", "json"]
        out = cli(*args, env=server.env)
        if out.returncode:
            failures.append(out.stderr)
        else:
            cli_reads.append(json.loads(out.stdout))

    emulator.latency_ms = 400  # five pages: the sync takes seconds, its batches commit
    readers = [threading.Thread(target=read_api), threading.Thread(target=read_cli)]
    try:
        for reader in readers:
            reader.start()
        synced = httpx.post(trigger, headers=auth, json={}, timeout=120)
    finally:
        emulator.latency_ms = 0
        readers[1].join(timeout=60)
        time.sleep(0.3)
        done.set()
        readers[0].join(timeout=30)
    assert not failures, failures
    assert synced.status_code == 200, synced.text
    assert (synced.json()["invoices_created"], synced.json()["invoices_updated"]) == (40, len(paid))

    after = _state(httpx.get(url, headers=auth).json())
    assert after[:2] == expected and expected != before[:2]
    seen = [state for state, _ in states]
    assert len(seen) > 10 and set(seen) <= {before, after}, set(seen) - {before, after}
    assert seen[0] == before and seen[-1] == after  # the server answered during its sync
    assert sum(1 for a, b in itertools.pairwise(seen) if a != b) == 1
    assert max(seconds for _, seconds in states) < 2.0  # and never waited for it

    # The CLI read while the sync ran: whichever sync's data it saw, the API showed exactly
    # the same page for it.
    [printed] = cli_reads
    api = bodies[_state(printed)]
    assert api["results"] == printed["results"] and api["count"] == printed["count"]
