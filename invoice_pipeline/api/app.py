"""The ASGI app: ``create_app()`` wires the routers of every source, auth and errors.

Every read goes through the query module (the published read snapshot, so requests never
wait for a running sync); ``trigger_sync`` runs the Dagster job through ``run_sync``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from invoice_pipeline import config, crypto
from invoice_pipeline.api import errors
from invoice_pipeline.api.routes_auth import auth_router
from invoice_pipeline.api.routes_invoices import invoices_router
from invoice_pipeline.api.routes_settings import settings_router
from invoice_pipeline.api.routes_sync_logs import sync_logs_router
from invoice_pipeline.api.tokens import TokenSigner
from invoice_pipeline.settings_store import SOURCES
from invoice_pipeline.sync import service as sync_service

TITLE = "invoice_pipeline API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Billingo and BillX invoices synced into the warehouse: settings, manual syncs, "
    "invoices and sync logs of the caller's company. Errors are `{detail, code}`."
)


def display_name(source: str) -> str:
    """How a source is named in summaries and messages ("BillX")."""
    registered = sync_service.SOURCES.get(source)
    return registered.display if registered is not None else source.title()


def create_app(db_path: Path | str | None = None) -> FastAPI:
    """The API on the warehouse at ``db_path`` (default: ``INVOICE_PIPELINE_DB``).

    The sync job always writes to ``INVOICE_PIPELINE_DB``, so a different ``db_path`` is
    refused rather than serving one warehouse and syncing another.
    """
    path = Path(db_path) if db_path is not None else config.db_path()
    if path.absolute() != config.db_path().absolute():
        raise ValueError(
            f"db_path {path} differs from INVOICE_PIPELINE_DB ({config.db_path()}), "
            "where the sync job writes"
        )
    crypto.ensure_key_file()
    crypto.load_cipher()  # a misconfigured secret key fails here, not at the first POST
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        dependencies=[Depends(errors.single_query_values)],
    )
    app.state.db_path = path
    app.state.signer = TokenSigner.from_env()
    errors.install(app)
    app.include_router(auth_router())
    for source in SOURCES:
        display = display_name(source)
        app.include_router(settings_router(source, display))
        app.include_router(invoices_router(source, display))
        app.include_router(sync_logs_router(source, display))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema without its 422 responses: validation errors are 400s here."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=TITLE, version=VERSION, description=DESCRIPTION, routes=app.routes
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
