"""``GET /api/<source>-invoices/`` (filtered, paged) and ``GET /api/<source>-invoices/{id}/``."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from invoice_pipeline import queries
from invoice_pipeline.api import errors, paging
from invoice_pipeline.api.auth import DbPath, Principal, require
from invoice_pipeline.queries.arguments import MAX_PAGE_SIZE, MAX_SEARCH_LENGTH
from invoice_pipeline.vocabulary import PAYMENT_STATUSES

FIELDS = (
    "page", "page_size", "payment_status", "partner_tax_number", "invoice_date_from",
    "invoice_date_to", "search",
)  # fmt: skip

STATUS = f"One of {', '.join(PAYMENT_STATUSES)} (or a value the source uses)"
SEARCH = "Part of the invoice number (literal, any case)"
INCLUDE_DELETED = "Also invoices a full sync found deleted at the source (with their deleted_at)"


def invoices_router(source: str, display: str) -> APIRouter:
    router = APIRouter(prefix=f"/api/{source}-invoices", tags=[f"{display} invoices"])
    Reader = Annotated[Principal, Depends(require(source, admin=False))]

    @router.get(
        "/",
        response_model=paging.SnapshotPaged[queries.InvoiceSummary],
        responses=errors.responses(400, 401, 403, 404),
        summary=f"{display} invoices of your company, newest first",
    )
    def list_invoices(
        request: Request,
        principal: Reader,
        db: DbPath,
        page: Annotated[int, Query(ge=1, le=paging.MAX_PAGE, description="1-based")] = 1,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
        payment_status: Annotated[
            str | None, Query(max_length=MAX_SEARCH_LENGTH, description=STATUS)
        ] = None,
        partner_tax_number: Annotated[str | None, Query(max_length=MAX_SEARCH_LENGTH)] = None,
        invoice_date_from: Annotated[date | None, Query(description="Min invoice date")] = None,
        invoice_date_to: Annotated[date | None, Query(description="Max invoice date")] = None,
        search: Annotated[
            str | None, Query(max_length=MAX_SEARCH_LENGTH, description=SEARCH)
        ] = None,
        include_deleted: Annotated[bool, Query(description=INCLUDE_DELETED)] = False,
    ) -> paging.SnapshotPaged[queries.InvoiceSummary]:
        try:
            result = queries.list_invoices(
                principal.company_id,
                source=source,
                payment_status=payment_status,  # empty: no filter, as in Django
                partner_tax_number=partner_tax_number,
                invoice_date_from=invoice_date_from,
                invoice_date_to=invoice_date_to,
                search=search,
                page=page,
                page_size=page_size,
                db_path=db,
                include_deleted=include_deleted,
            )
        except queries.NotFoundError:  # the company has no settings: nothing synced yet
            return paging.empty(page)
        except queries.QueryError as exc:
            raise errors.from_query_error(exc, FIELDS) from None
        return paging.from_query(request, result)

    @router.get(
        "/{id}/",
        response_model=queries.InvoiceDetail,
        responses=errors.responses(400, 401, 403, 404),
        summary=f"One {display} invoice of your company, with its lines",
    )
    def get_invoice(
        id: Annotated[int, Path(ge=1, le=2**62)],
        principal: Reader,
        db: DbPath,
        include_deleted: Annotated[bool, Query(description=INCLUDE_DELETED)] = False,
    ) -> queries.InvoiceDetail:
        """Another company's invoice is a 404 like a missing one: its existence is not
        revealed."""
        try:
            return queries.get_invoice(
                principal.company_id, id, source=source, db_path=db, include_deleted=include_deleted
            )
        except queries.QueryError as exc:
            raise errors.from_query_error(exc, ("invoice_id",)) from None

    return router
