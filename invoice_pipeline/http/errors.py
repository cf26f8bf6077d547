"""Typed errors raised by ``ApiClient``.

Each carries ``status`` (HTTP status, ``None`` for transport failures), ``message`` (the
one-line text, also ``str(e)``), ``trace_id`` (the server's trace id, if it sent one) and
``server_message`` (the server's own error text, redacted and cut to 300 characters).
None of them ever holds a request, response, header or API key.
"""

from __future__ import annotations


class ApiError(Exception):
    """An HTTP call to a source API failed for good (after any retries)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        trace_id: str | None = None,
        server_message: str | None = None,
    ) -> None:
        # Positional args so the error pickles and unpickles unchanged.
        super().__init__(message, status, trace_id, server_message)
        self.message = message
        self.status = status
        self.trace_id = trace_id
        self.server_message = server_message

    def __str__(self) -> str:
        return self.message


class AuthError(ApiError):
    """401: the API key was rejected."""


class SubscriptionError(ApiError):
    """402: the company's plan does not include this operation."""


class RateLimitedError(ApiError):
    """429 on every attempt."""


class ServerError(ApiError):
    """5xx on the last attempt."""


class ClientError(ApiError):
    """Any other non-2xx status (400, 403, 404, 422, a redirect ...); never retried."""


class TransportError(ApiError):
    """Timeout, refused or reset connection, or a body cut short, on the last attempt."""


class MalformedResponseError(ApiError):
    """A 2xx response whose body the caller's ``parse`` rejected, on the last attempt."""
