"""The shape every source's field mapping module provides to the generic loader, and the
SQL helpers the mappings share (the live APIs send ``""`` for unset values: NULL here)."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceMapping:
    source: str
    structure: dict[str, object]  # json_transform structure parsed once per document as ``d``
    invoice_columns: dict[str, str]  # invoices column -> SQL over d
    item_columns: dict[str, str]  # invoice_items column -> SQL over it (one line) and line_no
    items_expr: str = "d.items"

    @property
    def structure_sql(self) -> str:
        return "'" + json.dumps(self.structure).replace("'", "''") + "'"


def text(expr: str) -> str:
    """A text value of ``expr``, ``""`` as NULL."""
    return f"nullif({expr}, '')"


def cast(expr: str, sql_type: str) -> str:
    """``expr`` cast to ``sql_type``, ``""`` as NULL."""
    return f"CAST(nullif({expr}, '') AS {sql_type})"
