"""Billingo wire details: error bodies as the spec shapes them, the Laravel-style page
envelope, fault responses, rate-limit headers and the ``/utils/time`` body."""

from __future__ import annotations

import math
import uuid
from datetime import date
from typing import Any
from urllib.parse import urlencode

from invoice_pipeline.emulators.billingo_clock import TIMEZONE, server_now
from invoice_pipeline.emulators.billingo_json import encode
from invoice_pipeline.emulators.billingo_query import ListQuery
from invoice_pipeline.emulators.knobs import RateDecision, retry_after_header
from invoice_pipeline.emulators.server import Request, Response

UNAUTHORIZED = encode(
    {"error": {"message": "Authorization information (Header: X-API-KEY) is missing or invalid."}}
)
DOCUMENT_NOT_FOUND = encode({"error": {"message": "Document not found."}})
NO_ROUTE = encode({"error": {"message": "The requested resource was not found."}})
NOT_ALLOWED = encode({"error": {"message": "Method not allowed."}})
_TOO_MANY = encode({"error": {"message": "Too many requests"}})
_HTML_ERROR = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<h1>502 Bad Gateway</h1><p>The server returned an invalid or incomplete response.</p>"
    b"<hr><center>CloudFront</center></body></html>"
)
_429_MODES = {"429-no-retry-after": "none", "429-http-date": "http-date"}


def invalid(errors: list[dict[str, str]]) -> Response:
    """422 ``ValidationErrorResponse``: not wrapped in ``error``, unlike the other errors."""
    return Response(422, encode({"message": "The given data was invalid.", "errors": errors}))


def too_many(mode: str, headers: list[tuple[str, str]]) -> Response:
    value = retry_after_header(mode)
    extra = [("Retry-After", value)] if value is not None else []
    return Response(429, _TOO_MANY, headers=[*headers, *extra])


def fault_response(fault: str, retry_after: str, headers: list[tuple[str, str]]) -> Response | None:
    """The response that replaces the real one, or None for faults that alter the real one
    (``timeout``, ``truncated``). A plain ``"429"`` uses the emulator's ``retry_after`` mode."""
    if fault.startswith("429"):
        return too_many(_429_MODES.get(fault, retry_after), headers)
    if fault == "401":
        return Response(401, UNAUTHORIZED, headers=headers)
    if fault == "500":
        trace = {"error": {"message": "Internal server error", "trace_id": uuid.uuid4().hex}}
        return Response(500, encode(trace), headers=headers)
    if fault == "reset":
        return Response(0, mode="reset")
    if fault == "html":
        return Response(200, _HTML_ERROR, "text/html; charset=UTF-8", headers)
    return None


def page_body(chunk: bytes, total: int, query: ListQuery, request: Request, base_url: str) -> bytes:
    """``{"data":[chunk],"total",...}`` with absolute page URLs that keep the request's query
    (``page`` replaced), null at either end."""
    last = max(1, math.ceil(total / query.per_page))
    prefix = f"{base_url}{request.path.removeprefix('/v3').rstrip('/')}?"
    kept = [(k, v) for k, v in request.query if k != "page"]

    def url(page: int) -> str:
        return prefix + urlencode([*kept, ("page", str(page))])

    prev_url = url(query.page - 1) if query.page > 1 else None
    next_url = url(query.page + 1) if query.page < last else None
    tail = b'],"total":%d,"per_page":%d,"current_page":%d,"last_page":%d,' % (
        total,
        query.per_page,
        query.page,
        last,
    )
    urls = b'"prev_page_url":%s,"next_page_url":%s}' % (encode(prev_url), encode(next_url))
    return b"".join((b'{"data":[', chunk, tail, urls))


def rate_headers(decision: RateDecision | None) -> list[tuple[str, str]]:
    if decision is None:
        return []
    return [
        ("X-RateLimit-Limit", str(decision.limit)),
        ("X-RateLimit-Remaining", str(decision.remaining)),
        ("X-RateLimit-Reset", str(decision.reset_epoch)),
    ]


def server_time(today: date | None) -> dict[str, Any]:
    """Budapest wall clock; with a fixed ``today`` the date is that day (same time of day), so
    the emulator's clock agrees with its own ``paid_date`` quirk."""
    now = server_now(today)
    return {
        "epoch": int(now.timestamp()),
        "formatted": now.strftime("%Y-%m-%d %H:%M:%S"),
        "w3c": now.isoformat(),
        "timezone": TIMEZONE,
    }
