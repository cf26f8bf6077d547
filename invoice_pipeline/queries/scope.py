"""What every query starts with: the company it is scoped to and what the snapshot holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from invoice_pipeline.queries import arguments, formatting
from invoice_pipeline.queries.errors import NotFoundError
from invoice_pipeline.queries.models import Snapshot


def company_name(
    cur: duckdb.DuckDBPyConnection, company_id: object, memo: dict[Any, Any] | None = None
) -> tuple[int, str]:
    """The company's id and name; NotFoundError when it has no settings at all.

    ``memo`` is the snapshot generation's memo (``reader.snapshot_read``): a published file
    never changes, so a name found once is kept with it (an unknown company is not)."""
    company = arguments.integer("company_id", company_id)
    key = ("company_name", company)
    name = memo.get(key) if memo is not None else None
    if name is None:
        row = cur.execute(
            "SELECT min(company_name) FROM company_settings WHERE company_id = ?", [company]
        ).fetchone()
        if row is None or row[0] is None:
            raise NotFoundError(f"company {company} is not configured")
        name = row[0]
        if memo is not None:
            memo[key] = name
    return company, name


def snapshot_info(
    cur: duckdb.DuckDBPyConnection,
    company_id: int,
    source: str | None = None,
    memo: dict[Any, Any] | None = None,
) -> Snapshot:
    """When the snapshot was published and the data as of when (kept in ``memo``, as
    above; only the age is computed per call)."""
    key = ("snapshot_info", company_id, source)
    known = memo.get(key) if memo is not None else None
    if known is None:
        known = cur.execute(
            "SELECT (SELECT published_at FROM snapshot_meta), "
            "(SELECT max(data_as_of) FROM snapshot_companies "
            " WHERE company_id = ? AND (? IS NULL OR source = ?))",
            [company_id, source, source],
        ).fetchone()
        if memo is not None:
            memo[key] = known
    published, as_of = known  # type: ignore[misc]
    return Snapshot(
        published_at=formatting.local(published),  # type: ignore[arg-type]
        age_seconds=round((datetime.now(UTC) - published).total_seconds(), 3),
        data_as_of=formatting.local(as_of),
    )


def pages(count: int, page: int, page_size: int) -> tuple[int | None, int | None]:
    """(next, previous) page numbers, None at the ends."""
    following = page + 1 if page * page_size < count else None
    previous = page - 1 if page > 1 else None
    return following, previous
