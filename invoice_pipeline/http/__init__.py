"""The HTTP layer shared by every source client: ``ApiClient``, ``RetryPolicy``, typed errors."""

from invoice_pipeline.http.client import ApiClient
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
from invoice_pipeline.http.policy import RetryPolicy

__all__ = [
    "ApiClient",
    "ApiError",
    "AuthError",
    "ClientError",
    "MalformedResponseError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "SubscriptionError",
    "TransportError",
]
