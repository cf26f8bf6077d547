"""Per-company, per-source settings: name, encrypted API key, base URL, active flag, and the
per-company switches of the two sync schedules (``nightly_sync``, ``frequent_sync``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import duckdb

from invoice_pipeline import config, crypto
from invoice_pipeline.warehouse import Warehouse

T = TypeVar("T")

SOURCES = ("billingo", "billx")


class SettingsError(ValueError):
    """Bad settings input or a missing configuration."""


@dataclass(frozen=True)
class CompanySettings:
    company_id: int
    source: str
    company_name: str
    has_api_key: bool
    base_url: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_sync_time: datetime | None
    nightly_sync: bool  # the nightly full sync (02:00) includes this company and source
    frequent_sync: bool  # the high-volume incremental sync (4 times a day) does

    @property
    def effective_base_url(self) -> str:
        return self.base_url or config.default_base_url(self.source)

    def public_dict(self) -> dict[str, object]:
        """What may be shown: never the key, only whether there is one."""
        return {
            "company": self.company_id,
            "source": self.source,
            "company_name": self.company_name,
            "has_api_key": self.has_api_key,
            "base_url": self.effective_base_url,
            "is_active": self.is_active,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_sync_time": self.last_sync_time.isoformat() if self.last_sync_time else None,
            "nightly_sync": self.nightly_sync,
            "frequent_sync": self.frequent_sync,
        }


_COLUMNS = (
    "company_id, source, company_name, api_key_encrypted IS NOT NULL, base_url, is_active, "
    "created_at, updated_at, last_sync_time, nightly_sync, frequent_sync"
)


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise SettingsError(f"unknown source {source!r}: expected one of {', '.join(SOURCES)}")


def upsert(
    wh: Warehouse,
    *,
    company_id: int,
    source: str,
    company_name: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    is_active: bool | None = None,
    nightly_sync: bool | None = None,
    frequent_sync: bool | None = None,
) -> tuple[CompanySettings, bool]:
    """Create or update one company's settings for one source; returns (settings, created).

    ``None`` keeps a stored value; a new row takes the schema's defaults for it (active, in
    the nightly sync, not in the frequent one)."""
    _check_source(source)
    if company_id <= 0:
        raise SettingsError(f"company id must be a positive integer, got {company_id}")
    if api_key is not None and not api_key.strip():
        raise SettingsError("the API key is empty")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise SettingsError(f"base URL must start with http:// or https://, got {base_url!r}")
    token = crypto.encrypt(api_key.strip()) if api_key is not None else None
    changes = {
        "company_name": company_name,
        "api_key_encrypted": token,
        "base_url": base_url,
        "is_active": is_active,
        "nightly_sync": nightly_sync,
        "frequent_sync": frequent_sync,
    }
    changes = {column: value for column, value in changes.items() if value is not None}
    with wh.write(publish=True) as con:
        exists = con.execute(
            "SELECT 1 FROM company_settings WHERE company_id = ? AND source = ?",
            [company_id, source],
        ).fetchone()
        if exists is None:
            if not company_name:
                raise SettingsError(f"company {company_id} is new: --name is required")
            columns = ["company_id", "source", *changes]
            con.execute(  # columns left out take the schema's defaults
                f"INSERT INTO company_settings ({', '.join(columns)}, created_at, updated_at) "
                f"VALUES ({', '.join('?' * len(columns))}, now(), now())",
                [company_id, source, *changes.values()],
            )
        else:
            assignments = "".join(f"{column} = ?, " for column in changes)
            con.execute(
                f"UPDATE company_settings SET {assignments}updated_at = now() "
                "WHERE company_id = ? AND source = ?",
                [*changes.values(), company_id, source],
            )
        row = con.execute(
            f"SELECT {_COLUMNS} FROM company_settings WHERE company_id = ? AND source = ?",
            [company_id, source],
        ).fetchone()
    assert row is not None
    return CompanySettings(*row), exists is None


def list_settings(
    wh: Warehouse, *, company_id: int | None = None, source: str | None = None
) -> list[CompanySettings]:
    """The settings matching ``company_id`` and ``source``, in company and source order."""
    return read_settings(wh, company_id=company_id, source=source)[0]


def read_settings(
    wh: Warehouse,
    *,
    company_id: int | None = None,
    source: str | None = None,
    also: Callable[[duckdb.DuckDBPyConnection], T] | None = None,
) -> tuple[list[CompanySettings], T | None]:
    """``list_settings``, and ``also(con)`` read on the same connection (a sync's
    eligibility reads settings and feature flags with one connection)."""
    where, params = ["TRUE"], []
    if company_id is not None:
        where.append("company_id = ?")
        params.append(company_id)
    if source is not None:
        _check_source(source)
        where.append("source = ?")
        params.append(source)
    sql = (
        f"SELECT {_COLUMNS} FROM company_settings WHERE {' AND '.join(where)} "
        "ORDER BY company_id, source"
    )

    def read() -> tuple[list[CompanySettings], T | None]:
        with wh.read() as con:
            rows = [CompanySettings(*r) for r in con.execute(sql, params).fetchall()]
            return rows, also(con) if also is not None else None

    try:
        return read()
    except duckdb.BinderException:  # a warehouse not written since an older schema version:
        with wh.write():  # the writer migrates it (a schedule may read before any sync writes)
            pass
        return read()


def api_key(wh: Warehouse, company_id: int, source: str) -> str:
    """The decrypted API key, for the source client only."""
    with wh.read() as con:
        row = con.execute(
            "SELECT api_key_encrypted FROM company_settings WHERE company_id = ? AND source = ?",
            [company_id, source],
        ).fetchone()
    if row is None:
        raise SettingsError(f"company {company_id} has no {source} settings")
    if row[0] is None:
        raise SettingsError(f"company {company_id} has no {source} API key")
    return crypto.decrypt(row[0], what=f"company {company_id} ({source})")


def rotate_keys(wh: Warehouse) -> int:
    """Re-encrypt every stored API key with the newest secret key, in one transaction (a key
    that no configured secret key decrypts aborts it); returns how many were re-encrypted."""
    with wh.write() as con:
        rows = con.execute(
            "SELECT company_id, source, api_key_encrypted FROM company_settings "
            "WHERE api_key_encrypted IS NOT NULL ORDER BY company_id, source"
        ).fetchall()
        for company_id, source, token in rows:
            con.execute(
                "UPDATE company_settings SET api_key_encrypted = ? "
                "WHERE company_id = ? AND source = ?",
                [crypto.rotate(token, what=f"company {company_id} ({source})"), company_id, source],
            )
    return len(rows)
