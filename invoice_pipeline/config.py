"""Where the warehouse, the secret key and the source base URLs come from (environment).

The HTTP policy reads its own variables in ``http/policy.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_DB_PATH = Path("data/warehouse.duckdb")
DEFAULT_KEY_FILE = Path("data/secret.key")
DEFAULT_BASE_URLS = {
    "billingo": "https://api.billingo.hu/v3",
    "billx": "https://billx.hu/api/billx",
}
BASE_URL_ENV = {"billingo": "BILLINGO_BASE_URL", "billx": "BILLX_BASE_URL"}


class ConfigError(ValueError):
    """An environment variable holds a value this program cannot use."""


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


# Rows per row group of the rows a warehouse writer adds (DuckDB's default is 122,880; 2,048
# is its minimum). When a transaction inserts several whole row groups, DuckDB writes them to
# the file, compressed, as they are inserted ("optimistic writes") rather than into the WAL
# first and compressed again at a checkpoint, which with large row groups rewrites the
# table's last, growing row group every time. A batch of four row groups of documents (8,192,
# so 8,200 in pages of 100) leaves almost nothing for the WAL. Loading 100,000 documents
# (DuckDB time only, pages already fetched): 4.1 s, file 65 MB; with DuckDB's row groups
# and batches of 5,000: 7.5 s, 43 MB; 2,048-row groups and batches of 5,000: 5.0 s, 101 MB.
# An ATTACH option, not stored in the file: every writer connection uses it
# (``warehouse/connection.py``).
ROW_GROUP_SIZE = 2048
DEFAULT_BATCH_DOCUMENTS = 4 * ROW_GROUP_SIZE

# Row groups of a read snapshot (``warehouse/snapshot.py``), written in one go and then only
# read. With DuckDB's 122,880 a company of 100,000 invoices fits one row group, held in
# memory and written at the end; with 32,768 full row groups are written as the copy goes.
# Publishing 100,000 invoices: 0.86 -> 0.57 s, 27 MB less memory; 1,000,000: 12.3 -> 11.9 s.
SNAPSHOT_ROW_GROUP_SIZE = 32768


def batch_documents() -> int:
    """Documents per write transaction: ``INVOICE_PIPELINE_BATCH_DOCUMENTS``, else 8,192
    (``DEFAULT_BATCH_DOCUMENTS``)."""
    name = "INVOICE_PIPELINE_BATCH_DOCUMENTS"
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return DEFAULT_BATCH_DOCUMENTS
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {raw!r}")
    return int(raw)


_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|[KMGT]i?B)", re.IGNORECASE)


def duckdb_memory() -> str:
    """DuckDB's memory limit for a connection: ``INVOICE_PIPELINE_DUCKDB_MEMORY``, else 256MB."""
    return _memory("INVOICE_PIPELINE_DUCKDB_MEMORY", "256MB")


def duckdb_publish_memory() -> str:
    """DuckDB's memory limit while a read snapshot is published:
    ``INVOICE_PIPELINE_DUCKDB_PUBLISH_MEMORY``, else 192MB. Publishing sorts the invoices and
    lines, up to 100,000 invoices at a time (``warehouse/snapshot_ranges.py``), beyond this
    limit spilling: a full sync of 200,000 documents peaked at 515 MB with 256MB, 450 MB with
    192MB (one sort of everything, an earlier session). 128MB was too little for a warehouse
    of 10,000,000 lines (out of memory)."""
    return _memory("INVOICE_PIPELINE_DUCKDB_PUBLISH_MEMORY", "192MB")


def duckdb_check_memory() -> str:
    """DuckDB's memory limit while a sync's data checks run (``orchestration/checks.py``):
    ``INVOICE_PIPELINE_DUCKDB_CHECK_MEMORY``, else 64MB. The checks group and join the
    invoices and lines of the company, at most about 100,000 invoices at a time
    (``checks.invoice_offenders``), so they need the same memory whatever the company's size. The
    checks alone, RSS above the connection's start: 500,000 synced documents 147 MB at
    128MB in one go, 84 MB at 64MB in rounds (100,000: 68 and 57 MB, one round);
    2,000,000 invoices with 10,000,000 lines run out of memory at 64MB in one go and
    finish in rounds (146 MB, 3.9 s)."""
    return _memory("INVOICE_PIPELINE_DUCKDB_CHECK_MEMORY", "64MB")


def duckdb_load_memory() -> str:
    """DuckDB's memory limit while a sync loads its batches:
    ``INVOICE_PIPELINE_DUCKDB_LOAD_MEMORY``, else 128MB. Loading needs a batch's staging
    tables, not a large buffer pool; more is faster (512MB: about a quarter less DuckDB time,
    with fewer page faults) but costs about 180 MB, which a 500 MB budget does not have:
    with 128MB a full sync of 100,000 documents peaks at about 435 MB."""
    return _memory("INVOICE_PIPELINE_DUCKDB_LOAD_MEMORY", "128MB")


def check_sync_settings() -> None:
    """Read every setting a sync uses after it has started (batch size, DuckDB's limits for
    loading, checking and publishing): a bad one raises, naming its variable, before the
    sync has fetched or taken anything."""
    batch_documents()
    duckdb_load_memory()
    duckdb_check_memory()
    duckdb_publish_memory()


def _memory(name: str, default: str) -> str:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if not _MEMORY.fullmatch(raw):
        raise ConfigError(f"{name} must be a size such as 256MB or 1GB, got {raw!r}")
    return raw
