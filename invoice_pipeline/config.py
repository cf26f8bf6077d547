"""Where the warehouse, the secret key and the source base URLs come from (environment).

The HTTP policy reads its own variables in ``http/policy.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB_PATH = Path("data/warehouse.duckdb")
DEFAULT_KEY_FILE = Path("data/secret.key")
DEFAULT_BASE_URLS = {
    "billingo": "https://api.billingo.hu/v3",
    "billx": "https://billx.hu/api/billx",
}
BASE_URL_ENV = {"billingo": "BILLINGO_BASE_URL", "billx": "BILLX_BASE_URL"}


def db_path() -> Path:
    """The warehouse file: ``INVOICE_PIPELINE_DB``, else ``data/warehouse.duckdb``."""
    return Path(os.environ.get("INVOICE_PIPELINE_DB") or DEFAULT_DB_PATH)


def key_file() -> Path:
    """Where a local secret key lives when ``INVOICE_PIPELINE_SECRET_KEY`` is unset."""
    return Path(os.environ.get("INVOICE_PIPELINE_SECRET_KEY_FILE") or DEFAULT_KEY_FILE)


def secret_key_env() -> str | None:
    return os.environ.get("INVOICE_PIPELINE_SECRET_KEY") or None


def default_base_url(source: str) -> str:
    """Base URL when a company's settings name none: the source's env var, else the public API."""
    return os.environ.get(BASE_URL_ENV[source]) or DEFAULT_BASE_URLS[source]


def batch_documents() -> int:
    """Documents per write transaction: ``INVOICE_PIPELINE_BATCH_DOCUMENTS``, else 5,000."""
    return int(os.environ.get("INVOICE_PIPELINE_BATCH_DOCUMENTS") or 5000)
