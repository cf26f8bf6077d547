"""Warnings about the data itself, per company partition: they never fail or block a run
(a check that raises does: it fails the company checks' step, see ``company_checks.py``)."""

import dagster as dg
import duckdb

from invoice_pipeline.orchestration.checks import CompanyCheck, invoice_offenders, result

WARN = dg.AssetCheckSeverity.WARN

# Billingo rounds every line (HUF to whole forints, cash payments to 5 or 10), and the VAT
# summary once per rate, so invoice totals may differ from the line sums by up to about one
# unit per line. HUF: max(5, lines) forints; other currencies: one cent per line.
_TOLERANCE = """CASE WHEN v.currency = 'HUF' THEN greatest(5, v.item_count)
                     ELSE 0.01 * greatest(1, v.item_count) END"""


def line_totals_match(con: duckdb.DuckDBPyConnection, company_id: int) -> dg.AssetCheckResult:
    """Net, VAT and gross totals equal the sums of the lines within per-line rounding (WARN)."""
    sql = f"""
        SELECT v.source, v.invoice_number, v.currency, v.item_count,
               v.net_total - l.net AS net_diff, v.vat_total - l.vat AS vat_diff,
               v.gross_total - l.gross AS gross_diff, {_TOLERANCE} AS tolerance,
               greatest(abs(coalesce(net_diff, 0)), abs(coalesce(vat_diff, 0)),
                        abs(coalesce(gross_diff, 0))) AS worst
        FROM invoices v JOIN (
            SELECT source, invoice_id, sum(net_amount) AS net, sum(vat_amount) AS vat,
                   sum(gross_amount) AS gross
            FROM invoice_items WHERE company_id = $c GROUP BY source, invoice_id
        ) l ON l.source = v.source AND l.invoice_id = v.invoice_id
        WHERE v.company_id = $c AND v.item_count > 0"""
    total, examples = invoice_offenders(
        con, f"SELECT * FROM ({sql}) WHERE worst > tolerance", company_id, "worst DESC"
    )
    return result(company_id, total, examples, "invoices' totals differ from their lines", WARN)


def partner_tax_numbers(con: duckdb.DuckDBPyConnection, company_id: int) -> dg.AssetCheckResult:
    """Hungarian partners' tax numbers, where given, look like NNNNNNNN-N-NN (WARN)."""
    sql = """SELECT source, invoice_number, partner_name, partner_tax_number FROM invoices
             WHERE company_id = $c AND partner_country_code = 'HU'
               AND coalesce(partner_tax_number, '') <> ''
               AND NOT regexp_full_match(partner_tax_number, '[0-9]{8}-[0-9]-[0-9]{2}')"""
    total, examples = invoice_offenders(con, sql, company_id, "source, invoice_number")
    return result(
        company_id, total, examples, "Hungarian partners' tax numbers are malformed", WARN
    )


QUALITY_CHECKS = [
    CompanyCheck(line_totals_match, "invoices"),
    CompanyCheck(partner_tax_numbers, "invoices"),
]
