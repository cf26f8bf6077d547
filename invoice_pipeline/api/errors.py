"""The seed's error format, ``{"detail": ..., "code": ...}``, for every error the API gives.

Bad input is a 400 naming the field (FastAPI's 422 is replaced), query errors map to 400 or
404, a busy warehouse to 503, and anything unexpected to a 500 in the same format that
never echoes the request (it may hold a password or an API key).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from invoice_pipeline.queries import NotFoundError, QueryError
from invoice_pipeline.warehouse import WarehouseBusyError

logger = logging.getLogger("invoice_pipeline.api")

NOT_FOUND = "Not found."
PERMISSION_DENIED = "You do not have permission to perform this action."


class ErrorBody(BaseModel):
    """What every error response holds; ``field`` names the request field at fault."""

    detail: str
    code: str
    field: str | None = None


class ApiError(Exception):
    """An error response: raised anywhere below a route, rendered by ``install``."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code = status, detail, code
        self.field, self.headers = field, headers

    def response(self) -> JSONResponse:
        body = ErrorBody(detail=self.detail, code=self.code, field=self.field)
        return JSONResponse(
            body.model_dump(exclude_none=True), status_code=self.status, headers=self.headers
        )


def invalid(detail: str, field: str | None) -> ApiError:
    return ApiError(400, detail, "invalid", field=field)


def not_found(detail: str = NOT_FOUND) -> ApiError:
    return ApiError(404, detail, "not_found")


def from_query_error(exc: QueryError, fields: Iterable[str]) -> ApiError:
    """A query module error as a response: 404 for NotFoundError, else 400 naming the first
    of ``fields`` the message mentions (its messages start with the argument's name)."""
    if isinstance(exc, NotFoundError):
        return not_found()
    field = field_in(str(exc), fields)
    return invalid(str(exc), _QUERY_NAMES.get(field, field) if field else None)


def field_in(message: str, fields: Iterable[str]) -> str | None:
    """The request field a message names first (``page`` does not match ``page_size``)."""
    found = [
        (m.start(), name)
        for name in fields
        if (m := re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message))
    ]
    return min(found)[1] if found else None


# Names the query module uses for arguments the API calls differently.
_QUERY_NAMES = {"invoice_id": "id"}


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = tuple(first.get("loc", ()))  # ("query", "page"), ("body", "is_active"), ("body",)
    field = str(loc[1]) if len(loc) > 1 else ("body" if loc == ("body",) else None)
    # The message never quotes the input: it may be a password or an API key.
    message = str(first.get("msg", "invalid input"))
    if first.get("type") == "json_invalid":
        field, message = "body", "the request body is not valid JSON"
    elif first.get("type") == "missing":
        message = "this field is required"
    return invalid(f"{field}: {message}" if field else message, field).response()


def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


def _query_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueryError)
    return from_query_error(exc, []).response()


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error = not_found()
    elif exc.status_code == 405:
        error = ApiError(405, "Method not allowed.", "method_not_allowed", headers=exc.headers)
    else:
        error = ApiError(exc.status_code, str(exc.detail), "error", headers=exc.headers)
    return error.response()


def _busy(_: Request, exc: Exception) -> JSONResponse:
    return ApiError(
        503,
        "the warehouse is busy with a sync: try again shortly",
        "warehouse_busy",
        headers={"Retry-After": "10"},
    ).response()


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return ApiError(500, "Internal server error.", "server_error").response()


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(QueryError, _query_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(WarehouseBusyError, _busy)
    app.add_exception_handler(Exception, _unexpected)


# Declared on every route, so the OpenAPI schema names each error the route can give.
def responses(*codes: int) -> dict[int | str, dict[str, object]]:
    described = {
        400: "Invalid input (the field is named)",
        401: "Missing, expired or invalid token",
        403: "Role or feature flag does not allow this",
        404: "Not found (also another company's row)",
        503: "The warehouse is busy with a sync",
    }
    return {c: {"model": ErrorBody, "description": described[c]} for c in codes}


def single_query_values(request: Request) -> None:
    """Every query parameter here is a single value: ``?search=a&search=b`` is a 400, not
    silently the last one."""
    params = request.query_params
    for name in params:
        if len(params.getlist(name)) > 1:
            raise invalid(f"{name}: given more than once", name)
