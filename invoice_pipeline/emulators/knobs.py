"""Source-independent misbehaviour knobs: latency, a per-key rate limiter and fault injection.

Nothing here knows about HTTP routes or a source's body shapes, so a second emulator (BillX)
can reuse the same knobs and only decide how each fault kind looks on its wire.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

RetryAfterMode = Literal["seconds", "http-date", "none"]
RETRY_AFTER_MODES: tuple[str, ...] = ("seconds", "http-date", "none")

#: Every fault kind ``FaultInjector.script`` accepts.
FAULT_KINDS: tuple[str, ...] = (
    "500",
    "429",
    "429-no-retry-after",
    "429-http-date",
    "timeout",
    "truncated",
    "html",
    "reset",
    "401",
)
#: The kinds drawn at random by ``fault_rate``: the transient failures a client must retry.
RANDOM_FAULT_KINDS: tuple[str, ...] = ("500", "timeout", "truncated")


def sleep_ms(ms: float) -> None:
    """Latency knob: sleep ``ms`` milliseconds (no-op for 0)."""
    if ms > 0:
        time.sleep(ms / 1000.0)


def retry_after_header(mode: str, seconds: int = 1) -> str | None:
    """The ``Retry-After`` value for ``mode``, or None when the header must be left out.

    The HTTP date has one-second resolution, so it is rounded up: it always lies between
    ``seconds`` and ``seconds + 1`` in the future, never in the past.
    """
    if mode == "seconds":
        return str(seconds)
    if mode == "http-date":
        return formatdate(math.ceil(time.time()) + seconds, usegmt=True)
    if mode == "none":
        return None
    raise ValueError(f"unknown retry_after mode {mode!r}, expected one of {RETRY_AFTER_MODES}")


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int  # when the oldest counted request leaves the window


class RateLimiter:
    """Sliding-window limiter: at most ``limit`` accepted requests per key in any ``window_s``.

    Rejected requests do not use up budget, so a client that honours ``Retry-After`` gets
    through as soon as the window slides.
    """

    def __init__(
        self,
        limit: int | None,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError("rate limit must be >= 1 or None")
        if window_s <= 0:
            raise ValueError("rate limit window must be positive")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> RateDecision | None:
        """Count one request for ``key``; None when no limit is configured."""
        if self.limit is None:
            return None
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            oldest = hits[0] if hits else now
            reset = time.time() + max(0.0, oldest + self.window_s - now)
            return RateDecision(allowed, self.limit, self.limit - len(hits), math.ceil(reset))


class FaultInjector:
    """Scripted FIFO faults per key (or for any key) plus seeded random faults.

    A random fault is a pure function of the seed, the request (method, path and query) and
    which attempt at it this is for the key (``fault_for``), not of arrival order: a client
    that fetches concurrently sees the same faults on the same requests as a sequential one,
    so a test can check in advance that no request fails more often than the client retries.
    """

    def __init__(
        self,
        rate: float = 0.0,
        seed: int = 0,
        kinds: Iterable[str] = RANDOM_FAULT_KINDS,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault_rate must be within 0..1")
        self.rate = rate
        self.kinds = tuple(kinds)
        _check_kinds(self.kinds)
        self.seed = seed
        self._attempts: dict[tuple[str, str], int] = {}
        self._queues: dict[str | None, deque[str]] = {}
        self._lock = threading.Lock()

    def script(self, key: str | None, faults: Iterable[str]) -> None:
        """Queue ``faults`` for the next requests of ``key`` (None: of any key), one each."""
        faults = list(faults)
        _check_kinds(faults)
        with self._lock:
            self._queues.setdefault(key, deque()).extend(faults)

    def pending(self, key: str | None = None) -> int:
        with self._lock:
            return len(self._queues.get(key, ()))

    def next_scripted(self, key: str | None) -> str | None:
        """Pop the next fault for ``key``; its own queue goes before the any-key queue."""
        with self._lock:
            for queue_key in (key, None) if key is not None else (None,):
                queue = self._queues.get(queue_key)
                if queue:
                    return queue.popleft()
        return None

    def fault_for(self, request: str, attempt: int) -> str | None:
        """The random fault (or None) of the ``attempt``-th (from 1) try at ``request``."""
        if self.rate <= 0.0:
            return None
        draw = random.Random(f"{self.seed}|{request}|{attempt}")
        return draw.choice(self.kinds) if draw.random() < self.rate else None

    def next_random(self, key: str, request: str) -> str | None:
        """Count one more try at ``request`` by ``key``; its random fault, if any."""
        if self.rate <= 0.0:
            return None
        with self._lock:
            attempt = self._attempts[key, request] = self._attempts.get((key, request), 0) + 1
        return self.fault_for(request, attempt)


def _check_kinds(kinds: Iterable[str]) -> None:
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}, expected any of {FAULT_KINDS}")
