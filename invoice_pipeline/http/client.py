"""``ApiClient``: the one HTTP layer shared by every source client (Billingo, BillX).

GET only: a retried POST could create a second, NAV-reported invoice (notes P10).

The retry loop is a short explicit loop rather than tenacity. Every attempt ends in one of
three outcomes (a parsed 2xx body, a retryable failure with an optional Retry-After, or a
final failure) and each failure must become a specific typed error. With tenacity that needs
outcomes encoded as exceptions plus custom ``retry``, ``wait``, ``before_sleep`` and
``retry_error_callback`` hooks; the loop states the same thing in a dozen lines and raises the
final error outside any ``except`` block, so no httpx exception (which holds the request and
its auth header) ends up in the exception chain.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from invoice_pipeline.http.errors import (
    ApiError,
    AuthError,
    ClientError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    SubscriptionError,
    TransportError,
)
from invoice_pipeline.http.policy import RetryPolicy, sleep, wait_for_slot

T = TypeVar("T")

logger = logging.getLogger("invoice_pipeline.http")

SERVER_MESSAGE_MAX = 300
"""Longest server message kept in an error."""
NON_JSON_BODY_MAX = 200
"""How much of a non-JSON error body is used as the server message."""
_REDACTED = "***"
# Header values never treated as secrets; every other header value of 8+ characters is
# redacted (with each of its 8+ character words, for "Bearer <token>").
_PUBLIC_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "content-type", "user-agent"}
)
_MIN_SECRET_LEN = 8


@dataclass(frozen=True)
class _Success(Generic[T]):
    value: T


@dataclass(frozen=True)
class _Failure:
    error: ApiError
    retryable: bool
    label: str
    """What went wrong, for the retry log line: "429", "timeout", ..."""
    retry_after: str | None = None


class ApiClient:
    """One source's HTTP client for one company: base URL, auth headers, policy, counting.

    ``headers`` carry the auth header; they are never logged and never appear in an error,
    and any header value echoed back by the server is redacted. ``pacing_key`` identifies
    the API key for pacing (pass a hash of the key, never the key). ``api_calls`` counts
    every HTTP attempt, failed and retried ones included.
    """

    def __init__(
        self,
        *,
        source: str,
        company_id: int,
        base_url: str,
        headers: dict[str, str],
        pacing_key: str,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.company_id = company_id
        self.base_url = base_url
        self.policy = policy or RetryPolicy()
        self.api_calls = 0
        self._pacing_key = pacing_key
        self._secrets = _secrets_of(headers)
        self._count_lock = threading.Lock()
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=self.policy.timeout_s,
            follow_redirects=False,
            transport=transport,
        )

    def __repr__(self) -> str:
        return (
            f"ApiClient(source={self.source!r}, company_id={self.company_id}, "
            f"base_url={self.base_url!r})"
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        parse: Callable[[bytes], T] = json.loads,
    ) -> T:
        """GET ``base_url + path`` and return ``parse(body)`` of the 2xx response.

        Retries 429, 5xx, transport failures and ``parse`` failures up to
        ``policy.retries`` times, honouring Retry-After (capped by ``policy.max_wait_s``);
        other statuses fail at once. Raises the ``ApiError`` subclass for the last failure.
        """
        where = _describe(path, params)
        retries = self.policy.retries
        retry_index = 0
        while True:
            outcome = self._attempt(path, params, parse, where)
            if isinstance(outcome, _Success):
                return outcome.value
            if not outcome.retryable or retry_index >= retries:
                break
            wait = self.policy.wait_s(retry_index, outcome.retry_after)
            retry_index += 1
            logger.warning(
                "%s %s on %s for company %s, retry %d/%d in %.1f s",
                self.source,
                outcome.label,
                where,
                self.company_id,
                retry_index,
                retries,
                wait,
            )
            sleep(wait)
        raise outcome.error from None

    def _attempt(
        self,
        path: str,
        params: Mapping[str, str | int] | None,
        parse: Callable[[bytes], T],
        where: str,
    ) -> _Success[T] | _Failure:
        """One paced, counted HTTP attempt, classified."""
        wait_for_slot(self._pacing_key, self.policy)
        with self._count_lock:
            self.api_calls += 1
        try:
            response = self._http.get(path, params=params)
        except httpx.DecodingError as exc:  # e.g. a broken gzip body
            return self._malformed(where, f"undecodable body ({_exc_text(exc)})", None)
        except httpx.UnsupportedProtocol as exc:  # a bad base URL: retrying cannot help
            return self._transport_failure(exc, retryable=False)
        except httpx.RequestError as exc:
            return self._transport_failure(exc, retryable=True)

        status = response.status_code
        if 200 <= status < 300:
            try:
                return _Success(parse(response.content))
            except Exception as exc:
                content_type = response.headers.get("content-type", "no content type")
                detail = (
                    f"status {status}, {content_type}, {len(response.content)} bytes: "
                    f"{_exc_text(exc)}"
                )
                return self._malformed(where, detail, status)
        return self._status_failure(response)

    def _status_failure(self, response: httpx.Response) -> _Failure:
        status = response.status_code
        server_message, trace_id = extract_server_message(response.content)
        if 300 <= status < 400 and "location" in response.headers:
            server_message = f"redirect to {response.headers['location']}"
        if not server_message:
            server_message = response.reason_phrase or f"HTTP {status}"
        server_message = _cut(self._redact(server_message), SERVER_MESSAGE_MAX)
        trace_id = self._redact(trace_id) if trace_id else None
        src, cid = self.source, self.company_id
        retry_after = response.headers.get("retry-after")

        def make(cls: type[ApiError], message: str) -> ApiError:
            return cls(self._redact(message), status, trace_id, server_message)

        if status == 401:
            error = make(AuthError, f"{src} rejected the API key for company {cid}")
            return _Failure(error, retryable=False, label=str(status))
        if status == 402:
            error = make(
                SubscriptionError,
                f"{src} says company {cid} has no subscription for this operation: "
                f"{server_message}",
            )
            return _Failure(error, retryable=False, label=str(status))
        if status == 429:
            error = make(
                RateLimitedError,
                f"{src} kept rate-limiting company {cid} after {self.policy.retries} retries",
            )
            return _Failure(error, retryable=True, label=str(status), retry_after=retry_after)
        if status >= 500:
            trace = f" (trace id {trace_id})" if trace_id else ""
            error = make(
                ServerError,
                f"{src} server error {status} for company {cid}: {server_message}{trace}",
            )
            return _Failure(error, retryable=True, label=str(status), retry_after=retry_after)
        error = make(ClientError, f"{src} returned {status} for company {cid}: {server_message}")
        return _Failure(error, retryable=False, label=str(status))

    def _transport_failure(self, exc: httpx.RequestError, *, retryable: bool) -> _Failure:
        if isinstance(exc, httpx.TimeoutException):
            phase = {
                httpx.ConnectTimeout: "connect",
                httpx.ReadTimeout: "read",
                httpx.WriteTimeout: "write",
                httpx.PoolTimeout: "connection pool",
            }.get(type(exc), "request")
            reason = f"{phase} timed out after {self.policy.timeout_s:g} s"
            label = "timeout"
        else:
            reason = _exc_text(exc)
            label = f"connection error ({reason})"
        reason = self._redact(reason)
        message = f"could not reach {self.source} for company {self.company_id}: {reason}"
        return _Failure(TransportError(message), retryable=retryable, label=self._redact(label))

    def _malformed(self, where: str, detail: str, status: int | None) -> _Failure:
        message = self._redact(
            f"{self.source} sent a malformed response for company {self.company_id} "
            f"({where}): {detail}"
        )
        return _Failure(MalformedResponseError(message, status), True, "malformed response")

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text


def extract_server_message(body: bytes) -> tuple[str | None, str | None]:
    """``(message, trace_id)`` from an error body, one line, cut to 300 characters.

    Knows Billingo's ``{"error": {"message", "trace_id"}}`` and 422
    ``{"message", "errors": [{"field", "message"}]}``, then ``{"detail"}`` / ``{"message"}``,
    else the first 200 characters of the body.
    """
    text = body.decode("utf-8", errors="replace")
    if not text.strip():
        return None, None
    try:
        data: Any = json.loads(text)
    except ValueError:
        return _cut(_one_line(text[:NON_JSON_BODY_MAX]), SERVER_MESSAGE_MAX), None
    if not isinstance(data, dict):
        return _cut(_one_line(text[:NON_JSON_BODY_MAX]), SERVER_MESSAGE_MAX), None

    message: str | None = None
    trace_id: str | None = None
    error = data.get("error")
    if isinstance(error, dict):
        message = _text_or_none(error.get("message"))
        trace_id = _text_or_none(error.get("trace_id"))
    elif isinstance(error, str):
        message = error
    trace_id = trace_id or _text_or_none(data.get("trace_id"))
    if message is None and "message" in data:
        message = _text_or_none(data["message"])
        fields = _field_errors(data.get("errors"))
        if fields:
            message = f"{message or 'validation failed'} ({fields})"
    if message is None and "detail" in data:
        detail = data["detail"]
        message = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    if message is None:
        message = text[:NON_JSON_BODY_MAX]
    message = _cut(_one_line(message), SERVER_MESSAGE_MAX)
    trace_id = _cut(_one_line(trace_id), 100) if trace_id else None
    return message or None, trace_id


def _field_errors(errors: object) -> str:
    """``"field: message; ..."`` from a 422 ``errors`` list."""
    if not isinstance(errors, list):
        return ""
    parts = []
    for item in errors:
        if isinstance(item, dict):
            field = item.get("field")
            text = item.get("message")
            parts.append(f"{field}: {text}" if field is not None else str(text))
        else:
            parts.append(str(item))
    return "; ".join(parts)


def _describe(path: str, params: Mapping[str, str | int] | None) -> str:
    """``/documents page=3 per_page=100``: how a request appears in logs and errors."""
    if not params:
        return path
    return path + " " + " ".join(f"{k}={v}" for k, v in params.items())


def _secrets_of(headers: Mapping[str, str]) -> list[str]:
    secrets: set[str] = set()
    for name, value in headers.items():
        if name.lower() in _PUBLIC_HEADERS:
            continue
        candidates = [value.strip(), *value.split()]
        secrets.update(c for c in candidates if len(c) >= _MIN_SECRET_LEN)
    return sorted(secrets, key=len, reverse=True)


def _exc_text(exc: BaseException) -> str:
    text = _one_line(str(exc))
    name = type(exc).__name__
    return _cut(f"{name}: {text}" if text else name, 200)


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
