"""ApiClient and RetryPolicy against a real, scripted local HTTP server (no httpx mocking)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import pickle
import secrets
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from invoice_pipeline.http import (
    ApiClient,
    ApiError,
    AuthError,
    ClientError,
    MalformedResponseError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    SubscriptionError,
    TransportError,
)
from invoice_pipeline.http.client import extract_server_message
from invoice_pipeline.http.lookahead import WORKER_NICENESS, Lookahead
from invoice_pipeline.http.policy import parse_retry_after

# --------------------------------------------------------------------------- scripted server


@dataclass
class Reply:
    """One scripted answer: a response, or a misbehaving connection."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    action: str = "reply"  # "reply" | "reset" (TCP RST) | "truncate" (close mid-body)


def js(obj: Any, status: int = 200, **headers: str) -> Reply:
    hdrs = {
        "Content-Type": "application/json",
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }
    return Reply(status, json.dumps(obj).encode(), hdrs)


def html(text: str, status: int = 200) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/html"})


RESET = Reply(action="reset")
OK = js({"ok": True})


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


class ScriptedServer:
    """ThreadingHTTPServer on 127.0.0.1:0 answering requests with ``script`` in order."""

    def __init__(self, script: list[Reply]) -> None:
        self.script = list(script)
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                reply = owner._next(self)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    owner._send(self, reply)
                except OSError:
                    self.close_connection = True  # the client gave up (timeout test)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v3"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _next(self, handler: BaseHTTPRequestHandler) -> Reply:
        parts = urlsplit(handler.path)
        with self._lock:
            self.requests.append(
                Seen(
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    dict(handler.headers),
                    time.monotonic(),
                )
            )
            if self.script:
                return self.script.pop(0)
        return js({"error": {"message": "script exhausted"}}, 418)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        conn = handler.connection
        if reply.action == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            conn.close()
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.action == "truncate":
            handler.send_header("Content-Length", str(len(reply.body) + 100))
            handler.end_headers()
            handler.wfile.write(reply.body)
            handler.wfile.flush()
            handler.close_connection = True
            conn.shutdown(socket.SHUT_RDWR)
            return
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ScriptedServer] = []

    def start(*script: Reply) -> ScriptedServer:
        server = ScriptedServer(list(script)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


FAST = RetryPolicy(
    retries=3,
    requests_per_minute=None,
    backoff_base_s=0.001,
    jitter_s=0.0,
    max_wait_s=0.3,
    timeout_s=2.0,
)
KEY = "test-key-" + secrets.token_hex(16)


def client_for(
    server: ScriptedServer | str,
    policy: RetryPolicy = FAST,
    key: str = KEY,
    pacing_key: str | None = None,
) -> ApiClient:
    return ApiClient(
        source="Billingo",
        company_id=4,
        base_url=server if isinstance(server, str) else server.url,
        headers={"X-API-KEY": key, "Accept": "application/json"},
        pacing_key=pacing_key or uuid.uuid4().hex,
        policy=policy,
    )


def fail(client: ApiClient, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        client.get(*args, **kwargs)
    return info.value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- success


def test_success_sends_path_params_and_auth_header(serve: Any) -> None:
    server = serve(js({"data": [1], "current_page": 3}))
    with client_for(server) as client:
        body = client.get("/documents", {"page": 3, "per_page": 100})
    assert body == {"data": [1], "current_page": 3}
    assert client.api_calls == 1
    [seen] = server.requests
    assert seen.path == "/v3/documents"
    assert seen.query == {"page": "3", "per_page": "100"}
    assert seen.headers["X-API-KEY"] == KEY


def test_202_is_a_success_and_custom_parse_is_used(serve: Any) -> None:
    server = serve(js({"message": "not ready"}, 202))
    with client_for(server) as client:
        assert client.get("/documents/1/download", parse=len) == len(b'{"message": "not ready"}')


# --------------------------------------------------------------------------- 429


def test_429_retry_after_seconds_is_honoured_up_to_max_wait(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(js({"error": {"message": "Too many requests"}}, 429, Retry_After="1"), OK)
    caplog.set_level(logging.WARNING, logger="invoice_pipeline.http")
    with client_for(server) as client:
        started = time.monotonic()
        assert client.get("/documents", {"page": 3}) == {"ok": True}
        elapsed = time.monotonic() - started
    assert 0.29 <= elapsed < 0.9  # Retry-After 1 s capped at max_wait_s 0.3; backoff is 1 ms
    assert client.api_calls == 2
    assert caplog.messages == [
        "Billingo 429 on /documents page=3 for company 4, retry 1/3 in 0.3 s"
    ]
    assert caplog.records[0].levelno == logging.WARNING


def test_429_retry_after_http_date_is_honoured(serve: Any) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server = serve(js({"error": {"message": "Too many requests"}}, 429, Retry_After=when), OK)
    with client_for(server) as client:
        started = time.monotonic()
        client.get("/documents")
        assert 0.29 <= time.monotonic() - started < 0.9
        assert client.api_calls == 2


def test_429_without_retry_after_backs_off_exponentially(serve: Any) -> None:
    too_many = js({"error": {"message": "Too many requests"}}, 429)
    server = serve(too_many, too_many, too_many, OK)
    policy = replace(FAST, backoff_base_s=0.05)
    with client_for(server, policy) as client:
        started = time.monotonic()
        client.get("/documents")
        elapsed = time.monotonic() - started
    assert elapsed >= 0.05 + 0.1 + 0.2 - 0.005
    assert client.api_calls == 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(server.requests)]
    assert gaps[0] < gaps[1] < gaps[2]


def test_429_exhausted_raises_rate_limited(serve: Any) -> None:
    too_many = js({"error": {"message": "Too many requests"}}, 429, Retry_After="0")
    server = serve(too_many, too_many, too_many)
    with client_for(server, replace(FAST, retries=2)) as client:
        error = fail(client, "/documents")
    assert isinstance(error, RateLimitedError)
    assert str(error) == "Billingo kept rate-limiting company 4 after 2 retries"
    assert error.status == 429
    assert client.api_calls == 3


# --------------------------------------------------------------------------- 5xx


def test_500_then_success(serve: Any) -> None:
    server = serve(js({"error": {"message": "boom", "trace_id": "t1"}}, 500), OK)
    with client_for(server) as client:
        assert client.get("/documents") == {"ok": True}
        assert client.api_calls == 2


def test_persistent_500_raises_server_error_with_trace_id(serve: Any) -> None:
    boom = js({"error": {"message": "Internal failure", "trace_id": "abc-123"}}, 500)
    server = serve(boom, boom, boom, boom)
    with client_for(server) as client:
        error = fail(client, "/documents")
    assert isinstance(error, ServerError)
    assert (
        str(error) == "Billingo server error 500 for company 4: Internal failure (trace id abc-123)"
    )
    assert (error.status, error.trace_id, error.server_message) == (
        500,
        "abc-123",
        "Internal failure",
    )
    assert client.api_calls == 4
    assert len(server.requests) == 4


def test_server_error_without_trace_id_has_no_parenthesis(serve: Any) -> None:
    page = "<html>\n<body><h1>502 Bad Gateway</h1>\n</body></html>"
    server = serve(html(page, 502))
    with client_for(server, replace(FAST, retries=0)) as client:
        error = fail(client, "/documents")
    assert str(error) == (
        "Billingo server error 502 for company 4: "
        "<html> <body><h1>502 Bad Gateway</h1> </body></html>"
    )
    assert error.trace_id is None


# --------------------------------------------------------------------------- transport


def test_timeout_then_success(serve: Any) -> None:
    server = serve(Reply(body=b"{}", delay_s=0.5), OK)
    with client_for(server, replace(FAST, timeout_s=0.1)) as client:
        assert client.get("/documents") == {"ok": True}
        assert client.api_calls == 2


def test_persistent_timeout_raises_transport_error(serve: Any) -> None:
    slow = Reply(body=b"{}", delay_s=0.4)
    server = serve(slow, slow)
    policy = replace(FAST, timeout_s=0.1, retries=1)
    with client_for(server, policy) as client:
        error = fail(client, "/documents")
    assert isinstance(error, TransportError)
    assert str(error) == "could not reach Billingo for company 4: read timed out after 0.1 s"
    assert error.status is None
    assert client.api_calls == 2


def test_connection_reset_then_success(serve: Any) -> None:
    server = serve(RESET, OK)
    with client_for(server) as client:
        assert client.get("/documents") == {"ok": True}
        assert client.api_calls == 2


def test_incomplete_body_then_success(serve: Any) -> None:
    server = serve(Reply(body=b'{"data": [', action="truncate"), OK)
    with client_for(server) as client:
        assert client.get("/documents") == {"ok": True}
        assert client.api_calls == 2


def test_connection_refused_raises_transport_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v3"
    with client_for(url, replace(FAST, retries=1)) as client:
        error = fail(client, "/documents")
    assert isinstance(error, TransportError)
    assert str(error).startswith("could not reach Billingo for company 4: ConnectError: ")
    assert client.api_calls == 2


def test_unsupported_scheme_is_not_retried() -> None:
    with client_for("ftp://127.0.0.1/v3") as client:
        error = fail(client, "/documents")
    assert isinstance(error, TransportError)
    assert client.api_calls == 1


# --------------------------------------------------------------------------- malformed bodies


def test_truncated_json_then_success(serve: Any) -> None:
    server = serve(Reply(body=b'{"data": [1, 2', headers={"Content-Type": "application/json"}), OK)
    with client_for(server) as client:
        assert client.get("/documents", parse=json.loads) == {"ok": True}
        assert client.api_calls == 2


def test_html_200_page_then_success(serve: Any) -> None:
    server = serve(html("<html><body>Maintenance</body></html>"), OK)
    with client_for(server) as client:
        assert client.get("/documents", parse=json.loads) == {"ok": True}
        assert client.api_calls == 2


def test_persistent_malformed_names_path_and_params(serve: Any) -> None:
    page = html("<html><body>Maintenance</body></html>")
    server = serve(page, page)
    with client_for(server, replace(FAST, retries=1)) as client:
        error = fail(client, "/documents", {"page": 3, "per_page": 100}, json.loads)
    assert isinstance(error, MalformedResponseError)
    assert str(error).startswith(
        "Billingo sent a malformed response for company 4 (/documents page=3 per_page=100): "
        "status 200, text/html, 37 bytes: JSONDecodeError: Expecting value"
    )
    assert error.status == 200
    assert client.api_calls == 2


# --------------------------------------------------------------------------- 4xx, never retried


def test_401_is_not_retried_and_counted_once(serve: Any) -> None:
    body = {"error": {"message": "Authorization information (Header: X-API-KEY) is missing"}}
    server = serve(js(body, 401), OK)
    with client_for(server) as client:
        error = fail(client, "/documents")
    assert isinstance(error, AuthError)
    assert str(error) == "Billingo rejected the API key for company 4"
    assert error.status == 401
    assert client.api_calls == 1
    assert len(server.requests) == 1


def test_402_subscription_error(serve: Any) -> None:
    body = {"error": {"message": "You do not have subscription for this operation"}}
    server = serve(js(body, 402))
    with client_for(server) as client:
        error = fail(client, "/documents")
    assert isinstance(error, SubscriptionError)
    assert str(error) == (
        "Billingo says company 4 has no subscription for this operation: "
        "You do not have subscription for this operation"
    )
    assert client.api_calls == 1


def test_422_message_lists_the_fields(serve: Any) -> None:
    body = {
        "message": "The given data was invalid.",
        "errors": [
            {"field": "start_date", "message": "Invalid date."},
            {"field": "type", "message": "Unknown type."},
        ],
    }
    server = serve(js(body, 422))
    with client_for(server) as client:
        error = fail(client, "/documents", {"start_date": "x"})
    assert isinstance(error, ClientError)
    assert str(error) == (
        "Billingo returned 422 for company 4: The given data was invalid. "
        "(start_date: Invalid date.; type: Unknown type.)"
    )
    assert client.api_calls == 1


def test_404_is_not_retried(serve: Any) -> None:
    server = serve(js({"error": {"message": "Document not found"}}, 404), OK)
    with client_for(server) as client:
        error = fail(client, "/documents/9")
    assert isinstance(error, ClientError)
    assert str(error) == "Billingo returned 404 for company 4: Document not found"
    assert client.api_calls == 1


def test_errors_pickle_round_trip() -> None:
    error = ServerError("msg", 500, "t", "server says")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.status, copy.trace_id, copy.server_message) == (
        ServerError,
        "msg",
        500,
        "t",
        "server says",
    )


# --------------------------------------------------------------------------- pacing


def test_pacing_spaces_request_starts(serve: Any) -> None:
    server = serve(*[OK] * 5)
    policy = replace(FAST, requests_per_minute=600)
    with client_for(server, policy) as client:
        started = time.monotonic()
        for _ in range(5):
            client.get("/documents")
        assert time.monotonic() - started >= 0.39  # starts at 0, .1, .2, .3, .4
        assert client.api_calls == 5


def test_pacing_is_shared_by_clients_with_the_same_key(serve: Any) -> None:
    server = serve(*[OK] * 6)
    policy = replace(FAST, requests_per_minute=600)
    key = uuid.uuid4().hex
    with (
        client_for(server, policy, pacing_key=key) as a,
        client_for(server, policy, pacing_key=key) as b,
    ):
        started = time.monotonic()
        for _ in range(3):
            a.get("/documents")
            b.get("/documents")
        assert time.monotonic() - started >= 0.49


def test_pacing_keys_are_independent(serve: Any) -> None:
    server = serve(*[OK] * 4)
    policy = replace(FAST, requests_per_minute=120)  # 0.5 s apart
    with client_for(server, policy) as a, client_for(server, policy) as b:
        started = time.monotonic()
        for _ in range(2):
            a.get("/documents")
            b.get("/documents")
        assert time.monotonic() - started < 0.9  # shared pacing would need 1.5 s


def test_pacing_is_thread_safe(serve: Any) -> None:
    server = serve(*[OK] * 8)
    policy = replace(FAST, requests_per_minute=1200)  # 0.05 s apart
    with client_for(server, policy) as client:

        def work() -> None:
            client.get("/documents")
            client.get("/documents")

        threads = [threading.Thread(target=work) for _ in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.monotonic() - started >= 0.34  # 8 starts, 7 intervals
        assert client.api_calls == 8
    times = sorted(seen.at for seen in server.requests)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.03


# --------------------------------------------------------------------------- policy


def test_from_env_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "INVOICE_PIPELINE_HTTP_RETRIES",
        "INVOICE_PIPELINE_REQUESTS_PER_MINUTE",
        "INVOICE_PIPELINE_HTTP_TIMEOUT_S",
    ):
        monkeypatch.delenv(name, raising=False)
    assert RetryPolicy.from_env() == RetryPolicy()

    monkeypatch.setenv("INVOICE_PIPELINE_HTTP_RETRIES", "5")
    monkeypatch.setenv("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", "120.5")
    monkeypatch.setenv("INVOICE_PIPELINE_HTTP_TIMEOUT_S", "12")
    policy = RetryPolicy.from_env()
    assert (policy.retries, policy.requests_per_minute, policy.timeout_s) == (5, 120.5, 12.0)

    for off in ("0", "none", "None"):
        monkeypatch.setenv("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", off)
        assert RetryPolicy.from_env().requests_per_minute is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INVOICE_PIPELINE_HTTP_RETRIES", "three"),
        ("INVOICE_PIPELINE_HTTP_RETRIES", "-1"),
        ("INVOICE_PIPELINE_HTTP_RETRIES", "1.5"),
        ("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", "fast"),
        ("INVOICE_PIPELINE_REQUESTS_PER_MINUTE", "-5"),
        ("INVOICE_PIPELINE_HTTP_TIMEOUT_S", "0"),
        ("INVOICE_PIPELINE_HTTP_TIMEOUT_S", "nan"),
    ],
)
def test_from_env_bad_value(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as info:
        RetryPolicy.from_env()
    message = str(info.value)
    assert name in message and repr(value) in message and "\n" not in message


def test_policy_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="retries"):
        RetryPolicy(retries=-1)
    with pytest.raises(ValueError, match="requests_per_minute"):
        RetryPolicy(requests_per_minute=0)


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after("0", now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:07 GMT", now) == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("", now) is None
    policy = RetryPolicy(max_wait_s=2.0, backoff_base_s=0.5, jitter_s=0.0)
    assert policy.wait_s(0, "3600") == 2.0
    assert policy.wait_s(2, None) == 2.0
    assert policy.wait_s(1, "soon") == 1.0


def test_extract_server_message_shapes() -> None:
    assert extract_server_message(b'{"error":{"message":"m","trace_id":"t"}}') == ("m", "t")
    assert extract_server_message(b'{"detail":"nope"}') == ("nope", None)
    assert extract_server_message(b'{"message":"plain"}') == ("plain", None)
    assert extract_server_message(b"") == (None, None)
    message, _ = extract_server_message(b"x" * 1000)
    assert message == "x" * 200
    message, _ = extract_server_message(json.dumps({"message": "y" * 1000}).encode())
    assert message is not None and len(message) == 300


# --------------------------------------------------------------------------- secrets


def test_api_key_never_leaks(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    key = "leak-" + secrets.token_urlsafe(24)
    echo = f"Authorization information (Header: {key}) is invalid"
    server = serve(
        js({"error": {"message": echo}}, 401),
        js({"error": {"message": echo}}, 402),
        js({"error": {"message": echo}}, 429, Retry_After="0"),
        js({"error": {"message": echo}}, 429, Retry_After="0"),
        js({"error": {"message": echo, "trace_id": key}}, 500),
        js({"error": {"message": echo, "trace_id": key}}, 500),
        js({"message": echo, "errors": [{"field": key, "message": echo}]}, 422),
        js({"error": {"message": echo}}, 400),
        RESET,
        RESET,
        Reply(action="truncate", body=key.encode()),
        Reply(action="truncate", body=key.encode()),
        Reply(body=b"{}", delay_s=0.3),
        Reply(body=b"{}", delay_s=0.3),
        html(f"<html>{key}</html>"),
        html(f"<html>{key}</html>"),
        js({"ok": True}),
    )
    caplog.set_level(logging.DEBUG)
    policy = replace(FAST, retries=1, timeout_s=0.1)
    expected = [
        AuthError,
        SubscriptionError,
        RateLimitedError,
        ServerError,
        ClientError,
        ClientError,
        TransportError,
        TransportError,
        TransportError,
        MalformedResponseError,
    ]
    errors: list[ApiError] = []
    with client_for(server, policy, key=key) as client:
        assert key not in repr(client)
        for _ in expected:
            errors.append(fail(client, "/documents", {"page": 1}, json.loads))
        # the key echoed in a successful body is the caller's business, not an error
        assert client.get("/documents") == {"ok": True}
        refused = client_for(f"http://127.0.0.1:{free_port()}/v3", policy, key=key)
        with refused:
            errors.append(fail(refused, "/documents"))
        expected.append(TransportError)
    assert [type(e) for e in errors] == expected
    assert all(seen.headers["X-API-KEY"] == key for seen in server.requests)
    for error in errors:
        rendered = [
            str(error),
            repr(error),
            "".join(traceback.format_exception(error)),
            repr(error.args),
            repr(vars(error)),
        ]
        for text in rendered:
            assert key not in text, (type(error).__name__, text)
        assert error.__cause__ is None and error.__context__ is None
    assert "***" in str(errors[1])  # the echoed key was redacted, not dropped silently
    assert caplog.records  # retries were logged ...
    assert all(key not in r.getMessage() for r in caplog.records)  # ... without the key
    assert key not in caplog.text


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
def test_lookahead_workers_yield_the_cpu_to_the_caller() -> None:
    """The pages are fetched at a lower priority than the thread that loads them."""

    def niceness(page: int, received: Callable[[], None]) -> int:
        received()
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with Lookahead(niceness, workers=2) as ahead:
        ahead.schedule(1)
        ahead.schedule(2)
        workers = [ahead.take(1), ahead.take(2)]
    assert workers == [min(19, caller + WORKER_NICENESS)] * 2
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller
