"""Issue 6, end to end: generated API keys never appear in process output, HTTP responses,
any file the pipeline writes (warehouse, WAL, read snapshots, Dagster storage, compute logs),
any table of any DuckDB file, or the Dagster event log and its metadata.

One module-scoped scenario runs everything in real processes against the bundled emulators:
``settings set --api-key-stdin``, syncs that succeed, retry (429/500/timeout/html), are
rejected (401) or meet a server that echoes the key in its error body, the read commands,
``secret-key rotate``, the demo, and the HTTP API (``invoice-pipeline serve``) with every
endpoint and its error paths. The tests then search every capture for every key, in the forms
a leak could take (raw, JSON-escaped, URL-encoded, base64, hex), and first check that the
scenario really did what makes the search meaningful.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from cryptography.fernet import Fernet, MultiFernet

from invoice_pipeline import users
from invoice_pipeline.emulators.billingo import BillingoEmulator
from invoice_pipeline.emulators.billx import TEST_KEY, BillxEmulator
from invoice_pipeline.emulators.server import Request, Response
from invoice_pipeline.warehouse import Warehouse

CANARY = "canary" + secrets.token_hex(6)  # a company name part: proves plain text is findable


def _key(prefix: str) -> str:
    """A generated key with characters that JSON, URL and base64 encodings all change."""
    return f"{prefix}-{secrets.token_hex(12)}+/{secrets.token_hex(4)}="


@dataclass(frozen=True)
class Keys:
    billingo: str = field(default_factory=lambda: _key("bg"))  # company 4, one retry (html)
    billx: str = field(default_factory=lambda: _key("bx"))  # company 4, BillX
    wrong: str = field(default_factory=lambda: _key("wrong"))  # company 5: no account -> 401
    retried: str = field(default_factory=lambda: _key("retry"))  # company 6: timeout, 500, 429
    echoed: str = field(default_factory=lambda: _key("echo"))  # company 8: echoed in a 403
    api: str = field(default_factory=lambda: _key("api"))  # company 7, set through the API
    api_new: str = field(default_factory=lambda: _key("apinew"))  # company 7, updated key
    api_billx: str = field(default_factory=lambda: _key("apibx"))  # company 7, BillX
    api_wrong: str = field(default_factory=lambda: _key("apiwrong"))  # company 7, BillX, 401

    def named(self) -> dict[str, str]:
        return dict(vars(self))


BILLX_KEYS = ("billx", "retried", "api_billx", "api_wrong")


@dataclass
class Scenario:
    root: Path
    dagster_homes: list[Path]
    keys: Keys
    outputs: dict[str, str] = field(default_factory=dict)  # label -> stdout + stderr
    http: dict[str, str] = field(default_factory=dict)  # label -> status, headers, body
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    requests_seen: dict[str, int] = field(default_factory=dict)  # key name -> emulator count
    key_file_modes: list[int] = field(default_factory=list)
    fernet_keys: list[str] = field(default_factory=list)  # every key file version seen
    jwt_key: str = ""
    dagster: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # duckdb file -> every row as text
    transient: dict[str, bytes] = field(default_factory=dict)  # short-lived files' bytes
    stored_tokens: list[str] = field(default_factory=list)
    stored_keys: dict[str, str] = field(default_factory=dict)  # decrypted from each warehouse


# -- running things ----------------------------------------------------------------------


class Runner:
    def __init__(self, scenario: Scenario, env: dict[str, str]) -> None:
        self.scenario, self.env = scenario, env
        self.passwords: dict[str, str] = {}

    def cli(
        self,
        label: str,
        *args: str,
        stdin: str | None = None,
        expect: int | None = 0,
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "invoice_pipeline", *args],
            input=stdin, capture_output=True, text=True, timeout=120,
            env=self.env,
        )  # fmt: skip
        self.scenario.outputs[label] = f"$ {' '.join(args)}\n{out.stdout}\n{out.stderr}"
        self.scenario.statuses[label] = out.returncode
        if expect is not None:
            assert out.returncode == expect, (label, out.stdout, out.stderr)
        return out


class Api:
    def __init__(self, scenario: Scenario, client: httpx.Client) -> None:
        self.scenario, self.client = scenario, client

    def call(
        self,
        label: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw: str | None = None,
        headers: dict[str, str] | None = None,
        expect: int | tuple[int, ...] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        content = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if content is not None:
            sent.setdefault("Content-Type", "application/json")
        response = self.client.request(method, path, content=content, headers=sent)
        shown = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        self.scenario.http[label] = (
            f"{method} {path} -> {response.status_code}\n{shown}\n\n{response.text}"
        )
        if expect is not None:
            allowed = expect if isinstance(expect, tuple) else (expect,)
            assert response.status_code in allowed, (label, response.status_code, response.text)
        return response

    def login(self, label: str, username: str, password: str) -> dict[str, Any]:
        body = {"username": username, "password": password}
        return self.call(label, "POST", "/api/auth/login/", body=body, expect=200).json()


class TransientFiles(threading.Thread):
    """Copies what short-lived files hold while the scenario runs: DuckDB and SQLite write-
    ahead logs and rollback journals, and hidden temporary files, all gone by the end. A file
    that only grew is kept once, at its largest; a rewritten one keeps each version."""

    PATTERNS = ("*.wal", "*-wal", "*-journal", ".*")

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.seen: dict[str, bytes] = {}
        self._current: dict[Path, bytes] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            self.capture()

    def capture(self) -> None:
        for pattern in self.PATTERNS:
            for path in self.root.rglob(pattern):
                with contextlib.suppress(OSError):  # a directory, or gone again meanwhile
                    self._keep(path, path.read_bytes())

    def _keep(self, path: Path, data: bytes) -> None:
        previous = self._current.get(path, b"")
        if not data or data == previous:
            return
        if previous and not data.startswith(previous):
            self._archive(path, previous)
        self._current[path] = data

    def _archive(self, path: Path, data: bytes) -> None:
        self.seen[f"{path.relative_to(self.root)} (version {len(self.seen)})"] = data

    def stop(self) -> dict[str, bytes]:
        self._done.set()
        self.join(timeout=10)
        self.capture()
        for path, data in self._current.items():
            self._archive(path, data)
        return self.seen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


_DAGSTER_DUMP = r"""
import json, sys
import dagster as dg
from dagster import serialize_value
from dagster._core.events import DagsterEventType

