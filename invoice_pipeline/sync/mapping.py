"""The shape every source's field mapping module provides to the generic loader."""

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
