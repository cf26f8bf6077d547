"""A large synthetic warehouse for the read-side benchmark, generated straight in DuckDB.

    python -m benchmarks.warehouse_generator --invoices 1000000 --lines-per-invoice 10 \
        --companies 20 --out /tmp/qbench/warehouse.duckdb [--json]

Every row comes from set-based SQL (``INSERT INTO ... SELECT ... FROM range(...)``; no
Python loop over rows, no API), through ``Warehouse(path).write()`` so the schema is the
real one, then ``Warehouse(path).publish()`` builds the read snapshot exactly as after a
sync. Values are pseudo-random but deterministic: every draw is ``hash(row key, salt,
seed)``, so the same arguments give the same data.

What the data looks like:
- companies of very different sizes: company 1 holds 40% of all invoices (the worst case
  for a company-scoped query), the others follow a power law (company k ~ k^-1.5);
- invoice dates over ``--years`` years up to ``--end-date``, slightly more recent than old;
  invoice ids one global sequence in date order (as Billingo's), invoice numbers
  ``<PREFIX>-<year>-<6-digit sequence per company and year>`` (``SZLA-2025-000123``);
- ~``--partners-per-company`` partners per company, a few partners with many invoices,
  Hungarian-looking tax numbers ``NNNNNNNN-N-NN`` (5% of partners, private persons, none);
- types, payment methods, VAT codes, units and languages weighted like the Billingo
  emulator; payment status from the due date: outstanding / paid / partially paid when not
  yet due, mostly paid with some expired / outstanding / none when past due, ``none`` for
  proformas and drafts;
- 92% HUF (whole forints), 8% EUR (cents, with a conversion rate);
- ``--lines-per-invoice`` lines per invoice on average (1 .. 2n-1, exactly n on average):
  line net = quantity x unit price, VAT per line, gross = net + VAT, and the invoice totals
  are the sums of its lines; ``item_count`` is the number of lines;
- the ``partners`` and ``products`` catalogues the invoices refer to;
- ``company_settings`` per company (no API key), and ``--sync-logs-per-company`` daily
  sync logs per company whose latest is COMPLETED, so the snapshot shows every company.

``raw_documents`` stays empty: the read side never reads it (a synced warehouse is larger
by the raw JSON). The generator's DuckDB may use ``--memory-limit`` (default 2GB); publish
uses the warehouse's own setting (``INVOICE_PIPELINE_DUCKDB_MEMORY``, default 256MB), as
after a real sync.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from invoice_pipeline import config
from invoice_pipeline.warehouse import Warehouse, snapshot
from invoice_pipeline.warehouse.schema import MONEY, RATE

SOURCE = "billingo"
PREFIXES = ["SZLA", "INV", "E-ABC", "BP", "KSZ", "E-KFT", "ITC", "E-MEDK"]


def company_sizes(invoices: int, companies: int) -> list[int]:
    """Invoices per company: company 1 gets 40%, company k >= 2 a share ~ k^-1.5."""
    if companies == 1:
        return [invoices]
    weights = [k**-1.5 for k in range(2, companies + 1)]
    total = sum(weights)
    rest = [int(invoices * 0.6 * w / total) for w in weights]
    return [invoices - sum(rest), *rest]


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: list[str], draw: str) -> str:
    """One of ``values``, uniformly, from a UBIGINT ``draw``."""
    return f"{_sql_list(values)}[1 + ({draw} % {len(values)})::INTEGER]"


def _weighted(choices: list[tuple[str, float]], u: str) -> str:
    """A CASE over cumulative weights for a uniform [0, 1) draw ``u``."""
    total = sum(w for _, w in choices)
    acc, parts = 0.0, []
    for value, weight in choices[:-1]:
        acc += weight / total
        parts.append(f"WHEN {u} < {acc:.6f} THEN '{value}'")
    return f"CASE {' '.join(parts)} ELSE '{choices[-1][0]}' END"


DOC_TYPES = [("invoice", 84), ("receipt", 5), ("proforma", 5), ("advance", 3), ("draft", 3)]
PAYMENT_METHODS = [
    ("wire_transfer", 70), ("cash", 12), ("bankcard", 12), ("online_bankcard", 2),
    ("cash_on_delivery", 1), ("barion", 1), ("szep_card", 1), ("paypal", 1),
]  # fmt: skip
VATS = [
    ("27%", 74), ("5%", 6), ("18%", 4), ("0%", 3), ("AAM", 5), ("5,5%", 1), ("TAM", 4), ("EU", 3),
]  # fmt: skip
VAT_RATE = "CASE vat WHEN '27%' THEN 0.27 WHEN '5%' THEN 0.05 WHEN '18%' THEN 0.18 "
VAT_RATE += "WHEN '5,5%' THEN 0.055 ELSE 0 END"
ENTITLEMENT = "CASE vat WHEN 'AAM' THEN 'AAM' WHEN 'TAM' THEN 'TAM' WHEN 'EU' THEN 'EUE' "
ENTITLEMENT += "WHEN '0%' THEN 'EAM' END"
LANGUAGES = [("hu", 92), ("en", 6), ("de", 2)]
NAV_STATUS = [("done", 93), ("received", 2), ("processing", 1), ("technical_error", 1),
              ("validation_ok", 2), ("nav_warn", 1)]  # fmt: skip
UNITS = [("db", 70), ("óra", 15), ("hó", 10), ("kg", 5)]
NAME_FIRST = [
    "Alfa", "Béta", "Duna", "Tisza", "Pannon", "Hungária", "Mátra", "Balaton", "Bakony",
    "Kárpát", "Zemplén", "Hortobágy", "Rába", "Dráva", "Szamos", "Körös", "Maros", "Vértes",
    "Pilis", "Bükk", "Mecsek", "Őrség", "Jászság", "Kiskun", "Nyír", "Tokaj", "Villány",
    "Sió", "Zagyva", "Ipoly",
]  # fmt: skip
NAME_SECOND = [
    "Kereskedelmi", "Szolgáltató", "Építőipari", "Informatikai", "Logisztikai", "Ingatlan",
    "Mezőgazdasági", "Vendéglátó", "Gépészeti", "Tanácsadó", "Nyomdai", "Elektronikai",
    "Faipari", "Fuvarozó", "Kertészeti", "Orvosi", "Oktatási", "Reklám", "Biztonsági", "Energia",
]  # fmt: skip
NAME_SUFFIX = ["Kft.", "Kft.", "Kft.", "Zrt.", "Bt.", "Kkt."]
PERSON_LAST = ["Nagy", "Kovács", "Tóth", "Szabó", "Horváth", "Varga", "Kiss", "Molnár", "Németh"]
PERSON_FIRST = ["László", "István", "Anna", "Katalin", "Zoltán", "Éva", "Gábor", "Mária"]
CITIES = [
    ("Budapest", 1011, 1239), ("Budapest", 1011, 1239), ("Budapest", 1011, 1239),
    ("Győr", 9021, 9030), ("Szeged", 6720, 6729), ("Debrecen", 4024, 4034),
    ("Pécs", 7621, 7636), ("Miskolc", 3525, 3535), ("Nyíregyháza", 4400, 4405),
    ("Kecskemét", 6000, 6008), ("Székesfehérvár", 8000, 8020), ("Szombathely", 9700, 9701),
    ("Szolnok", 5000, 5008), ("Eger", 3300, 3300), ("Sopron", 9400, 9400),
    ("Veszprém", 8200, 8200),
]  # fmt: skip
STREETS = [
    "Fő utca", "Kossuth Lajos utca", "Petőfi Sándor utca", "Rákóczi út", "Ady Endre út",
    "Széchenyi tér", "Dózsa György út", "Váci út", "Arany János utca", "Andrássy út",
]  # fmt: skip
COUNTIES = [f"{n:02d}" for n in [*range(1, 21), 41, 42, 43, 44]]
PRODUCTS = [
    "Tanácsadói díj", "Szoftverlicenc", "Karbantartás", "Szállítási díj", "Irodaszer csomag",
    "Fejlesztési munkadíj", "Rendszerüzemeltetés", "Nyomtatópatron", "Helyszíni kiszállás",
    "Képzés", "Tárhelyszolgáltatás", "Csomagolóanyag", "Alkatrész", "Bérleti díj",
    "Takarítás", "Rendezvényszervezés", "Étkezési szolgáltatás", "Fordítás", "Hirdetés",
    "Tervezési díj",
]  # fmt: skip
COMMENTS = [
    "Köszönjük, hogy minket választott!", "Szerződés szerint.", "Teljesítésigazolás alapján.",
    "A számla összegét kérjük a megadott bankszámlára utalni.",
]  # fmt: skip


def _macros(seed: int) -> list[str]:
    """``h(key, salt)``: a deterministic UBIGINT; ``u(key, salt)``: uniform in [0, 1)."""
    return [
        f"CREATE OR REPLACE TEMP MACRO h(k, s) AS hash(k, s, {seed})",
        f"CREATE OR REPLACE TEMP MACRO u(k, s) AS (hash(k, s, {seed}) % 1000000007) / 1000000007.0",
    ]


def _companies_sql(sizes: list[int], first_sync: str) -> str:
    """gen_companies: one row per company with its invoice range and its own details."""
    ids = list(range(1, len(sizes) + 1))
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return f"""
        CREATE TEMP TABLE gen_companies AS
        SELECT company_id, n, start,
               {_sql_list(PREFIXES)}[1 + (company_id - 1) % {len(PREFIXES)}] AS prefix,
               'Bench ' || {_sql_list(NAME_FIRST)}[1 + (company_id - 1) % {len(NAME_FIRST)}]
                   || ' ' || lpad(company_id::VARCHAR, 2, '0') || ' Kft.' AS company_name,
               lpad((20000000 + company_id * 104729 % 79999999)::VARCHAR, 8, '0')
                   || '-2-' || lpad((1 + company_id % 20)::VARCHAR, 2, '0') AS tax_number,
               '1170' || lpad((company_id * 7)::VARCHAR, 4, '0') || '-'
                   || lpad((h(company_id, 901) % 100000000)::VARCHAR, 8, '0')
                   || '-00000000' AS account_number,
               TIMESTAMPTZ '{first_sync}' + INTERVAL (company_id) HOUR AS created_at
        FROM (SELECT unnest({ids}) AS company_id, unnest({sizes}) AS n,
                     unnest({starts}) AS start)
    """


def _partners_sql(partners: int) -> str:
    """gen_partners: ``partners`` per company, ``p`` 0-based within the company."""
    city = f"{_sql_list([c[0] for c in CITIES])}[1 + (h(gp, 24) % {len(CITIES)})::INTEGER]"
    low = f"{[c[1] for c in CITIES]}[1 + (h(gp, 24) % {len(CITIES)})::INTEGER]"
    high = f"{[c[2] for c in CITIES]}[1 + (h(gp, 24) % {len(CITIES)})::INTEGER]"
    person = f"{_pick(PERSON_LAST, 'h(gp, 21)')} || ' ' || {_pick(PERSON_FIRST, 'h(gp, 22)')}"
    business = (
        f"{_pick(NAME_FIRST, 'h(gp, 21)')} || ' ' || {_pick(NAME_SECOND, 'h(gp, 22)')} || ' ' "
        f"|| {_pick(NAME_SUFFIX, 'h(gp, 23)')}"
    )
    return f"""
        CREATE TEMP TABLE gen_partners AS
        SELECT company_id, p, 5000000 + gp AS partner_id,
               CASE WHEN private THEN {person} ELSE {business} END AS partner_name,
               CASE WHEN NOT private THEN
                   lpad((10000000 + gp * 7919 % 90000000)::VARCHAR, 8, '0') || '-'
                   || (1 + h(gp, 25) % 5)::VARCHAR || '-' || {_pick(COUNTIES, "h(gp, 26)")}
               END AS partner_tax_number,
               'HU' || lpad((h(gp, 27) % 100)::VARCHAR, 2, '0')
                   || lpad((h(gp, 28) % 1000000000000)::VARCHAR, 12, '0')
                   || lpad((h(gp, 29) % 1000000000000)::VARCHAR, 12, '0') AS partner_iban,
               'OTPVHUHB' AS partner_swift,
               lpad((10000000 + h(gp, 30) % 90000000)::VARCHAR, 8, '0') || '-'
                   || lpad((h(gp, 31) % 100000000)::VARCHAR, 8, '0') AS partner_account_number,
               'HU' AS partner_country_code,
               ({low} + h(gp, 32) % ({high} - {low} + 1))::VARCHAR AS partner_post_code,
               {city} AS partner_city,
               {_pick(STREETS, "h(gp, 33)")} || ' ' || (1 + h(gp, 34) % 120)::VARCHAR || '.'
                   AS partner_address,
               'szamlazas@partner' || (5000000 + gp)::VARCHAR || '.hu' AS partner_email
        FROM (SELECT c.company_id, p, (c.company_id - 1) * {partners} + p AS gp,
                     u((c.company_id - 1) * {partners} + p, 20) < 0.05 AS private
              FROM (SELECT company_id, unnest(range({partners})) AS p FROM gen_companies) c)
    """


def _invoices_sql(total: int, lines: int, partners: int, end: date, days: int) -> str:
    """gen_inv: the invoice skeleton (everything but ids, numbers and totals)."""
    half = lines - 1  # item counts are lines +- (0 .. lines - 1), paired so the mean is exact
    return f"""
        CREATE TEMP TABLE gen_inv AS
        WITH base AS (
            SELECT company_id, n, start + i AS g, i FROM (
                SELECT company_id, n, start, unnest(range(n)) AS i FROM gen_companies)
        ), dated AS (
            SELECT *,
                   DATE '{end}' - {days - 1} + greatest(0, least({days - 1},
                       floor({days} * pow((i + u(g, 1)) / n, 0.8))::INTEGER
                       - (h(g, 2) % 4)::INTEGER)) AS invoice_date,
                   CASE WHEN g = {total - 1} AND {total} % 2 = 1 THEN {lines}
                        WHEN g % 2 = 0 THEN {lines} + ((h(g // 2, 3) % {2 * half + 1})::INTEGER
                                                       - {half})
                        ELSE {lines} - ((h(g // 2, 3) % {2 * half + 1})::INTEGER - {half})
                   END AS item_count,
                   CASE WHEN u(g, 4) < 0.08 THEN 'EUR' ELSE 'HUF' END AS currency,
                   {_weighted(DOC_TYPES, "u(g, 5)")} AS type,
                   {_weighted(PAYMENT_METHODS, "u(g, 6)")} AS payment_method,
                   floor({partners} * pow(u(g, 9), 2.5))::INTEGER AS p
            FROM base
        ), due AS (
            SELECT *,
                   invoice_date + CASE WHEN payment_method = 'wire_transfer'
                                       THEN [8, 15, 30][1 + (h(g, 10) % 3)::INTEGER]
                                       ELSE 0 END AS due_date
            FROM dated
        ), status AS (
            SELECT *,
                   CASE WHEN type IN ('proforma', 'draft') THEN 'none'
                        WHEN payment_method <> 'wire_transfer' THEN 'paid'
                        WHEN due_date >= DATE '{end}' THEN
                            CASE WHEN u(g, 7) < 0.75 THEN 'outstanding'
                                 WHEN u(g, 7) < 0.95 THEN 'paid' ELSE 'partially_paid' END
                        ELSE CASE WHEN u(g, 7) < 0.86 THEN 'paid'
                                  WHEN u(g, 7) < 0.92 THEN 'expired'
                                  WHEN u(g, 7) < 0.94 THEN 'outstanding'
                                  WHEN u(g, 7) < 0.96 THEN 'partially_paid'
                                  ELSE 'none' END
                   END AS payment_status
            FROM due
        )
        SELECT *,
               CASE WHEN payment_status NOT IN ('paid', 'partially_paid') THEN NULL
                    WHEN payment_method <> 'wire_transfer' THEN invoice_date
                    ELSE least(DATE '{end}', invoice_date
                               + (h(g, 11) % (due_date - invoice_date + 10))::INTEGER)
               END AS paid_date,
               type = 'invoice' AND u(g, 8) < 0.01 AS cancelled
        FROM status
    """


def _numbered_sql() -> str:
    """Ids in one global date order (as Billingo's); numbers per company and year."""
    return """
        CREATE TEMP TABLE gen_numbered AS
        SELECT v.*,
               10000000 + row_number() OVER (ORDER BY invoice_date, g) AS invoice_id,
               c.prefix || '-' || year(invoice_date)::VARCHAR || '-' || lpad(
                   row_number() OVER (PARTITION BY company_id, year(invoice_date)
                                      ORDER BY invoice_date, g)::VARCHAR, 6, '0')
                   AS invoice_number
        FROM gen_inv v JOIN gen_companies c USING (company_id)
    """


def _items_sql() -> str:
    unit = _weighted(UNITS, "u(company_id * 1000 + product, 41)")
    price = "exp(ln(500) + u(company_id * 1000 + product, 42) * (ln(300000) - ln(500)))"
    return f"""
        INSERT INTO invoice_items
        SELECT '{SOURCE}', company_id, invoice_id, line_no, product_id, name, quantity, unit,
               net_unit_price, net_amount, vat_amount, net_amount + vat_amount, vat,
               {ENTITLEMENT}, comment
        FROM (
            SELECT *, CAST(CASE WHEN places = 0 THEN round(net_amount * ({VAT_RATE}), 0)
                                ELSE round(net_amount * ({VAT_RATE}), 2) END AS {MONEY})
                          AS vat_amount
            FROM (
                SELECT *, CAST(CASE WHEN places = 0 THEN round(quantity * net_unit_price, 0)
                                    ELSE round(quantity * net_unit_price, 2) END AS {MONEY})
                              AS net_amount
                FROM (
                    SELECT company_id, invoice_id, line_no,
                           company_id * 1000 + product AS product_id,
                           {_sql_list(PRODUCTS)}[1 + product % {len(PRODUCTS)}] AS name,
                           unit, currency,
                           CAST(CASE unit WHEN 'db' THEN 1 + h(k, 43) % 10
                                          WHEN 'óra' THEN (1 + h(k, 43) % 16) * 0.5
                                          WHEN 'hó' THEN 1
                                          ELSE round(0.5 + u(k, 43) * 50, 3) END
                                AS {MONEY}) AS quantity,
                           CAST(CASE WHEN currency = 'HUF' THEN round({price}, 0)
                                     ELSE round({price} / 390, 2) END AS {MONEY})
                                AS net_unit_price,
                           CASE WHEN currency = 'HUF' THEN 0 ELSE 2 END AS places,
                           {_weighted(VATS, "u(k, 44)")} AS vat,
                           CASE WHEN u(k, 45) < 0.03 THEN 'Megrendelés szerint' END AS comment
                    FROM (
                        SELECT *, {unit} AS unit
                        FROM (
                            SELECT *, g * 64 + line_no AS k,
                                   floor(200 * pow(u(g * 64 + line_no, 40), 2))::INTEGER
                                       AS product
                            FROM (SELECT company_id, invoice_id, g, currency,
                                         unnest(range(1, item_count + 1)) AS line_no
                                  FROM gen_numbered))))))
    """


def _invoices_insert_sql() -> str:
    return f"""
        INSERT INTO invoices BY NAME
        SELECT '{SOURCE}' AS source, v.company_id, v.invoice_id, v.invoice_number, v.type,
               CAST(NULL AS VARCHAR) AS correction_type, v.cancelled,
               100000 + v.company_id AS block_id,
               v.payment_status, v.payment_status AS payment_status_raw,
               v.payment_method, v.payment_method AS payment_method_raw, v.currency,
               CAST(CASE WHEN v.currency = 'HUF' THEN 1
                         ELSE round(380 + u(v.g, 12) * 30, 2) END AS {RATE}) AS conversion_rate,
               CAST(t.net AS {MONEY}) AS net_total, CAST(t.vat AS {MONEY}) AS vat_total,
               CAST(t.gross AS {MONEY}) AS gross_total,
               v.invoice_date, v.invoice_date AS fulfillment_date, v.due_date, v.paid_date,
               c.company_name AS organization_name, c.tax_number AS organization_tax_number,
               c.account_number AS organization_bank_account_number,
               'HU42' || replace(c.account_number, '-', '')
                   AS organization_bank_account_iban,
               'OTPVHUHB' AS organization_swift,
               p.partner_id, p.partner_name, p.partner_tax_number, p.partner_iban,
               p.partner_swift, p.partner_account_number, p.partner_country_code,
               p.partner_post_code, p.partner_city, p.partner_address, p.partner_email,
               CASE WHEN u(v.g, 13) < 0.3 THEN {_pick(COMMENTS, "h(v.g, 14)")} END AS comment,
               {_weighted(NAV_STATUS, "u(v.g, 15)")} AS online_szamla_status,
               {_weighted(LANGUAGES, "u(v.g, 16)")} AS language,
               u(v.g, 17) < 0.4 AS electronic,
               v.item_count,
               md5(v.invoice_id::VARCHAR || '/' || v.g::VARCHAR) AS content_hash,
               v.invoice_date::TIMESTAMPTZ + INTERVAL 20 HOUR AS first_seen_at,
               CASE WHEN v.paid_date IS NULL THEN v.invoice_date ELSE v.paid_date END
                   ::TIMESTAMPTZ + INTERVAL 20 HOUR AS last_changed_at
        FROM gen_numbered v
        JOIN gen_companies c USING (company_id)
        JOIN gen_partners p ON p.company_id = v.company_id AND p.p = v.p
        JOIN (SELECT invoice_id, sum(net_amount) AS net, sum(vat_amount) AS vat,
                     sum(gross_amount) AS gross
              FROM invoice_items GROUP BY invoice_id) t ON t.invoice_id = v.invoice_id
    """


def _partners_insert_sql() -> str:
    """The partner catalogue the invoices were written to (as a sync stores it)."""
    return f"""
        INSERT INTO partners BY NAME
        SELECT '{SOURCE}' AS source, p.company_id, p.partner_id, p.partner_name AS name,
               p.partner_tax_number AS tax_number, p.partner_email AS email,
               '+36 1 ' || lpad((h(p.partner_id, 60) % 10000000)::VARCHAR, 7, '0') AS phone,
               p.partner_country_code AS country_code, p.partner_post_code AS post_code,
               p.partner_city AS city, p.partner_address AS address,
               c.created_at AS created_at,
               json_object('id', p.partner_id, 'name', p.partner_name,
                           'taxcode', p.partner_tax_number) AS payload,
               md5(p.partner_id::VARCHAR) AS content_hash,
               c.created_at AS first_seen_at, c.created_at AS last_changed_at
        FROM gen_partners p JOIN gen_companies c USING (company_id)
    """


_PRODUCTS = 200  # per company; invoice lines use product 0 .. 199 (a few much more often)


def _products_insert_sql() -> str:
    unit = _weighted(UNITS, "u(company_id * 1000 + product, 41)")
    price = "exp(ln(500) + u(company_id * 1000 + product, 42) * (ln(300000) - ln(500)))"
    return f"""
        INSERT INTO products BY NAME
        SELECT '{SOURCE}' AS source, company_id, company_id * 1000 + product AS product_id,
               {_sql_list(PRODUCTS)}[1 + product % {len(PRODUCTS)}] AS name, {unit} AS unit,
               CAST(round({price}, 0) AS {MONEY}) AS net_unit_price, '27%' AS vat,
               NULL AS description,
               json_object('id', company_id * 1000 + product) AS payload,
               md5((company_id * 1000 + product)::VARCHAR) AS content_hash,
               created_at AS first_seen_at, created_at AS last_changed_at
        FROM (SELECT company_id, created_at, unnest(range({_PRODUCTS})) AS product
              FROM gen_companies)
    """


def _settings_sql() -> str:
    return f"""
        INSERT INTO company_settings BY NAME
        SELECT company_id, '{SOURCE}' AS source, company_name,
               NULL AS api_key_encrypted, NULL AS base_url, TRUE AS is_active, created_at,
               created_at AS updated_at, (SELECT max(completed_at) FROM sync_logs s
                   WHERE s.company_id = c.company_id) AS last_sync_time
        FROM gen_companies c
    """


def _sync_logs_sql(per_company: int, end: date) -> str:
    """Daily syncs ending on ``end``: the latest COMPLETED, a few earlier FAILED/PARTIAL."""
    return f"""
        INSERT INTO sync_logs BY NAME
        SELECT row_number() OVER (ORDER BY started_at, company_id) AS id, *
        FROM (
            SELECT company_id, '{SOURCE}' AS source,
                   CASE WHEN d = {per_company - 1} THEN 'MANUAL' ELSE 'AUTOMATIC' END AS sync_type,
                   CASE WHEN d = {per_company - 1} THEN 'full' ELSE 'incremental' END AS mode,
                   status,
                   processed AS invoices_processed,
                   CASE WHEN d = {per_company - 1} THEN processed ELSE 0 END
                       AS invoices_created,
                   CASE WHEN d = {per_company - 1} THEN 0 ELSE processed // 50 END
                       AS invoices_updated,
                   CASE WHEN d = {per_company - 1} THEN 0 ELSE processed - processed // 50 END
                       AS invoices_skipped,
                   CASE WHEN d = {per_company - 1} THEN items ELSE 0 END AS items_extracted,
                   1 + processed // 100 AS api_calls_made,
                   seconds AS sync_duration_seconds,
                   started_at,
                   started_at + to_microseconds(CAST(seconds * 1e6 AS BIGINT)) AS completed_at,
                   CASE status WHEN 'FAILED' THEN '[{{"error": "HTTP 503 from the API"}}]'
                               WHEN 'PARTIAL' THEN '[{{"document": 1, "error": "invalid"}}]'
                               ELSE '[]' END AS errors,
                   'bench-' || company_id::VARCHAR || '-' || d::VARCHAR AS run_id,
                   'bench' AS host, 1 AS pid
            FROM (
                SELECT c.company_id, d, c.n AS processed, items,
                       CASE WHEN d > 0 AND u(c.company_id * 100000 + d, 50) < 0.03 THEN 'FAILED'
                            WHEN d > 0 AND u(c.company_id * 100000 + d, 50) < 0.05
                                THEN 'PARTIAL'
                            ELSE 'COMPLETED' END AS status,
                       CASE WHEN d = {per_company - 1} THEN c.n / 2000.0 + 1
                            ELSE 1 + u(c.company_id * 100000 + d, 51) * 20 END AS seconds,
                       TIMESTAMPTZ '{end} 02:00:00+00' - INTERVAL (d) DAY
                           + INTERVAL (c.company_id) MINUTE AS started_at
                FROM (SELECT *, unnest(range({per_company})) AS d FROM gen_companies) c
                JOIN (SELECT company_id, count(*) AS items FROM invoice_items GROUP BY ALL) i
                    USING (company_id)))
    """


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _remove(out: Path) -> None:
    siblings = [out.with_name(out.name + suffix) for suffix in (".wal", ".lock", ".want")]
    for path in [out, *siblings, snapshot.link_path(out),
                 *out.parent.glob(f"{out.stem}.read.*.duckdb")]:  # fmt: skip
        path.unlink(missing_ok=True)


def generate(
    out: Path | str,
    *,
    invoices: int = 1_000_000,
    lines_per_invoice: int = 10,
    companies: int = 20,
    partners_per_company: int = 5000,
    sync_logs_per_company: int = 100,
    years: int = 3,
    end_date: date = date(2025, 12, 31),
    seed: int = 1,
    memory_limit: str = "2GB",
    publish: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Write the warehouse at ``out`` (and publish its read snapshot); returns the figures."""
    out = Path(out)
    if invoices < companies or companies < 1 or lines_per_invoice < 1:
        raise ValueError("need at least one invoice per company and one line per invoice")
    if lines_per_invoice > 32:
        raise ValueError("at most 32 lines per invoice on average")
    if out.exists() or snapshot.link_path(out).exists():
        if not force:
            raise FileExistsError(f"{out} exists: pass --force to replace it")
        _remove(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sizes = company_sizes(invoices, companies)
    days = (end_date - end_date.replace(year=end_date.year - years)).days
    first_day = end_date - timedelta(days=days - 1)
    first_sync = f"{end_date.replace(year=end_date.year - years)} 08:00:00+00"
    steps: dict[str, float] = {}
    started = time.perf_counter()
    with Warehouse(out).write() as con:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        for statement in _macros(seed):
            con.execute(statement)
        plan = [
            ("companies", _companies_sql(sizes, first_sync)),
            ("partners", _partners_sql(partners_per_company)),
            ("invoice_skeleton", _invoices_sql(invoices, lines_per_invoice,
                                               partners_per_company, end_date, days)),
            ("numbering", _numbered_sql()),
            ("invoice_items", _items_sql()),
            ("invoices", _invoices_insert_sql()),
            ("partners_products", _partners_insert_sql() + ";" + _products_insert_sql()),
            ("sync_logs", _sync_logs_sql(sync_logs_per_company, end_date)),
            ("company_settings", _settings_sql()),
            # the sequence continues after the generated ids, as if they had come from it
            ("sequence", f"SELECT max(nextval('sync_log_ids')) "
                         f"FROM range({companies * sync_logs_per_company})"),
        ]  # fmt: skip
        for name, sql in plan:
            t0 = time.perf_counter()
            con.execute(sql)
            steps[name] = round(time.perf_counter() - t0, 3)
        for table in ("gen_numbered", "gen_inv", "gen_partners", "gen_companies"):
            con.execute(f"DROP TABLE temp.{table}")
        t0 = time.perf_counter()
    steps["commit"] = round(time.perf_counter() - t0, 3)
    generation_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "out": str(out),
        "invoices": invoices,
        "lines_per_invoice": lines_per_invoice,
        "companies": companies,
        "company_invoices": {str(i + 1): n for i, n in enumerate(sizes)},
        "partners_per_company": partners_per_company,
        "sync_logs_per_company": sync_logs_per_company,
        "date_range": [str(first_day), str(end_date)],
        "generator_memory_limit": memory_limit,
        "generation_seconds": round(generation_s, 3),
        "generation_steps_seconds": steps,
        "warehouse_bytes": _size(out),
    }
    if publish:
        t0 = time.perf_counter()
        target = Warehouse(out).publish()
        result["publish_seconds"] = round(time.perf_counter() - t0, 3)
        result["publish_memory_limit"] = config.duckdb_publish_memory()
        result["snapshot"] = str(target)
        result["snapshot_bytes"] = _size(target)
    import duckdb

    with duckdb.connect(str(out), read_only=True) as con:
        result["invoice_items"] = con.execute("SELECT count(*) FROM invoice_items").fetchone()[0]  # type: ignore[index]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def report(r: dict[str, Any]) -> str:
    mb = 1024 * 1024
    lines = [
        f"{r['invoices']:,} invoices, {r['invoice_items']:,} lines, {r['companies']} companies "
        f"(largest {max(r['company_invoices'].values()):,} invoices) -> {r['out']}",
        f"generation {r['generation_seconds']:.1f} s (memory_limit {r['generator_memory_limit']})"
        f": " + ", ".join(f"{k} {v:.1f}" for k, v in r["generation_steps_seconds"].items()),
        f"warehouse {r['warehouse_bytes'] / mb:,.0f} MB",
    ]
    if "publish_seconds" in r:
        lines.append(
            f"publish {r['publish_seconds']:.1f} s (memory_limit {r['publish_memory_limit']}), "
            f"snapshot {r['snapshot_bytes'] / mb:,.0f} MB"
        )
    lines.append(f"peak RSS {r['peak_rss_mb']:,.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--lines-per-invoice", type=int, default=10)
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--partners-per-company", type=int, default=5000)
    parser.add_argument("--sync-logs-per-company", type=int, default=100)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2025, 12, 31))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--memory-limit", default="2GB", help="the generator's DuckDB limit")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="replace an existing warehouse")
    parser.add_argument("--no-publish", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = generate(
            args.out, invoices=args.invoices, lines_per_invoice=args.lines_per_invoice,
            companies=args.companies, partners_per_company=args.partners_per_company,
            sync_logs_per_company=args.sync_logs_per_company, years=args.years,
            end_date=args.end_date, seed=args.seed, memory_limit=args.memory_limit,
            publish=not args.no_publish, force=args.force,
        )  # fmt: skip
    except (FileExistsError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
