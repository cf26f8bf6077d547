"""Billingo API v3 emulator: a real HTTP server on 127.0.0.1 with one account per API key.

Routes (all under ``/v3``, all need ``X-API-KEY``): ``GET /documents`` (paged, newest first;
filters ``start_date``/``end_date``, ``paid_start_date``/``paid_end_date``,
``last_modified_date``, ``payment_status``, ``type``, ``block_id``, ``partner_id``,
``payment_method``), ``GET /documents/{id}``, ``GET /partners``, ``GET /utils/time``. Bodies follow
the spec's shapes (``DocumentList``, ``ClientErrorResponse``, ``ValidationErrorResponse``,
``ServerErrorResponse``, ``TooManyRequestsResponse``). Misbehaviour comes from ``knobs``.

Order of checks per request: count it, sleep ``latency_ms``, authenticate (401), the
``before_request`` hook (a test's own misbehaviour), rate limit (429, does not consume a
scripted fault), then the next scripted fault of that key or of any key, else a seeded random
fault on ``/documents`` routes, then the route itself.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from types import FrameType, TracebackType
from typing import Any

from invoice_pipeline.emulators.billingo_account import BillingoAccount
from invoice_pipeline.emulators.billingo_clock import server_now
from invoice_pipeline.emulators.billingo_http import (
    DOCUMENT_NOT_FOUND,
    NO_ROUTE,
    NOT_ALLOWED,
    UNAUTHORIZED,
    fault_response,
    invalid,
    page_body,
    rate_headers,
    server_time,
    too_many,
)
from invoice_pipeline.emulators.billingo_json import encode
from invoice_pipeline.emulators.billingo_query import ListQuery, parse_list_query
from invoice_pipeline.emulators.knobs import (
    RETRY_AFTER_MODES,
    FaultInjector,
    RateLimiter,
    sleep_ms,
)
from invoice_pipeline.emulators.server import HttpEmulatorServer, Request, Response


class BillingoEmulator:
    """Billingo v3 on ``127.0.0.1``: accounts by API key, knobs for latency, rate limiting and
    faults, and the changes a test makes between two syncs (``pay``, ``cancel``, ...).

    ``today`` is the emulator's date: invoice dates end there and unpaid documents show it as
    ``paid_date``. ``timeout_s`` is how long a ``"timeout"`` fault holds its answer back.

    ``before_request``, when set, sees every authenticated request (``request.headers``
    holds the key) before the rate limit and faults: it may change the account in the
    middle of a crawl (``add_document``, ``replace_document``), script faults for this very
    request, hold it back, or return a ``Response`` that is served instead.
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
        self._today_fixed = today is not None
        self._limiter = RateLimiter(rate_limit, rate_limit_window_s)
        self._faults = FaultInjector(fault_rate, fault_seed)
        self._accounts: dict[str, BillingoAccount] = {}
        self._counts: Counter[str | None] = Counter()
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = HttpEmulatorServer(self._handle, host=host, port=port)
        self._port: int | None = None
        self.before_request: Callable[[Request], Response | None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> BillingoEmulator:
        self._stopping.clear()
        self._server.start()
        self._port = self._server.port
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends "timeout" fault sleeps at once
        self._server.stop()

    def __enter__(self) -> BillingoEmulator:
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
        return f"http://{self._server.host}:{self._port}/v3"

    # -- accounts and test controls --------------------------------------------------------

    @property
    def today(self) -> date:
        return self._today

    @today.setter
    def today(self, value: date) -> None:
        """Setting it moves the served ``paid_date`` of unpaid documents, like a day passing."""
        self._today, self._today_fixed = value, True
        for account in self._accounts.values():
            account.set_today(value)

    def add_account(self, api_key: str, docs: int, seed: int) -> None:
        if docs < 0:
            raise ValueError("docs must be >= 0")
        self._accounts[api_key] = BillingoAccount(docs, seed, self._today, self.clock)

    def clock(self) -> int:
        """The server's clock in epoch seconds (what ``/utils/time`` reports as ``epoch``)."""
        return int(server_now(self._today if self._today_fixed else None).timestamp())

    def _account(self, api_key: str) -> BillingoAccount:
        try:
            return self._accounts[api_key]
        except KeyError:
            raise KeyError("no account with that API key") from None

    def documents(self, api_key: str) -> list[dict[str, Any]]:
        return self._account(api_key).documents()

    def request_count(self, api_key: str | None = None) -> int:
        with self._count_lock:
            return self._counts[api_key] if api_key is not None else self._counts.total()

    def pay(
        self, api_key: str, doc_id: int, paid_date: date | None = None, touch: bool = True
    ) -> dict[str, Any]:
        """Mark ``doc_id`` paid on ``paid_date`` (today); stamped as modified unless
        ``touch=False`` (a payment ``last_modified_date`` misses)."""
        return self._account(api_key).pay(doc_id, paid_date, touch=touch)

    def cancel(self, api_key: str, doc_id: int, touch: bool = True) -> dict[str, Any]:
        """Cancel ``doc_id``: ``cancelled`` flips on it and a new cancellation document
        appears (both stamped as modified, the original not with ``touch=False``)."""
        return self._account(api_key).cancel(doc_id, touch=touch)

    def add_document(self, api_key: str, touch: bool = True, **overrides: Any) -> dict[str, Any]:
        """A new document dated today; ``touch=False``: one ``last_modified_date`` misses."""
        return self._account(api_key).add_document(touch=touch, **overrides)

    def replace_document(self, api_key: str, doc_id: int, raw: Any) -> None:
        """Serve ``raw`` in the place of document ``doc_id``: any JSON value, or ``bytes``
        served verbatim (not even checked to be JSON or UTF-8)."""
        self._account(api_key).replace_document(doc_id, raw)

    def update_document(
        self, api_key: str, doc_id: int, touch: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Change fields of a document (``payment_status="expired"``, ...), stamped with the
        clock as modified unless ``touch=False`` (a change ``last_modified_date`` misses)."""
        return self._account(api_key).update_document(doc_id, fields, touch=touch)

    def delete_document(self, api_key: str, doc_id: int) -> None:
        """Remove a document from the account (Billingo lets drafts and proformas go)."""
        self._account(api_key).delete_document(doc_id)

    def modified_at(self, api_key: str, doc_id: int) -> int:
        """The document's modification time in epoch seconds (what the filter compares)."""
        return self._account(api_key).modified_at(doc_id)

    def reorder_documents(self, api_key: str, doc_ids: list[int]) -> None:
        """Serve the same documents in another order: ``doc_ids`` (every id once) newest first."""
        self._account(api_key).reorder(doc_ids)

    def script_faults(self, api_key: str | None, faults: list[str]) -> None:
        self._faults.script(api_key, faults)

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        key = request.headers.get("X-API-KEY")
        with self._count_lock:
            self._counts[key] += 1
        sleep_ms(self.latency_ms)
        account = self._accounts.get(key) if key is not None else None
        if key is None or account is None:
            return Response(401, UNAUTHORIZED)
        hook = self.before_request
        if hook is not None:
            replaced = hook(request)
            if replaced is not None:
                return replaced
        decision = self._limiter.check(key)
        headers = rate_headers(decision)
        if decision is not None and not decision.allowed:
            return too_many(self.retry_after, headers)
        path = request.path.rstrip("/")
        fault = self._faults.next_scripted(key)
        if fault is None and path.startswith("/v3/documents"):
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

    def _route(self, request: Request, path: str, account: BillingoAccount) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, NOT_ALLOWED, headers=[("Allow", "GET")])
        if path == "/v3/documents":
            return self._list(request, account, documents=True)
        if path.startswith("/v3/documents/"):
            doc_id = path.removeprefix("/v3/documents/")
            body = account.document_body(int(doc_id)) if doc_id.isdigit() else None
            return Response(200, body) if body is not None else Response(404, DOCUMENT_NOT_FOUND)
        if path == "/v3/partners":
            return self._list(request, account, documents=False)
        if path == "/v3/utils/time":
            return Response(200, encode(server_time(self._today if self._today_fixed else None)))
        return Response(404, NO_ROUTE)

    def _list(self, request: Request, account: BillingoAccount, documents: bool) -> Response:
        query = parse_list_query(request.query, with_filters=documents)
        if not isinstance(query, ListQuery):
            return invalid(query)
        if documents:
            chunk, total = account.document_chunk(query.filters, query.per_page, query.page)
        else:
            chunk, total = account.partner_chunk(query.per_page, query.page)
        return Response(200, page_body(chunk, total, query, request, self.base_url))


def serve_billingo(
    port: int,
    docs: int,
    seed: int,
    *,
    api_key: str,
    latency_ms: int = 0,
    rate_limit: int | None = None,
) -> None:
    """Serve one account until SIGINT/SIGTERM (blocking). The key is never printed."""
    emulator = BillingoEmulator(latency_ms=latency_ms, rate_limit=rate_limit, port=port)
    emulator.add_account(api_key, docs, seed)
    emulator.start()
    print(
        f"Billingo emulator on {emulator.base_url} ({docs} documents, key from --api-key)",
        flush=True,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        emulator.stop()
