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
    backoff_base_s: float = 0.5
    max_wait_s: float = 60.0
    timeout_s: float = 30.0

    @classmethod
    def from_env(cls) -> "SourceApiResource":
        """Defaults overridden by the INVOICE_PIPELINE_HTTP_* variables (see RetryPolicy)."""
        p = RetryPolicy.from_env()
        return cls(
            retries=p.retries,
            requests_per_minute=p.requests_per_minute or 0.0,
            backoff_base_s=p.backoff_base_s,
            max_wait_s=p.max_wait_s,
            timeout_s=p.timeout_s,
        )

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            retries=self.retries,
            requests_per_minute=self.requests_per_minute or None,
            backoff_base_s=self.backoff_base_s,
            max_wait_s=self.max_wait_s,
            timeout_s=self.timeout_s,
        )


class NoValuesIOManager(dg.ConfigurableIOManager):
    """The code location's IO manager. Its assets pass no values: each writes the warehouse
    itself and returns a ``MaterializeResult``, which Dagster hands to no IO manager. Yet a
    run sets one up when it starts, and Dagster's default (pickles on the filesystem)
    imports universal_pathlib and fsspec to do so: 40 ms of every run process's fixed cost,
    for nothing. This one stores and loads nothing, and fails if it is ever asked to."""

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is not None:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} returned a value: "
                "invoice_pipeline's assets pass none"
            )

    def load_input(self, context: dg.InputContext) -> object:
        raise dg.Failure("invoice_pipeline's assets pass no values to load")
