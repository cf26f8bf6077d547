"""Checking readers' arguments: every bad value is a QueryError naming the argument."""

from __future__ import annotations

from datetime import date

from invoice_pipeline.queries.errors import QueryError
from invoice_pipeline.settings_store import SOURCES

MAX_PAGE_SIZE = 1000
MAX_SEARCH_LENGTH = 200
MAX_ROWS = 2**62  # DuckDB refuses a larger OFFSET; no table has that many rows


def page_args(page: object, page_size: object) -> tuple[int, int]:
    """A 1-based page number and a size in 1..MAX_PAGE_SIZE."""
    number = integer("page", page, minimum=1)
    size = integer("page_size", page_size, minimum=1)
    if size > MAX_PAGE_SIZE:
        raise QueryError(f"page_size must be at most {MAX_PAGE_SIZE}, got {size}")
    if number * size > MAX_ROWS:
        raise QueryError(f"page is out of range: {number}")
    return number, size


def integer(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise QueryError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise QueryError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise QueryError(f"{name} must be at least {minimum}, got {number}")
    if number > 2**62:
        raise QueryError(f"{name} is out of range: {number}")
    return number


def day(name: str, value: date | str | None) -> date | None:
    """A date or an ISO ``YYYY-MM-DD`` string."""
    if value is None or (isinstance(value, date) and not hasattr(value, "hour")):
        return value  # type: ignore[return-value]
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise QueryError(f"{name} must be a date as YYYY-MM-DD, got {value!r}")


def source(value: str | None) -> str | None:
    if value is not None and value not in SOURCES:
        raise QueryError(f"unknown source {value!r}: expected one of {', '.join(SOURCES)}")
    return value


def choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise QueryError(f"unknown {name} {value!r}: expected one of {', '.join(allowed)}")
    return value


def text(name: str, value: str | None, limit: int = MAX_SEARCH_LENGTH) -> str | None:
    """Free text, taken literally; empty means no filter."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise QueryError(f"{name} must be text, got {value!r}")
    if len(value) > limit:
        raise QueryError(f"{name} is longer than {limit} characters")
    if "\x00" in value:
        raise QueryError(f"{name} contains a NUL character")
    return value or None
