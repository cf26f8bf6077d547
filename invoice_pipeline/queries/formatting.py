"""How values are shown: money with two decimals, Budapest time, Hungarian labels."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

BUDAPEST = ZoneInfo("Europe/Budapest")

SYNC_TYPE_DISPLAY = {"MANUAL": "Kézi", "AUTOMATIC": "Automatikus"}
STATUS_DISPLAY = {
    "RUNNING": "Fut",
    "COMPLETED": "Befejezve",
    "FAILED": "Sikertelen",
    "PARTIAL": "Részleges",
}

_CENT = Decimal("0.01")


def money(value: Decimal | None) -> Decimal | None:
    """Two decimals like the seed ("19476607.00"), more only where the fillér needs them."""
    if value is None:
        return None
    rounded = value.quantize(_CENT)
    return rounded if rounded == value else value.normalize()


def money_formatted(value: Decimal | None, currency: str | None) -> str | None:
    """``19,476,607.00 HUF``."""
    shown = money(value)
    if shown is None:
        return None
    places = max(2, -int(shown.as_tuple().exponent))
    text = f"{shown:,.{places}f}"
    return f"{text} {currency}" if currency else text


def local(value: datetime | None) -> datetime | None:
    """An instant in Europe/Budapest (stored in UTC)."""
    return value.astimezone(BUDAPEST) if value is not None else None


def timestamp_formatted(value: datetime | None) -> str | None:
    """``2025-10-27 05:40:24``, Budapest wall time."""
    shown = local(value)
    return shown.strftime("%Y-%m-%d %H:%M:%S") if shown is not None else None


def date_formatted(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def duration_formatted(seconds: float | None) -> str | None:
    """``3s``, ``2m 5s``, ``1h 0m 7s``; sub-second runs show one decimal."""
    if seconds is None:
        return None
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
