"""The warehouse schema: every table, created and migrated idempotently.

Natural keys are (source, company_id, <source id>). There are no PRIMARY KEY constraints
on the large tables: uniqueness is enforced by the MERGE statements that load them (and
checked by asset checks), which keeps bulk loads fast.
Money is DECIMAL(18,4) (exact, room for unit prices with more than 2 decimals), rates are
DECIMAL(18,6), dates are DATE, timestamps TIMESTAMPTZ (stored as UTC instants).
Raw payloads are compressed with zstd: a third of the checkpoint work of DuckDB's default
(FSST) for these 4 KB JSON documents, and a fifth of the file on the emulator's. It applies
to warehouses created since; an older ``raw_documents`` keeps its compression (DuckDB has
no ALTER for it).
"""

from __future__ import annotations

import duckdb

SCHEMA_VERSION = 6

MONEY = "DECIMAL(18,4)"
RATE = "DECIMAL(18,6)"

TABLES: dict[str, str] = {
    "company_settings": """
        company_id        INTEGER NOT NULL,
        source            VARCHAR NOT NULL,
        company_name      VARCHAR NOT NULL,
        api_key_encrypted VARCHAR,
        base_url          VARCHAR,
        is_active         BOOLEAN NOT NULL DEFAULT TRUE,
        created_at        TIMESTAMPTZ NOT NULL,
        updated_at        TIMESTAMPTZ NOT NULL,
        last_sync_time    TIMESTAMPTZ,
        nightly_sync      BOOLEAN NOT NULL DEFAULT TRUE,
        frequent_sync     BOOLEAN NOT NULL DEFAULT FALSE,
        PRIMARY KEY (company_id, source)
    """,
    "raw_documents": """
        source          VARCHAR NOT NULL,
        company_id      INTEGER NOT NULL,
        document_id     BIGINT NOT NULL,
        payload         JSON NOT NULL USING COMPRESSION zstd,
        content_hash    VARCHAR NOT NULL,
        normalized_hash VARCHAR,
        first_seen_at   TIMESTAMPTZ NOT NULL,
        last_changed_at TIMESTAMPTZ NOT NULL,
        listing_hash    VARCHAR,
        deleted_at      TIMESTAMPTZ
    """,
    "invoices": f"""
        source                 VARCHAR NOT NULL,
        company_id             INTEGER NOT NULL,
        invoice_id             BIGINT NOT NULL,
        invoice_number         VARCHAR,
        type                   VARCHAR,
        correction_type        VARCHAR,
        cancelled              BOOLEAN,
        block_id               BIGINT,
        payment_status         VARCHAR,
        payment_status_raw     VARCHAR,
        payment_method         VARCHAR,
        payment_method_raw     VARCHAR,
        currency               VARCHAR,
        conversion_rate        {RATE},
        net_total              {MONEY},
        vat_total              {MONEY},
        gross_total            {MONEY},
        invoice_date           DATE,
        fulfillment_date       DATE,
        due_date               DATE,
        paid_date              DATE,
        organization_name      VARCHAR,
        organization_tax_number VARCHAR,
        organization_bank_account_number VARCHAR,
        organization_bank_account_iban VARCHAR,
        organization_swift     VARCHAR,
        partner_id             BIGINT,
        partner_name           VARCHAR,
        partner_tax_number     VARCHAR,
        partner_iban           VARCHAR,
        partner_swift          VARCHAR,
        partner_account_number VARCHAR,
        partner_country_code   VARCHAR,
        partner_post_code      VARCHAR,
        partner_city           VARCHAR,
        partner_address        VARCHAR,
        partner_email          VARCHAR,
        comment                VARCHAR,
        online_szamla_status   VARCHAR,
        language               VARCHAR,
        electronic             BOOLEAN,
        item_count             INTEGER NOT NULL,
        content_hash           VARCHAR NOT NULL,
        first_seen_at          TIMESTAMPTZ NOT NULL,
        last_changed_at        TIMESTAMPTZ NOT NULL,
        deleted_at             TIMESTAMPTZ
    """,
    "invoice_items": f"""
        source          VARCHAR NOT NULL,
        company_id      INTEGER NOT NULL,
        invoice_id      BIGINT NOT NULL,
        line_no         INTEGER NOT NULL,
        product_id      BIGINT,
        name            VARCHAR,
        quantity        {MONEY},
        unit            VARCHAR,
        net_unit_price  {MONEY},
        net_amount      {MONEY},
        vat_amount      {MONEY},
        gross_amount    {MONEY},
        vat             VARCHAR,
        entitlement     VARCHAR,
        comment         VARCHAR
    """,
    "partners": """
        source          VARCHAR NOT NULL,
        company_id      INTEGER NOT NULL,
        partner_id      BIGINT NOT NULL,
        name            VARCHAR,
        tax_number      VARCHAR,
        email           VARCHAR,
        phone           VARCHAR,
        country_code    VARCHAR,
        post_code       VARCHAR,
        city            VARCHAR,
        address         VARCHAR,
        created_at      TIMESTAMPTZ,
        payload         JSON NOT NULL,
        content_hash    VARCHAR NOT NULL,
        first_seen_at   TIMESTAMPTZ NOT NULL,
        last_changed_at TIMESTAMPTZ NOT NULL
    """,
    "products": f"""
        source          VARCHAR NOT NULL,
        company_id      INTEGER NOT NULL,
        product_id      BIGINT NOT NULL,
        name            VARCHAR,
        unit            VARCHAR,
        net_unit_price  {MONEY},
        vat             VARCHAR,
        description     VARCHAR,
        payload         JSON NOT NULL,
        content_hash    VARCHAR NOT NULL,
        first_seen_at   TIMESTAMPTZ NOT NULL,
        last_changed_at TIMESTAMPTZ NOT NULL
    """,
    "sync_logs": """
        id                    BIGINT NOT NULL PRIMARY KEY,
        company_id            INTEGER NOT NULL,
        source                VARCHAR NOT NULL,
        sync_type             VARCHAR NOT NULL,
        mode                  VARCHAR NOT NULL DEFAULT 'full',
        status                VARCHAR NOT NULL,
        invoices_processed    INTEGER NOT NULL DEFAULT 0,
        invoices_created      INTEGER NOT NULL DEFAULT 0,
        invoices_updated      INTEGER NOT NULL DEFAULT 0,
        invoices_skipped      INTEGER NOT NULL DEFAULT 0,
        items_extracted       INTEGER NOT NULL DEFAULT 0,
        api_calls_made        INTEGER NOT NULL DEFAULT 0,
        sync_duration_seconds DOUBLE,
        started_at            TIMESTAMPTZ NOT NULL,
        completed_at          TIMESTAMPTZ,
        errors                JSON NOT NULL DEFAULT '[]',
        run_id                VARCHAR,
        host                  VARCHAR,
        pid                   INTEGER,
        invoices_deleted      INTEGER NOT NULL DEFAULT 0,
        mode_reason           VARCHAR,
        changes_since         TIMESTAMPTZ
    """,
    "page_fingerprints": """
        source         VARCHAR NOT NULL,
        company_id     INTEGER NOT NULL,
        page_key       VARCHAR NOT NULL,
        fingerprint    VARCHAR NOT NULL,
        volatile_spans BLOB,
        ids            BLOB,
        total          BIGINT,
        last_page      BIGINT,
        current_page   BIGINT,
        position       BIGINT,
        PRIMARY KEY (source, company_id, page_key)
    """,
    "company_features": """
        company_id  INTEGER NOT NULL,
        feature     VARCHAR NOT NULL,
        enabled     BOOLEAN NOT NULL,
        updated_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (company_id, feature)
    """,
    "users": """
        username      VARCHAR NOT NULL PRIMARY KEY,
        password_hash VARCHAR NOT NULL,
        role          VARCHAR NOT NULL,
        company_id    INTEGER NOT NULL,
        is_active     BOOLEAN NOT NULL DEFAULT TRUE,
        created_at    TIMESTAMPTZ NOT NULL
    """,
    "schema_meta": """
        version INTEGER NOT NULL
    """,
}

