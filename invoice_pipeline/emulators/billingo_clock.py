"""The Billingo emulator's clock: server-local (Budapest) wall time, document modification
times, and the ``last_modified_date`` filter's text.

With a fixed ``today`` the clock shows that day at the real time of day, so ``/utils/time``,
the ``paid_date`` quirk and modification times agree. Modification times are whole epoch
seconds; the filter's ``"YYYY-MM-DD HH:MM:SS"`` (or ``"YYYY-MM-DD"``, meaning midnight) is
read as Budapest wall time, the zone ``/utils/time`` reports.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

TIMEZONE = "Europe/Budapest"
ZONE = ZoneInfo(TIMEZONE)
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY = 86_400
GENERATED_BEFORE_S = 3_600  # generated documents were last modified at least this long ago


def server_now(today: date | None) -> datetime:
    """Budapest wall clock (whole seconds); on ``today`` when the emulator's date is fixed."""
    now = datetime.now(ZONE).replace(microsecond=0)
    if today is not None:
        now = datetime.combine(today, now.time(), tzinfo=ZONE)
    return now


def parse_local(text: str) -> int | None:
    """Epoch seconds of a server-local ``"YYYY-MM-DD HH:MM:SS"`` or ``"YYYY-MM-DD"``;
    None if it is neither (or not a real date and time)."""
    if not _LOCAL.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text if " " in text else f"{text} 00:00:00")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=ZONE).timestamp())


def generated_modified(
    doc_id: int, invoice_date: object, paid_date: object, created_epoch: int
) -> int:
    """When a generated document was last modified: issued on its invoice date during
    working hours, changed again when paid, and never later than an hour before the
    account was created (so a sync right after creation has nothing "recent" to re-read)."""
    latest = created_epoch - GENERATED_BEFORE_S
    moment = latest
    if isinstance(invoice_date, str) and len(invoice_date) == 10:
        day = date.fromisoformat(invoice_date).toordinal() - _EPOCH_ORDINAL
        moment = day * _DAY + 7 * 3_600 + doc_id % 28_800  # 08:00-16:00 Budapest (winter)
        if isinstance(paid_date, str) and len(paid_date) == 10:
            paid = date.fromisoformat(paid_date).toordinal() - _EPOCH_ORDINAL
            moment = max(moment, paid * _DAY + 11 * 3_600 + doc_id % 3_600)
    return min(moment, latest)
