"""What an incremental sync continues from, handed to a source's incremental pages.

The watermark is the start of the company's last COMPLETED sync of that source (full or
incremental; ``log.last_completed_start``): everything the source held then is in the
warehouse. A source plans from the warehouse before its crawl (``hints``) and says what it
actually asked for (``changes_since``), which the sync log keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Increment:
    since: datetime  # UTC, this machine's clock: when the last COMPLETED sync started
    hints: Any = None  # the source's plan from the warehouse (``Source.plan_incremental``)
    changes_since: datetime | None = None  # UTC, the source's clock; None: no time filter
