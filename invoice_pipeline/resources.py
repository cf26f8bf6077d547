"""Dagster resources: the warehouse and the per-source API settings (retry/pacing policy)."""


import dagster as dg

from invoice_pipeline.http import RetryPolicy
from invoice_pipeline.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file; every write goes through its single-writer lock."""

    db_path: str

    def get(self) -> Warehouse:
        return Warehouse(self.db_path)


class SourceApiResource(dg.ConfigurableResource):
    """How a source API is called: retries, client-side pacing per key, timeout.

    The API keys are not here: they are read, encrypted, from the company settings.
    """

    retries: int = 3
    requests_per_minute: float = 300.0  # 0 turns client-side pacing off
    timeout_s: float = 30.0

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            requests_per_minute=self.requests_per_minute or None,
            timeout_s=self.timeout_s,
        )
