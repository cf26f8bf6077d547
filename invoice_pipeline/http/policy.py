"""Retry and pacing policy: the one place for retry counts, backoff, Retry-After and pacing.

Billingo documents 300 requests/minute per API key but often sends no rate-limit headers
(notes §5, P8), so pacing is client-side: every request start, retries included, takes the
next slot of an evenly spaced schedule kept per API key (``pacing_key``) and shared by every
``ApiClient`` and thread in the process.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRIES_ENV = "INVOICE_PIPELINE_HTTP_RETRIES"
REQUESTS_PER_MINUTE_ENV = "INVOICE_PIPELINE_REQUESTS_PER_MINUTE"
TIMEOUT_ENV = "INVOICE_PIPELINE_HTTP_TIMEOUT_S"


@dataclass(frozen=True)
class RetryPolicy:
    """How often to retry, how long to wait between attempts, and how fast to start requests."""

    retries: int = 3
    """Retries after the first attempt."""
    requests_per_minute: float | None = 300.0
    """Client-side pacing per API key; ``None`` turns pacing off."""
    backoff_base_s: float = 0.5
    """Exponential backoff: ``backoff_base_s * 2**retry_index + uniform(0, jitter_s)``."""
    jitter_s: float = 0.25
    max_wait_s: float = 60.0
    """Cap for any single wait, including a server's Retry-After."""
    timeout_s: float = 30.0
    """httpx timeout per request."""

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be a whole number >= 0, got {self.retries!r}")
        if self.requests_per_minute is not None and not _positive(self.requests_per_minute):
            raise ValueError(
                f"requests_per_minute must be > 0 or None, got {self.requests_per_minute!r}"
            )
        for name in ("backoff_base_s", "jitter_s", "max_wait_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not _positive(self.timeout_s):
            raise ValueError(f"timeout_s must be a finite number > 0, got {self.timeout_s!r}")

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults overridden by ``INVOICE_PIPELINE_HTTP_RETRIES``,
        ``INVOICE_PIPELINE_REQUESTS_PER_MINUTE`` (``0`` or ``none`` = no pacing) and
        ``INVOICE_PIPELINE_HTTP_TIMEOUT_S``; unset or empty means the default.

        Raises ``ValueError`` with a one-line message naming the variable on a bad value.
        """
        default = cls()
        retries = default.retries
        rpm = default.requests_per_minute
        timeout = default.timeout_s

        raw = os.environ.get(RETRIES_ENV, "").strip()
        if raw:
            try:
                retries = int(raw)
            except ValueError:
                retries = -1
            if retries < 0:
                raise ValueError(f"{RETRIES_ENV} must be a whole number >= 0, got {raw!r}")

        raw = os.environ.get(REQUESTS_PER_MINUTE_ENV, "").strip()
        if raw:
            if raw.lower() in ("0", "none"):
                rpm = None
            else:
                rpm = _parse_float(raw)
                if rpm is None or not _positive(rpm):
                    raise ValueError(
                        f"{REQUESTS_PER_MINUTE_ENV} must be a number > 0, or 0/none for no "
                        f"pacing, got {raw!r}"
                    )

        raw = os.environ.get(TIMEOUT_ENV, "").strip()
        if raw:
            parsed = _parse_float(raw)
            if parsed is None or not _positive(parsed):
                raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds > 0, got {raw!r}")
            timeout = parsed

        return cls(retries=retries, requests_per_minute=rpm, timeout_s=timeout)

    @property
    def pacing_interval_s(self) -> float | None:
        """Minimum spacing between request starts per API key, or ``None`` without pacing."""
        return None if self.requests_per_minute is None else 60.0 / self.requests_per_minute

    def backoff_s(self, retry_index: int) -> float:
        """Wait before retry number ``retry_index + 1``: exponential with jitter, capped."""
        wait = self.backoff_base_s * 2**retry_index + random.uniform(0.0, self.jitter_s)
        return min(wait, self.max_wait_s)

    def wait_s(self, retry_index: int, retry_after: str | None = None) -> float:
        """The server's Retry-After when present and readable, else backoff; capped."""
        server_wait = parse_retry_after(retry_after) if retry_after is not None else None
        if server_wait is None:
            return self.backoff_s(retry_index)
        return min(server_wait, self.max_wait_s)


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or an HTTP date), or ``None``
    if unreadable. A date in the past means 0."""
    value = value.strip()
    if not value:
        return None
    seconds = _parse_float(value)
    if seconds is not None:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse as naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(delta, 0.0)


def sleep(seconds: float) -> None:
    """The one sleep used for backoff and pacing (tests keep waits short via the policy)."""
    if seconds > 0:
        time.sleep(seconds)


class _Pacer:
    """Evenly spaced request starts for one API key; reserving a slot is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_start = 0.0

    def reserve(self, interval_s: float) -> float:
        """Reserve the next free start slot and return how long to wait for it."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + interval_s
            return start - now


_pacers: dict[str, _Pacer] = {}
_pacers_lock = threading.Lock()


def wait_for_slot(pacing_key: str, policy: RetryPolicy) -> None:
    """Block until ``pacing_key`` may start another request under ``policy``'s pacing."""
    interval = policy.pacing_interval_s
    if interval is None:
        return
    with _pacers_lock:
        pacer = _pacers.setdefault(pacing_key, _Pacer())
    sleep(pacer.reserve(interval))


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