# What the read snapshot (warehouse/snapshot.py) copies per (source, company), and the
# order it stores rows in: a company's invoices together, newest first, exactly as readers
# page them (queries/invoices.py), so that a page's days are a few adjacent row groups; an
# invoice's lines together (the detail orders them itself; fewer sort keys publish faster).
SNAPSHOT_DATA: dict[str, str] = {
    "invoices": "company_id, invoice_date DESC NULLS LAST, invoice_id DESC, source",
    "invoice_items": "company_id, invoice_id",
    "partners": "company_id, source, partner_id",
    "products": "company_id, source, product_id",
}

# Tables the snapshot copies whole and current (with their order); ``company_settings`` is
# copied too, with ``has_api_key`` in place of the encrypted key.
SNAPSHOT_CURRENT: dict[str, str] = {
    "sync_logs": "id",
    "company_features": "company_id, feature",
    "users": "username",
}

# The analysts' stable interface, created in every read snapshot: no raw payloads, hashes,
# encrypted keys or process bookkeeping. Columns are only ever added here, never renamed.
# Invoices a full sync found deleted at the source (``sync/deletions.py``) are left out of
# v_invoices and v_invoice_items and listed, with when, in v_deleted_invoices.
VIEWS: dict[str, str] = {
    "v_invoices": """CREATE OR REPLACE VIEW v_invoices AS
        SELECT i.* EXCLUDE (content_hash, first_seen_at, last_changed_at, deleted_at),
               c.company_name, i.first_seen_at AS synced_at, i.last_changed_at AS changed_at
        FROM invoices i
        LEFT JOIN (SELECT company_id, min(company_name) AS company_name
                   FROM company_settings GROUP BY ALL) c USING (company_id)
        WHERE i.deleted_at IS NULL""",
    "v_invoice_items": """CREATE OR REPLACE VIEW v_invoice_items AS
        SELECT l.*, i.invoice_number, i.invoice_date, i.currency, i.cancelled, i.type
        FROM invoice_items l
        JOIN invoices i USING (source, company_id, invoice_id)
        WHERE i.deleted_at IS NULL""",
    "v_deleted_invoices": """CREATE OR REPLACE VIEW v_deleted_invoices AS
        SELECT i.* EXCLUDE (content_hash, first_seen_at, last_changed_at),
               i.first_seen_at AS synced_at, i.last_changed_at AS changed_at
        FROM invoices i WHERE i.deleted_at IS NOT NULL""",
    "v_partners": """CREATE OR REPLACE VIEW v_partners AS
        SELECT * EXCLUDE (payload, content_hash) FROM partners""",
    "v_products": """CREATE OR REPLACE VIEW v_products AS
        SELECT * EXCLUDE (payload, content_hash) FROM products""",
    "v_sync_logs": """CREATE OR REPLACE VIEW v_sync_logs AS
        SELECT * EXCLUDE (host, pid) FROM sync_logs""",
    "v_settings": """CREATE OR REPLACE VIEW v_settings AS
        SELECT company_id, source, company_name, has_api_key, is_active,
               created_at, updated_at, last_sync_time, nightly_sync, frequent_sync
        FROM company_settings""",
}

