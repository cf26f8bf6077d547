"""``GET /api/<source>-sync-logs/``: the company's sync log for one source, newest first."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from invoice_pipeline import queries
from invoice_pipeline.api import errors, paging
from invoice_pipeline.api.auth import DbPath, Principal, require
from invoice_pipeline.queries.arguments import MAX_PAGE_SIZE
from invoice_pipeline.queries.sync_logs import STATUSES, SYNC_TYPES

FIELDS = ("page", "page_size", "sync_type", "status")


def sync_logs_router(source: str, display: str) -> APIRouter:
    router = APIRouter(prefix=f"/api/{source}-sync-logs", tags=[f"{display} sync logs"])
    Reader = Annotated[Principal, Depends(require(source, admin=False))]

    @router.get(
        "/",
        response_model=paging.SnapshotPaged[queries.SyncLogEntry],
        responses=errors.responses(400, 401, 403, 404),
        summary=f"The {display} sync log of your company, newest first",
    )
    def list_sync_logs(
        request: Request,
        principal: Reader,
        db: DbPath,
        page: Annotated[int, Query(ge=1, le=paging.MAX_PAGE)] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
        sync_type: Literal[SYNC_TYPES] | None = None,  # type: ignore[valid-type]
        status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
    ) -> paging.SnapshotPaged[queries.SyncLogEntry]:
        try:
            result = queries.list_sync_logs(
                principal.company_id,
                source=source,
                sync_type=sync_type,
                status=status,
                page=page,
                page_size=page_size,
                db_path=db,
            )
        except queries.NotFoundError:  # the company has no settings: no sync ever ran
            return paging.empty(page)
        except queries.QueryError as exc:
            raise errors.from_query_error(exc, FIELDS) from None
        return paging.from_query(request, result)

    return router
