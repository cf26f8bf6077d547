"""Per-company feature flags: one per source (``BILLINGO_SYNC``, ``BILLX_SYNC``).

A company with no row for a feature has it ON: configuring a source is what makes it
usable, and a flag is only needed to switch a source off for a company. Flags are written
through the warehouse writer; the HTTP API reads them from the read snapshot, syncs from the
warehouse itself (``switched_off``, used by ``sync/eligibility.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from invoice_pipeline.queries.reader import snapshot_cursor
from invoice_pipeline.settings_store import SOURCES
from invoice_pipeline.warehouse import Warehouse


class FeatureError(ValueError):
    """An unknown feature name or a bad company id."""


def feature_for(source: str) -> str:
    """The flag that gates a source: ``billingo`` -> ``BILLINGO_SYNC``."""
    return f"{source.upper()}_SYNC"


FEATURES = tuple(feature_for(s) for s in SOURCES)


@dataclass(frozen=True)
class FeatureState:
    feature: str
    enabled: bool
    updated_at: datetime | None  # None: never set, so on by default

    def public_dict(self) -> dict[str, object]:
        return {
            "feature": self.feature,
            "enabled": self.enabled,
            "set": self.updated_at is not None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def _check(company_id: int, feature: str) -> None:
    if feature not in FEATURES:
        raise FeatureError(f"unknown feature {feature!r}: expected one of {', '.join(FEATURES)}")
    if company_id <= 0:
        raise FeatureError(f"company id must be a positive integer, got {company_id}")


def set_feature(wh: Warehouse, company_id: int, feature: str, enabled: bool) -> FeatureState:
    _check(company_id, feature)
    with wh.write(publish=True) as con:
        row = con.execute(
            "INSERT OR REPLACE INTO company_features VALUES (?, ?, ?, now()) "
            "RETURNING feature, enabled, updated_at",
            [company_id, feature, enabled],
        ).fetchone()
    assert row is not None
    return FeatureState(*row)


def list_features(company_id: int, db_path: Path | str | None = None) -> list[FeatureState]:
    """Every known feature of the company, with its default where none was set."""
    if company_id <= 0:
        raise FeatureError(f"company id must be a positive integer, got {company_id}")
    try:
        with snapshot_cursor(db_path) as cur:
            rows = cur.execute(
                "SELECT feature, enabled, updated_at FROM company_features WHERE company_id = ?",
                [company_id],
            ).fetchall()
    except duckdb.CatalogException:  # a snapshot published before flags existed
        rows = []
    stored = {r[0]: FeatureState(*r) for r in rows}
    return [stored.get(f, FeatureState(f, True, None)) for f in FEATURES]


def switched_off(
    con: duckdb.DuckDBPyConnection, company_id: int | None = None
) -> set[tuple[int, str]]:
    """The (company, feature) pairs switched off, read on a connection to the warehouse
    itself rather than the read snapshot: what a sync may do is decided there, like its
    settings."""
    rows = con.execute(
        "SELECT company_id, feature FROM company_features "
        "WHERE NOT enabled AND (? IS NULL OR company_id = ?)",
        [company_id, company_id],
    ).fetchall()
    return {(int(c), str(f)) for c, f in rows}


def is_enabled(company_id: int, feature: str, db_path: Path | str | None = None) -> bool:
    _check(company_id, feature)
    return next(s.enabled for s in list_features(company_id, db_path) if s.feature == feature)
