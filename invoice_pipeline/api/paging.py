"""The seed's page: ``count``, absolute ``next``/``previous`` URLs, ``results``.

``next``/``previous`` are the request's own URL with only ``page`` replaced (dropped for
page 1, as Django REST framework does), so every filter carries over. A page past the
last one is a 404 ``Invalid page.``, also Django REST framework's behaviour; page 1 of
nothing is an empty page.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from fastapi import Request
from pydantic import BaseModel

from invoice_pipeline.api.errors import ApiError
from invoice_pipeline.queries import Page, Snapshot

T = TypeVar("T", bound=BaseModel)

# (page - 1) * page_size must stay within DuckDB's BIGINT OFFSET.
MAX_PAGE = 10**12


class Paged(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


class SnapshotPaged(Paged[T], Generic[T]):
    """A page read from the read snapshot: ``snapshot`` says when it was published and as
    of which completed sync its data is (None when the company has nothing synced)."""

    snapshot: Snapshot | None = None


def page_url(request: Request, number: int | None) -> str | None:
    if number is None:
        return None
    if number == 1:
        return str(request.url.remove_query_params("page"))
    return str(request.url.include_query_params(page=number))


def invalid_page() -> ApiError:
    return ApiError(404, "Invalid page.", "not_found")


def from_query(request: Request, page: Page[T]) -> SnapshotPaged[T]:
    if page.page > 1 and not page.results:
        raise invalid_page()
    return SnapshotPaged[T](
        count=page.count,
        next=page_url(request, page.next),
        previous=page_url(request, page.previous),
        results=page.results,
        snapshot=page.snapshot,
    )


def empty(number: int) -> SnapshotPaged[T]:
    """Page 1 of nothing (the company has no settings, so nothing was ever synced)."""
    if number > 1:
        raise invalid_page()
    return SnapshotPaged[T](count=0, next=None, previous=None, results=[])
