"""``/api/<source>-settings/``: list, create or update (ADMIN), and ``trigger_sync/``.

The API key is encrypted by ``settings_store.upsert`` and never returned (``has_api_key``).
A company's name comes from its existing settings of any source; a company with no
settings at all must send ``company_name`` with its first POST.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from invoice_pipeline import queries, settings_store
from invoice_pipeline.api import errors, paging
from invoice_pipeline.api.auth import DbPath, Principal, require
from invoice_pipeline.orchestration.run import run_sync
from invoice_pipeline.sync import log
from invoice_pipeline.sync import service as sync_service
from invoice_pipeline.sync.eligibility import NothingToSyncError
from invoice_pipeline.warehouse import Warehouse

# A settings write waits this long for a running sync's writer lock, then answers 503.
WRITE_TIMEOUT_S = 15.0


class SettingsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key_input: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Required on create, optional on update; stored encrypted, never returned",
        json_schema_extra={"writeOnly": True},
    )
    is_active: bool | None = None
    company_name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Required when the company has no settings of any source yet",
    )
    nightly_sync: bool | None = Field(
        None, description="In the nightly full sync at 02:00 (default on); not in the seed"
    )
    frequent_sync: bool | None = Field(
        None,
        description="In the high-volume incremental sync, 4 times a day (default off); "
        "not in the seed",
    )


class TriggerInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyncOutcome(BaseModel):
    """The seed's sync result; ``sync_status`` is the sync log's (COMPLETED, PARTIAL, FAILED)."""

    status: Literal["success", "error"]
    sync_status: str
    invoices_processed: int
    invoices_created: int
    invoices_updated: int
    invoices_skipped: int
    items_extracted: int
    api_calls: int
    duration_seconds: float | None
    errors: list[dict[str, Any]]


def outcome(result: dict[str, Any]) -> SyncOutcome:
    """run_sync's result for one source in the seed's shape: success only when COMPLETED."""
    fields = {k: v for k, v in result.items() if k in SyncOutcome.model_fields}
    return SyncOutcome(
        **{
            **fields,
            "status": "success" if result["status"] == log.COMPLETED else "error",
            "sync_status": result["status"],
        }
    )


def not_run(message: str) -> SyncOutcome:
    error = {"invoice_id": None, "invoice_number": None, "error": message}
    metrics = log.SyncMetrics(errors=[error])
    failed = log.result(
        company_id=0, source="", status=log.FAILED, metrics=metrics, duration_seconds=0.0
    )
    return outcome(failed)


def settings_router(source: str, display: str) -> APIRouter:
    router = APIRouter(prefix=f"/api/{source}-settings", tags=[f"{display} settings"])
    Admin = Annotated[Principal, Depends(require(source, admin=True))]

    @router.get(
        "/",
        response_model=paging.Paged[queries.SettingsEntry],
        responses=errors.responses(400, 401, 403),
        summary=f"Your company's {display} settings (empty when not configured)",
    )
    def list_settings(principal: Admin, db: DbPath) -> paging.Paged[queries.SettingsEntry]:
        rows = queries.list_settings(principal.company_id, source=source, db_path=db)
        return paging.Paged[queries.SettingsEntry](
            count=len(rows), next=None, previous=None, results=rows
        )

    @router.post(
        "/",
        response_model=queries.SettingsEntry,
        status_code=201,
        responses={
            200: {"model": queries.SettingsEntry, "description": "Updated"},
            **errors.responses(400, 401, 403, 503),
        },
        summary=f"Create (201) or update (200) your company's {display} settings",
    )
    def save_settings(
        body: SettingsInput,
        response: Response,
        principal: Admin,
        db: DbPath,
    ) -> queries.SettingsEntry:
        company = principal.company_id
        existing = queries.list_settings(company, db_path=db)
        configured = any(e.source == source for e in existing)
        key = body.api_key_input
        if key is not None and not key.strip():
            raise errors.invalid("api_key_input: the API key is empty", "api_key_input")
        if key is None and not configured:
            raise errors.invalid("api_key_input: this field is required", "api_key_input")
        name = body.company_name.strip() if body.company_name is not None else None
        if body.company_name is not None and not name:
            raise errors.invalid("company_name: the company name is empty", "company_name")
        if name is None and not configured and not existing:
            raise errors.invalid(
                f"company_name: company {company} has no settings yet, so its name is required",
                "company_name",
            )
        try:
            _, created = settings_store.upsert(
                Warehouse(db, lock_timeout_s=WRITE_TIMEOUT_S),
                company_id=company,
                source=source,
                company_name=name or (existing[0].company_name if existing else None),
                api_key=key,
                is_active=body.is_active,
                nightly_sync=body.nightly_sync,
                frequent_sync=body.frequent_sync,
            )
        except settings_store.SettingsError as exc:
            raise errors.invalid(str(exc), None) from None
        response.status_code = 201 if created else 200
        [saved] = queries.list_settings(company, source=source, db_path=db)
        return saved

    @router.post(
        "/trigger_sync/",
        response_model=SyncOutcome,
        responses={
            400: {"model": SyncOutcome | errors.ErrorBody, "description": "Not fully synced"},
            **errors.responses(401, 403, 404),
        },
        summary=f"Run a {display} sync of your company now (the Dagster sync job)",
    )
    def trigger_sync(
        principal: Admin,
        db: DbPath,
        body: TriggerInput | None = None,
    ) -> JSONResponse:
        """200 when the sync COMPLETED; 400 with the same body when it was PARTIAL or FAILED.
        A sync endpoint (``def``): it runs in the threadpool, the server keeps answering."""
        company = principal.company_id
        if not queries.list_settings(company, source=source, db_path=db):
            raise errors.not_found(f"{display} settings are not configured for your company")
        if source not in sync_service.SOURCES:
            result = not_run(f"the {display} sync is not available yet")
        else:
            try:
                found = run_sync(Warehouse(db), company_id=company, source=source)
            except NothingToSyncError as exc:
                found, reason = [], str(exc)
            else:
                reason = f"no {display} sync ran for company {company}"
            mine = [r for r in found if r["source"] == source]
            result = outcome(mine[0]) if mine else not_run(reason)
        return JSONResponse(
            result.model_dump(mode="json"), status_code=200 if result.status == "success" else 400
        )

    return router