CHECK_EVALUATION = DagsterEventType.ASSET_CHECK_EVALUATION

def dump(instance):
    out = {"runs": [], "events": [], "materialization_metadata": [], "check_metadata": []}
    for record in instance.get_run_records():
        run = record.dagster_run
        out["runs"].append(serialize_value(run))
        for entry in instance.all_logs(run.run_id):
            out["events"].append(serialize_value(entry))
            event = entry.dagster_event
            if event is not None and event.is_step_materialization:
                metadata = event.event_specific_data.materialization.metadata
                out["materialization_metadata"].append({k: str(v.value) for k, v in
                                                        metadata.items()})
            elif event is not None and event.event_type == CHECK_EVALUATION:
                metadata = event.event_specific_data.metadata
                out["check_metadata"].append({k: str(v.value) for k, v in metadata.items()})
    return out

homes = {}
for home in sys.argv[1:]:
    with dg.DagsterInstance.from_config(home) as instance:
        homes[home] = dump(instance)
print(json.dumps(homes))
"""


def _dump_dagster(homes: list[Path], env: dict[str, str]) -> dict[str, dict[str, list[Any]]]:
    """Per Dagster home: every run, every event record, and the materialization and asset
    check metadata, read through ``DagsterInstance`` in a process of its own (an instance
    registers process-global state that the test session's instance must not share)."""
    out = subprocess.run(
        [sys.executable, "-c", _DAGSTER_DUMP, *map(str, homes)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _dump_tables(path: Path) -> str:
    """Every row of every table and view of a DuckDB file, as text."""
    lines: list[str] = []
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_name"
        ).fetchall()
        for (name,) in names:
            for row in con.execute(f'SELECT * FROM "{name}"').fetchall():
                lines.append(f"{name}: {row!r}")
    return "\n".join(lines)


def _decrypt_all(path: Path, key_file: Path) -> tuple[list[str], dict[str, str]]:
    """The stored tokens of a warehouse and the keys they decrypt to (with the key file)."""
    cipher = MultiFernet([Fernet(k.strip()) for k in key_file.read_text().split(",")])
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT company_id, source, api_key_encrypted FROM company_settings "
            "WHERE api_key_encrypted IS NOT NULL ORDER BY ALL"
        ).fetchall()
    keys = {f"company {c} {s}": cipher.decrypt(t.encode()).decode() for c, s, t in rows}
    return [t for _, _, t in rows], keys


# -- the scenario ------------------------------------------------------------------------


def _echoing_server(key: str) -> Any:
    """A Billingo that answers this key with a 403 quoting the key: the client must redact."""

    def hook(request: Request) -> Response | None:
        if request.headers.get("X-API-KEY") != key:
            return None
        body = {"error": {"message": f"API key {key} is not allowed here", "trace_id": key}}
        return Response(403, json.dumps(body).encode())

    return hook


_DROP = ("DAGSTER_HOME", "BILLINGO_BASE_URL", "BILLX_BASE_URL", "INVOICE_PIPELINE_SECRET_KEY",
         "INVOICE_PIPELINE_JWT_SECRET", "INVOICE_PIPELINE_DEBUG")  # fmt: skip


def _environment(
    root: Path, dagster_home: Path, billingo_url: str | None, billx_url: str | None
) -> dict[str, str]:
    """Everything under ``root``: the warehouse, the key file (not the variable: its mode is
    checked) and a persistent Dagster home, which writes run and event storage and compute
    logs to disk. The base URLs serve companies configured through the API (no base URL)."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        INVOICE_PIPELINE_DB=str(root / "warehouse.duckdb"),
        INVOICE_PIPELINE_SECRET_KEY_FILE=str(root / "secret.key"),
        INVOICE_PIPELINE_REQUESTS_PER_MINUTE="0",
        INVOICE_PIPELINE_HTTP_RETRIES="3",
        INVOICE_PIPELINE_HTTP_TIMEOUT_S="1",  # a "timeout" fault costs a second
    )
    if billingo_url and billx_url:
        env.update(BILLINGO_BASE_URL=billingo_url, BILLX_BASE_URL=billx_url)
    return env


def _configure(run: Runner, keys: Keys, billingo_url: str, billx_url: str) -> None:
    """Users and company settings through the CLI, two processes at a time (the writers take
    turns on the warehouse); the keys only ever on standard input."""
    admin, reader = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    run.passwords = {"leak-admin": admin, "leak-reader": reader}
    calls: dict[str, tuple[list[str], str | None, int]] = {
        "users add admin": (["users", "add", "--username", "leak-admin", "--company", "7",
                             "--role", "ADMIN", "--password-stdin"], admin, 0),
        "set without a name": (["settings", "set", "--company", "99", "--api-key-stdin"],
                               keys.billingo, 2),
    }  # fmt: skip
    for company, source, name, key in (
        (4, "billingo", f"Alfa {CANARY} Kft.", keys.billingo),
        (4, "billx", f"Alfa {CANARY} Kft.", keys.billx),
        (5, "billingo", "Béta Kft.", keys.wrong),
        (6, "billx", "Gamma Kft.", keys.retried),
        (8, "billingo", "Echo Kft.", keys.echoed),
    ):
        url = billx_url if source == "billx" else billingo_url
        args = ["settings", "set", "--company", str(company), "--name", name, "--source", source,
                "--api-key-stdin", "--base-url", url]  # fmt: skip
        calls[f"set {company} {source}"] = (args, key, 0)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(run.cli, label, *args, stdin=stdin + "\n", expect=expect)
            for label, (args, stdin, expect) in calls.items()
        ]
        for future in futures:
            future.result()
    # The reader only needs to exist (the CLI path of ``users add`` is the admin's).
    users.create_user(Warehouse(run.env["INVOICE_PIPELINE_DB"]), username="leak-reader",
                      password=reader, role="USER", company_id=7)  # fmt: skip


def _read_commands(run: Runner) -> None:
    """The read commands, on the companies whose syncs failed with the key in play too."""
    listed = run.cli("invoices list 4", "invoices", "list", "--company", "4", "--format", "json")
    first = json.loads(listed.stdout)["results"][0]["id"]
    for label, args in {
        "invoices show": ["invoices", "show", str(first), "--company", "4"],
        "settings list": ["settings", "list"],
        "settings list --json": ["settings", "list", "--json"],
        "sync-logs 5": ["sync-logs", "--company", "5", "--format", "json"],
        "sync-logs 8": ["sync-logs", "--company", "8", "--format", "csv"],
        "sync-logs 6": ["sync-logs", "--company", "6"],
    }.items():
        run.cli(label, *args)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "invoice_pipeline", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


def _run(s: Scenario, billingo: BillingoEmulator, billx: BillxEmulator) -> None:
    """The whole scenario; everything it prints, answers and writes lands in ``s``."""
    root, keys, (home, demo_home) = s.root, s.keys, s.dagster_homes
    env = _environment(root, home, billingo.base_url, billx.base_url)
    run = Runner(s, env)
    for key, docs, seed in ((keys.billingo, 60, 4), (keys.echoed, 5, 8), (keys.api, 40, 7),
                            (keys.api_new, 45, 7)):  # fmt: skip
        billingo.add_account(key, docs=docs, seed=seed)
    for key, invoices, seed in (
        (keys.billx, 20, 4),
        (keys.retried, 10, 6),
        (keys.api_billx, 10, 7),
    ):
        billx.add_account(key, invoices=invoices, seed=seed)
    billingo.before_request = _echoing_server(keys.echoed)
    billingo.script_faults(keys.billingo, ["html"])  # a 200 that is not JSON
    # Backoff doubles per retry but a 429 waits its Retry-After (1 s): the 429 goes last.
    billx.script_faults(keys.retried, ["timeout", "500", "429"])

    # The demo in the background all along: its own warehouse, key file and Dagster home.
    demo_env = _environment(root / "demo", demo_home, None, None)
    demo = _start(["demo"], demo_env, root / "demo.log")
    # The API server creates the key file (0600) and the JWT signing key.
    port = _free_port()
    server = _start(["serve", "--port", str(port)], env, root / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server, root / "server.log")
        s.key_file_modes.append(stat.S_IMODE((root / "secret.key").stat().st_mode))
        s.fernet_keys.append((root / "secret.key").read_text().strip())
        s.jwt_key = (root / "jwt.key").read_text().strip()
        _configure(run, keys, billingo.base_url, billx.base_url)

        out = run.cli("sync --json", "sync", "--json", expect=1)
        s.results["sync --json"] = json.loads(out.stdout)
        s.requests_seen["retried after the first sync"] = billx.request_count(keys.retried)
        s.requests_seen["billingo after the first sync"] = billingo.request_count(keys.billingo)

        # The read commands in the background while the API is called.
        with ThreadPoolExecutor(max_workers=1) as pool:
            reads = pool.submit(_read_commands, run)
            with httpx.Client(base_url=base, timeout=120) as client:
                _api_calls(Api(s, client), run, keys)
            reads.result()
        _stop(server)

        run.cli("secret-key rotate", "secret-key", "rotate")
        s.key_file_modes.append(stat.S_IMODE((root / "secret.key").stat().st_mode))
        s.fernet_keys.append((root / "secret.key").read_text().strip())
        # Every company again, on the table path (errors on stderr), with the rotated key.
        run.cli("sync (table) after rotation", "sync", expect=1)

        assert demo.wait(timeout=120) == 0, (root / "demo.log").read_text()
        s.key_file_modes.append(stat.S_IMODE((root / "demo" / "secret.key").stat().st_mode))
    finally:
        _stop(server)
        _stop(demo)
    s.outputs["demo"] = (root / "demo.log").read_text()
    s.outputs["server"] = (root / "server.log").read_text()
    for name, key in keys.named().items():
        emulator = billx if name in BILLX_KEYS else billingo
        s.requests_seen[name] = emulator.request_count(key)
    s.dagster = _dump_dagster(s.dagster_homes, env)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("leaks")
    homes = [root / "dagster_home", root / "demo" / "dagster_home"]
    for home in homes:
        home.mkdir(parents=True)
    s = Scenario(root=root, dagster_homes=homes, keys=Keys())
    watcher = TransientFiles(root)
    watcher.start()
    try:
        with BillingoEmulator(timeout_s=3.0) as billingo, BillxEmulator(timeout_s=3.0) as billx:
            _run(s, billingo, billx)
    finally:
        s.transient = watcher.stop()
    for path in sorted(root.rglob("*.duckdb")):
        if not path.is_symlink():
            s.tables[str(path.relative_to(root))] = _dump_tables(path)
    for db, key_file in (
        (root / "warehouse.duckdb", root / "secret.key"),
        (root / "demo" / "warehouse.duckdb", root / "demo" / "secret.key"),
    ):
        tokens, stored = _decrypt_all(db, key_file)
        s.stored_tokens += tokens
        s.stored_keys.update({f"{db.relative_to(root)} {k}": v for k, v in stored.items()})
    return s


def _api_calls(api: Api, run: Runner, keys: Keys) -> None:
    """Every endpoint, as company 7's admin (and a reader), with the error paths that carry
    a key in the request."""
    admin_pw, reader_pw = run.passwords["leak-admin"], run.passwords["leak-reader"]
    api.call("bad password", "POST", "/api/auth/login/",
             body={"username": "leak-admin", "password": keys.api}, expect=401)  # fmt: skip
    login = api.login("login", "leak-admin", admin_pw)
    token = login["access"]
    api.call("refresh", "POST", "/api/auth/refresh/", body={"refresh": login["refresh"]},
             expect=200)  # fmt: skip
    reader = api.login("login reader", "leak-reader", reader_pw)["access"]
    bg, bx = "/api/billingo-settings/", "/api/billx-settings/"
    key_body = {"api_key_input": keys.api, "is_active": True}

    api.call("settings list before", "GET", bg, token=token, expect=200)
    api.call("settings bad json", "POST", bg, token=token,
             raw='{"api_key_input": "' + keys.api + '", ', expect=400)  # fmt: skip
    api.call("settings extra field", "POST", bg, token=token,
             body={**key_body, "api_key": keys.api}, expect=400)  # fmt: skip
    api.call("settings wrong type", "POST", bg, token=token,
             body={"api_key_input": keys.api, "is_active": keys.api}, expect=400)  # fmt: skip
    api.call("settings key as list", "POST", bg, token=token,
             body={"api_key_input": [keys.api]}, expect=400)  # fmt: skip
    api.call("settings key too long", "POST", bg, token=token,
             body={"api_key_input": keys.api * 40}, expect=400)  # fmt: skip
    api.call("settings empty name", "POST", bg, token=token,
             body={**key_body, "company_name": " "}, expect=400)  # fmt: skip
    api.call("settings as reader", "POST", bg, token=reader, body=key_body, expect=403)
    api.call("settings key as token", "POST", bg, token=keys.api, body=key_body, expect=401)
    api.call("settings key header", "GET", bg, headers={"X-API-KEY": keys.api}, expect=401)
    api.call("settings put", "PUT", bg, token=token, body=key_body, expect=405)
    api.call("settings no name", "POST", bg, token=token, body=key_body, expect=400)
    api.call("settings create", "POST", bg, token=token,
             body={**key_body, "company_name": "Hetes Kft."}, expect=201)  # fmt: skip
    api.call("settings detail", "GET", bg + "7/", token=token)
    api.call("settings list", "GET", bg, token=token, expect=200)
    api.call("settings list as reader", "GET", bg, token=reader, expect=403)
    api.call("settings name mismatch", "POST", bg, token=token,
             body={**key_body, "company_name": "Másik Kft."})  # fmt: skip
    api.call("trigger billingo", "POST", bg + "trigger_sync/", token=token, body={}, expect=200)
    api.call("trigger with a key", "POST", bg + "trigger_sync/", token=token,
             body={"api_key_input": keys.api}, expect=400)  # fmt: skip
    api.call("settings update key", "POST", bg, token=token,
             body={"api_key_input": keys.api_new}, expect=200)  # fmt: skip
    api.call("settings update flag", "POST", bg, token=token, body={"is_active": True}, expect=200)
    api.call("trigger billingo again", "POST", bg + "trigger_sync/", token=token, body={},
             expect=200)  # fmt: skip
    api.call("billx settings", "POST", bx, token=token,
             body={"api_key_input": keys.api_billx, "is_active": True}, expect=201)  # fmt: skip
    api.call("trigger billx", "POST", bx + "trigger_sync/", token=token, body={}, expect=200)
    api.call("billx wrong key", "POST", bx, token=token,
             body={"api_key_input": keys.api_wrong}, expect=200)  # fmt: skip
    api.call("trigger billx rejected", "POST", bx + "trigger_sync/", token=token, body={},
             expect=400)  # fmt: skip
    for source in ("billingo", "billx"):
        listed = api.call(f"{source} invoices", "GET", f"/api/{source}-invoices/?page_size=5",
                          token=token, expect=200)  # fmt: skip
        first = listed.json()["results"][0]["id"]
        api.call(f"{source} invoice", "GET", f"/api/{source}-invoices/{first}/", token=token,
                 expect=200)  # fmt: skip
        api.call(f"{source} invoice missing", "GET", f"/api/{source}-invoices/99999999/",
                 token=token, expect=404)  # fmt: skip
        api.call(f"{source} invoices bad page", "GET", f"/api/{source}-invoices/?page=0",
                 token=token, expect=400)  # fmt: skip
        api.call(f"{source} sync logs", "GET", f"/api/{source}-sync-logs/", token=reader,
                 expect=200)  # fmt: skip
        api.call(f"{source} sync logs bad", "GET", f"/api/{source}-sync-logs/?status=X",
                 token=token, expect=400)  # fmt: skip
    api.call("openapi", "GET", "/openapi.json", expect=200)
    api.call("docs", "GET", "/docs", expect=200)
    api.call("no route", "GET", "/api/nothing/", token=token, expect=404)


# -- searching ---------------------------------------------------------------------------


def _b64_cores(data: bytes) -> set[str]:
    """What any base64 text containing ``data`` (at any of the three alignments) holds."""
    cores: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data + b"\0\0\0").decode()
        start = 4 if pad else 0
        end = 4 * ((pad + len(data)) // 3)
        core = encoded[start:end]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return {c for c in cores if len(c) >= 16}


def forms(secret: str) -> dict[str, str]:
    """The ways a key could be written down: raw, JSON-escaped, URL-encoded, base64, hex."""
    raw = secret.encode()
    found = {
        "raw": secret,
        "json": json.dumps(secret)[1:-1],
        "url": urllib.parse.quote(secret, safe=""),
        "url+": urllib.parse.quote_plus(secret),
        "hex": raw.hex(),
    }
    found.update({f"base64 {i}": core for i, core in enumerate(sorted(_b64_cores(raw)))})
    return found


def _all_secrets(s: Scenario) -> dict[str, str]:
    named = {f"key {name}": key for name, key in s.keys.named().items()}
    named.update({f"stored {where}": key for where, key in s.stored_keys.items()})
    # The public BillX test-mode key (the demo's company 9) is published, not a secret.
    return {name: key for name, key in named.items() if key != TEST_KEY}


def _leaks(haystacks: dict[str, str | bytes], secrets_: dict[str, str]) -> list[str]:
    found = []
    for where, hay in haystacks.items():
        text = hay.decode("latin-1") if isinstance(hay, bytes) else hay
        for name, secret in secrets_.items():
            for form, needle in forms(secret).items():
                at = text.find(needle)
                if at >= 0:
                    found.append(f"{name} ({form}) in {where}: ...{text[max(0, at - 80) : at]}")
    return found


# -- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_the_search_finds_every_form_of_a_key(offset: int) -> None:
    key = _key("probe") + "\\q"  # a backslash: JSON (and repr) escape it
    text = "x" * offset + key + "y" * 5
    haystacks: dict[str, str | bytes] = {
        "raw": f"error: {text}",
        "json": json.dumps({"e": text}),
        "url": "GET /?k=" + urllib.parse.quote(text, safe=""),
        "url+": "k=" + urllib.parse.quote_plus(text),
        "base64": base64.b64encode(text.encode()),
        "urlsafe base64": base64.urlsafe_b64encode(text.encode()).decode(),
        "hex": text.encode().hex().encode(),
    }
    found = _leaks(haystacks, {"probe": key})
    assert {f.split(" in ")[1].split(":")[0] for f in found} == set(haystacks)
    leaks = _leaks(haystacks, {"other": _key("probe")})
    assert not leaks, "\n".join(leaks)


def test_the_scenario_really_used_every_key_retried_and_was_rejected(scenario: Scenario) -> None:
    """What makes the searches meaningful: every key reached its emulator, the retries and
    the rejections happened and were reported, and each haystack holds what was written."""
    s, keys = scenario, scenario.keys
    for name, count in s.requests_seen.items():
        assert count > 0, f"the emulator never saw the {name} key"
    results = {(r["company_id"], r["source"]): r for r in s.results["sync --json"]}
    assert set(results) == {(4, "billingo"), (4, "billx"), (5, "billingo"), (6, "billx"),
                            (8, "billingo")}  # fmt: skip
    assert results[(4, "billingo")]["status"] == results[(4, "billx")]["status"] == "COMPLETED"
    # The retries happened, each logged where the search looks, and the client counted every
    # attempt that the emulator saw.
    for retry in (
        r"billingo malformed response on .* for company 4, retry 1/3",
        r"billx timeout on .* for company 6, retry 1/3",
        r"billx 500 on .* for company 6, retry 2/3",
        r"billx 429 on .* for company 6, retry 3/3",
    ):
        assert re.search(retry, s.outputs["sync --json"], re.IGNORECASE), retry
    assert results[(6, "billx")]["status"] == "COMPLETED"
    assert results[(6, "billx")]["api_calls"] == s.requests_seen["retried after the first sync"]
    assert results[(4, "billingo")]["api_calls"] == s.requests_seen["billingo after the first sync"]
    # The 401 and the echoing server: the errors name the company, the echo is redacted.
    assert results[(5, "billingo")]["status"] == "FAILED"
    assert "rejected the API key for company 5" in results[(5, "billingo")]["errors"][-1]["error"]
    echoed = results[(8, "billingo")]["errors"][-1]["error"]
    assert "company 8" in echoed and "API key *** is not allowed" in echoed
    assert "API key *** is not allowed" in s.outputs["sync-logs 8"]  # the CSV of the sync log
    table = s.outputs["sync (table) after rotation"]
    assert "rejected the API key for company 5" in table and "API key *** is not" in table
    assert "rejected the API key for company 7" in s.http["trigger billx rejected"]
    assert "company_name" in s.http["settings no name"]
    assert "not valid JSON" in s.http["settings bad json"]
    assert s.statuses["set without a name"] == 2
    # After the rotation every stored key still decrypts: companies 4 and 6 sync again.
    for company, source in ((4, "billingo"), (4, "billx"), (6, "billx")):
        assert re.search(rf"^{company}\s+{source}\b.*\bCOMPLETED\b", table, re.MULTILINE), table
    # Each kind of haystack holds what the scenario wrote, so an absent key means something.
    assert '"has_api_key":true' in s.http["settings create"]
    assert all(f"Alfa {CANARY} Kft.".encode() in p.read_bytes() for p in _warehouses(s))
    assert any("rejected the API key for company 5" in t for t in s.tables.values())
    for home, dump in s.dagster.items():
        assert len(dump["runs"]) >= 2 and dump["events"], home
        assert dump["materialization_metadata"] and dump["check_metadata"], home
    ours = json.dumps(s.dagster[str(s.dagster_homes[0])])  # where errors would carry a key
    assert "billingo_status" in ours and "FAILED" in ours
    assert "rejected the API key for company 5" in ours and "API key *** is not" in ours
    assert len(s.stored_keys) == 7 + 4  # ours and the demo's, decrypted from both warehouses
    assert {keys.billingo, keys.api_new, keys.api_wrong} <= set(s.stored_keys.values())


def _warehouses(s: Scenario) -> list[Path]:
    return [p for p in s.root.glob("*.duckdb") if not p.is_symlink()]


def test_no_key_in_any_process_output(scenario: Scenario) -> None:
    assert {"sync --json", "sync (table) after rotation", "secret-key rotate", "server", "demo",
            "settings list", "invoices show", "sync-logs 8"} <= set(scenario.outputs)  # fmt: skip
    leaks = _leaks(dict(scenario.outputs), _all_secrets(scenario))
    assert not leaks, "\n".join(leaks)


def test_no_key_in_any_http_response_body_or_header(scenario: Scenario) -> None:
    assert len(scenario.http) > 40
    leaks = _leaks(dict(scenario.http), _all_secrets(scenario))
    assert not leaks, "\n".join(leaks)


def test_no_key_in_the_bytes_of_any_file_the_pipeline_wrote(scenario: Scenario) -> None:
    files: dict[str, str | bytes] = {
        str(p.relative_to(scenario.root)): p.read_bytes()
        for p in sorted(scenario.root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    names = set(files)
    assert {"warehouse.duckdb", "secret.key", "jwt.key", "server.log"} <= names
    assert any(".read." in n for n in names), names  # the read snapshots
    assert any(n.startswith("dagster_home/history/runs/") for n in names), names  # event logs
    assert any("compute_logs" in n for n in names), names
    leaks = _leaks(files, _all_secrets(scenario))
    assert not leaks, "\n".join(leaks)
    leaks = _leaks(dict(scenario.transient), _all_secrets(scenario))
    assert not leaks, "\n".join(leaks)


def test_the_encryption_and_signing_keys_stay_in_their_own_files(scenario: Scenario) -> None:
    keys = {f"fernet key {i}": k for i, k in enumerate(scenario.fernet_keys)}
    keys["jwt signing key"] = scenario.jwt_key
    haystacks: dict[str, str | bytes] = {**scenario.outputs, **scenario.http, **scenario.tables}
    for path in scenario.root.rglob("*"):
        if path.is_file() and path.name not in ("secret.key", "jwt.key"):
            haystacks[str(path.relative_to(scenario.root))] = path.read_bytes()
    leaks = _leaks(haystacks, keys)
    assert not leaks, "\n".join(leaks)


def test_no_key_in_any_table_of_any_duckdb_file(scenario: Scenario) -> None:
    assert "warehouse.duckdb" in scenario.tables and len(scenario.tables) >= 3
    leaks = _leaks(dict(scenario.tables), _all_secrets(scenario))
    assert not leaks, "\n".join(leaks)


def test_no_key_in_the_dagster_event_log_or_metadata(scenario: Scenario) -> None:
    haystacks: dict[str, str | bytes] = {}
    for home, dump in scenario.dagster.items():
        for part, values in dump.items():  # serialized records as they are, metadata as JSON
            haystacks[f"{home} {part}"] = "\n".join(
                v if isinstance(v, str) else json.dumps(v) for v in values
            )
    leaks = _leaks(haystacks, _all_secrets(scenario))
    assert not leaks, "\n".join(leaks)


def test_stored_keys_are_fernet_tokens_and_key_files_are_private(scenario: Scenario) -> None:
    assert scenario.stored_tokens and all(t.startswith("gAAAA") for t in scenario.stored_tokens)
    assert scenario.key_file_modes == [0o600, 0o600, 0o600]
    assert len(set(scenario.fernet_keys)) == 2  # rotation replaced the key
    assert (scenario.root / "jwt.key").stat().st_mode & 0o777 == 0o600
