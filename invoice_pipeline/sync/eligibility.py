"""Which (company, source) pairs a sync may touch: the one rule behind both schedules,
``invoice-pipeline sync`` (and the HTTP trigger through it) and the sync step itself.

A pair may be synced when its settings are active and the company's feature flag for the
source (``BILLINGO_SYNC``, ``BILLX_SYNC``; on unless switched off) is on. A scheduled sync
also needs the company's own switch for that schedule: the ``nightly_sync`` and
``frequent_sync`` columns of ``company_settings``, named like the schedules they switch.
Settings and flags are read from the warehouse itself, not from the read snapshot, so a
change is seen by the next decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from invoice_pipeline import features, settings_store
from invoice_pipeline.settings_store import CompanySettings
from invoice_pipeline.warehouse import Warehouse


class NothingToSyncError(ValueError):
    """No settings that may be synced match the requested company and source."""


NIGHTLY = "nightly_sync"
FREQUENT = "frequent_sync"
SCHEDULE_SWITCHES: dict[str, Callable[[CompanySettings], bool]] = {
    NIGHTLY: lambda s: s.nightly_sync,
    FREQUENT: lambda s: s.frequent_sync,
}


@dataclass(frozen=True)
class Verdict:
    """One company and source: its settings, and why it may not be synced (None: it may)."""

    settings: CompanySettings
    refusal: str | None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def _refusal(s: CompanySettings, off: set[tuple[int, str]], schedule: str | None) -> str | None:
    feature = features.feature_for(s.source)
    if not s.is_active:
        return f"its {s.source} settings are inactive"
    if (s.company_id, feature) in off:
        return f"its {feature} feature is switched off"
    if schedule is not None and not SCHEDULE_SWITCHES[schedule](s):
        return f"its {s.source} {schedule} switch is off"
    return None


def verdicts(
    wh: Warehouse,
    *,
    schedule: str | None = None,
    company_id: int | None = None,
    source: str | None = None,
) -> list[Verdict]:
    """Every configured pair matching ``company_id`` and ``source``, with its verdict for a
    manual sync (``schedule`` None) or for the schedule named ``schedule``."""
    if schedule is not None and schedule not in SCHEDULE_SWITCHES:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {SCHEDULE_SWITCHES}")
    rows, off = settings_store.read_settings(
        wh,
        company_id=company_id,
        source=source,
        also=lambda con: features.switched_off(con, company_id),
    )
    return [Verdict(s, _refusal(s, off or set(), schedule)) for s in rows]


def targets(
    wh: Warehouse,
    *,
    schedule: str | None = None,
    company_id: int | None = None,
    source: str | None = None,
) -> dict[int, list[str]]:
    """Company -> the sources it may sync (see ``verdicts``), companies and sources in order."""
    return allowed(verdicts(wh, schedule=schedule, company_id=company_id, source=source))


def allowed(found: list[Verdict]) -> dict[int, list[str]]:
    """The allowed pairs of ``found`` as company -> sources."""
    pairs: dict[int, list[str]] = {}
    for v in found:
        if v.allowed:
            pairs.setdefault(v.settings.company_id, []).append(v.settings.source)
    return pairs


def allowed_settings(wh: Warehouse, company_id: int, source: str) -> CompanySettings | None:
    """The settings of one pair when it may be synced at all (active, feature on), else None."""
    found = verdicts(wh, company_id=company_id, source=source)
    return found[0].settings if found and found[0].allowed else None