SEQUENCES = ["CREATE SEQUENCE IF NOT EXISTS sync_log_ids START 1"]

# Later schema versions append (version, [statements]) here; each runs once, in order.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (2, ["ALTER TABLE raw_documents ADD COLUMN IF NOT EXISTS listing_hash VARCHAR"]),
    # v3: deletion detection (documents a complete full sync no longer saw) and what an
    # incremental sync did: sync_logs.mode ('full' | 'incremental') is there since v1
    (
        3,
        [
            "ALTER TABLE raw_documents ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ",
            "ALTER TABLE invoices ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ",
            "ALTER TABLE sync_logs ADD COLUMN IF NOT EXISTS invoices_deleted INTEGER DEFAULT 0",
            "ALTER TABLE sync_logs ALTER COLUMN invoices_deleted SET NOT NULL",
            "ALTER TABLE sync_logs ADD COLUMN IF NOT EXISTS mode_reason VARCHAR",
            "ALTER TABLE sync_logs ADD COLUMN IF NOT EXISTS changes_since TIMESTAMPTZ",
        ],
    ),
    # v4: per-company switches of the two schedules (DuckDB adds a NOT NULL column only in
    # two steps; existing rows take the default: nightly on, frequent off)
    (
        4,
        [
            "ALTER TABLE company_settings ADD COLUMN IF NOT EXISTS nightly_sync BOOLEAN "
            "DEFAULT TRUE",
            "ALTER TABLE company_settings ALTER COLUMN nightly_sync SET NOT NULL",
            "ALTER TABLE company_settings ADD COLUMN IF NOT EXISTS frequent_sync BOOLEAN "
            "DEFAULT FALSE",
            "ALTER TABLE company_settings ALTER COLUMN frequent_sync SET NOT NULL",
        ],
    ),
    # v5: where a page's volatile spans were, its ids (both little-endian int64 BLOBs) and
    # envelope, so a page the next sync receives unchanged is not parsed again
    # (``sync/page_memory.py``); older rows have none and are parsed
    (
        5,
        [
            f"ALTER TABLE page_fingerprints ADD COLUMN IF NOT EXISTS {column}"
            for column in (
                "volatile_spans BLOB",
                "ids BLOB",
                "total BIGINT",
                "last_page BIGINT",
                "current_page BIGINT",
            )
        ],
    ),
    # v6: each page's order in the crawl that stored it, so the next sync reads the pages
    # back a window at a time (``sync/page_windows.py``); older rows have none
    (6, ["ALTER TABLE page_fingerprints ADD COLUMN IF NOT EXISTS position BIGINT"]),
]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table, sequence and index if missing, then run pending migrations."""
    for statement in SEQUENCES:
        con.execute(statement)
    for name, columns in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
    row = con.execute("SELECT max(version) FROM schema_meta").fetchone()
    current = row[0] if row and row[0] is not None else None
    if current is None:
        con.execute("INSERT INTO schema_meta VALUES (?)", [SCHEMA_VERSION])
        return
    for version, statements in MIGRATIONS:
        if version > current:
            for statement in statements:
                con.execute(statement)
            con.execute("UPDATE schema_meta SET version = ?", [version])
