"""BillX API v1.0 emulator: a real HTTP server on 127.0.0.1 with one account per API key.

Routes (all under ``/api/billx``, all need ``Authorization: Bearer <key>``):
``GET|POST /customers``, ``GET|POST /products``, ``GET|POST /invoices`` (lists paged with
``page``/``per_page`` in ``{"data", "meta": {"total", "page", "per_page"}}``, invoices newest
first) and ``GET /invoices/{id}`` (the detail with items). The public test key
``test_billx_api_key_demo_12345678`` always exists: mock data, and POSTs that validate and
compute but store nothing (``"test_mode": true``). Misbehaviour comes from ``knobs``.

Order of checks per request: count it, sleep ``latency_ms``, authenticate (401), rate limit
(429, does not consume a scripted fault), then the next scripted fault of that key or of any
key, else a seeded random fault on GETs of the data routes, then the route itself.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from types import TracebackType
from typing import Any

from invoice_pipeline.emulators.billingo_http import rate_headers
from invoice_pipeline.emulators.billx_account import BillxAccount
from invoice_pipeline.emulators.billx_http import (
    BAD_JSON,
    NOT_FOUND,
    UNAUTHENTICATED,
    fault_response,
    invalid,
    not_allowed,
    parse_paging,
    too_many,
)
from invoice_pipeline.emulators.billx_json import loads
from invoice_pipeline.emulators.knobs import RETRY_AFTER_MODES, FaultInjector, RateLimiter, sleep_ms
from invoice_pipeline.emulators.server import (
    HttpEmulatorServer,
    Request,
    Response,
    wait_for_stop_signal,
)

PREFIX = "/api/billx"
TEST_KEY = "test_billx_api_key_demo_12345678"
TEST_SEED = 12345678
TEST_INVOICES = 60
LISTS = ("/customers", "/products", "/invoices")
_READ = ("GET", "HEAD")
_LIST_METHODS = ("GET", "HEAD", "POST")


def bearer_token(value: str | None) -> str | None:
    scheme, _, token = (value or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class BillxEmulator:
    """BillX on ``127.0.0.1``: accounts by API key (plus the public test key), knobs for
    latency, rate limiting and faults, and the changes a test makes between two syncs.

    ``today`` is the emulator's date: generated invoice dates end there, POSTed invoices are
    dated on it (its year picks the series counter), and unpaid invoices whose due date lies
    before it are served as ``overdue``. ``timeout_s`` is how long a ``"timeout"`` fault holds
    its answer back.
    """

    def __init__(
        self,
        latency_ms: float = 0,
        rate_limit: int | None = None,
        rate_limit_window_s: float = 60.0,
        retry_after: str = "seconds",
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        today: date | None = None,
        port: int = 0,
        timeout_s: float = 5.0,
        host: str = "127.0.0.1",
    ) -> None:
        if retry_after not in RETRY_AFTER_MODES:
            raise ValueError(f"retry_after must be one of {RETRY_AFTER_MODES}")
        self.latency_ms = latency_ms
        self.retry_after = retry_after
        self.timeout_s = timeout_s
        self._today = today or date.today()
        self._limiter = RateLimiter(rate_limit, rate_limit_window_s)
        self._faults = FaultInjector(fault_rate, fault_seed)
        self._accounts: dict[str, BillxAccount] = {}
        self.add_account(TEST_KEY, TEST_INVOICES, TEST_SEED)
        self._counts: Counter[str | None] = Counter()
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = HttpEmulatorServer(self._handle, host=host, port=port)
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> BillxEmulator:
        self._stopping.clear()
        self._server.start()
        self._port = self._server.port
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends "timeout" fault sleeps at once
        self._server.stop()

    def __enter__(self) -> BillxEmulator:
        return self if self._server.running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the emulator has not been started")
        return f"http://{self._server.host}:{self._port}{PREFIX}"

    # -- accounts and test controls --------------------------------------------------------

    @property
    def today(self) -> date:
        return self._today

    @today.setter
    def today(self, value: date) -> None:
        """Like days passing: open invoices turn overdue, new invoices take the new date."""
        self._today = value
        for account in self._accounts.values():
            account.set_today(value)

    def add_account(self, api_key: str, invoices: int, seed: int) -> None:
        """(Re)create the account of ``api_key`` with ``invoices`` generated invoices; the test
        key stays in test mode even when re-created."""
        if invoices < 0:
            raise ValueError("invoices must be >= 0")
        test_mode = api_key == TEST_KEY
        self._accounts[api_key] = BillxAccount(invoices, seed, self._today, test_mode)

    def _account(self, api_key: str) -> BillxAccount:
        try:
            return self._accounts[api_key]
        except KeyError:
            raise KeyError("no account with that API key") from None

    def invoices(self, api_key: str) -> list[dict[str, Any]]:
        """The current invoices in the detail shape, newest first, parsed like ``json.loads``."""
        return self._account(api_key).invoices()

    def customers(self, api_key: str) -> list[dict[str, Any]]:
        return self._account(api_key).customers()

    def products(self, api_key: str) -> list[dict[str, Any]]:
        return self._account(api_key).products()

    def request_count(self, api_key: str | None = None) -> int:
        with self._count_lock:
            return self._counts[api_key] if api_key is not None else self._counts.total()

    def pay(self, api_key: str, invoice_id: int, paid_date: date | None = None) -> dict[str, Any]:
        """Status ``paid``, ``paid_date`` today (or the given day); the new detail."""
        return self._account(api_key).pay(invoice_id, paid_date)

    def cancel(self, api_key: str, invoice_id: int) -> dict[str, Any]:
        return self._account(api_key).cancel(invoice_id)

    def add_invoice(self, api_key: str, **overrides: Any) -> dict[str, Any]:
        """A new deterministic invoice dated today, the newest; overrides patch its detail."""
        return self._account(api_key).add_invoice(**overrides)

    def replace_invoice(self, api_key: str, invoice_id: int, invoice: Any, **kw: Any) -> None:
        """Serve ``invoice`` (any JSON value, or ``bytes`` verbatim) raw as the detail and,
        derived from it, as the list entry; ``summary=`` sets the list entry instead."""
        self._account(api_key).replace_invoice(invoice_id, invoice, **kw)

    def script_faults(self, api_key: str | None, faults: list[str]) -> None:
        self._faults.script(api_key, faults)

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        key = bearer_token(request.headers.get("Authorization"))
        with self._count_lock:
            self._counts[key] += 1
        sleep_ms(self.latency_ms)
        account = self._accounts.get(key) if key is not None else None
        if key is None or account is None:
            return Response(401, UNAUTHENTICATED)
        decision = self._limiter.check(key)
        headers = rate_headers(decision)
        if decision is not None and not decision.allowed:
            return too_many(self.retry_after, headers)
        path = request.path.rstrip("/")
        fault = self._faults.next_scripted(key)
        if fault is None and request.method in _READ and path.startswith(PREFIX + "/"):
            fault = self._faults.next_random(key, request.target)
        if fault is not None:
            replaced = fault_response(fault, self.retry_after, headers)
            if replaced is not None:
                return replaced
        response = self._route(request, path, account)
        response.headers.extend(headers)
        if fault == "timeout":
            self._stopping.wait(self.timeout_s)  # stop() cuts it short
        elif fault == "truncated":
            response.mode = "truncated"
        return response

    def _route(self, request: Request, path: str, account: BillxAccount) -> Response:
        route = path.removeprefix(PREFIX) if path.startswith(PREFIX + "/") else ""
        method = request.method
        if route in LISTS:
            if method in _READ:
                paging = parse_paging(request.query)
                if isinstance(paging, dict):
                    return invalid(paging)
                return Response(200, account.page(route[1:], *paging))
            if method == "POST":
                return self._create(request, route, account)
            return not_allowed(method, path.lstrip("/"), _LIST_METHODS)
        if route.startswith("/invoices/"):
            invoice_id = route.removeprefix("/invoices/")
            body = account.invoice_body(int(invoice_id)) if invoice_id.isdigit() else None
            if body is None:
                return Response(404, NOT_FOUND)
            if method not in _READ:
                return not_allowed(method, path.lstrip("/"), _READ)
            return Response(200, body)
        return Response(404, NOT_FOUND)

    def _create(self, request: Request, route: str, account: BillxAccount) -> Response:
        try:
            payload = loads(request.body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
            payload = None
        if not isinstance(payload, dict):
            return Response(400, BAD_JSON)
        if route == "/customers":
            created, errors = account.create_customer(payload)
        elif route == "/products":
            created, errors = account.create_product(payload)
        else:
            created, errors = account.create_invoice(payload)
        return invalid(errors) if errors else Response(201, created)


def serve_billx(
    port: int,
    invoices: int,
    seed: int,
    *,
    api_key: str,
    latency_ms: int = 0,
    rate_limit: int | None = None,
) -> None:
    """Serve one account and the public test account until SIGINT/SIGTERM (blocking). The
    account's key is never printed; the public test key is."""
    emulator = BillxEmulator(latency_ms=latency_ms, rate_limit=rate_limit, port=port)
    emulator.add_account(api_key, invoices, seed)
    emulator.start()
    print(
        f"BillX emulator on {emulator.base_url} ({invoices} invoices, key from --api-key; "
        f"test mode key {TEST_KEY})",
        flush=True,
    )
    try:
        wait_for_stop_signal()
    finally:
        emulator.stop()
