"""Generated Billingo partners and the issuing organization, with the live API's habits:
``""`` for unset strings, ``custom_billing_settings`` full of nulls, ``"--"`` as an account
number now and then."""

from __future__ import annotations

import random
import unicodedata
from typing import Any

from invoice_pipeline.emulators import billingo_names as n

Doc = dict[str, Any]
_LEGAL_FORMS = [form for form, weight in n.LEGAL_FORMS for _ in range(weight)]
_COUNTIES = [*range(1, 21), 41, 42, 43, 44, 51]
_NULL_BILLING_SETTINGS = {
    "payment_method": None,
    "document_form": None,
    "due_days": None,
    "document_currency": None,
    "template_language_code": None,
    "discount": None,
}


def tax_number(rng: random.Random) -> str:
    vat_code = rng.choice((2, 2, 2, 2, 1, 3, 4, 5))
    return f"{rng.randrange(10_000_000, 33_000_000)}-{vat_code}-{rng.choice(_COUNTIES):02d}"


def bank_account(rng: random.Random) -> tuple[str, str]:
    """(Hungarian 3x8 account number, its IBAN with real mod-97 check digits)."""
    digits = "".join(str(rng.randrange(10)) for _ in range(24))
    check = 98 - int(digits + "173000") % 97  # "HU" = 17 30, then "00"
    return f"{digits[:8]}-{digits[8:16]}-{digits[16:]}", f"HU{check:02d}{digits}"


def address(rng: random.Random) -> Doc:
    city, low, high = rng.choice(n.CITIES)
    return {
        "country_code": "HU",
        "post_code": str(rng.randint(low, high)),
        "city": city,
        "address": f"{rng.choice(n.STREETS)} {rng.randint(1, 120)}.",
    }


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = [w for w in "".join(c if c.isalnum() else " " for c in ascii_name).split()]
    return "-".join(words[:2]) or "partner"


def _name(rng: random.Random) -> tuple[str, str]:
    """(name, kind) where kind is company, institution or person."""
    x = rng.random()
    if x < 0.08:
        return rng.choice(n.INSTITUTIONS), "institution"
    if x < 0.13:
        return f"{rng.choice(n.NAME_FIRST[13:24])} {rng.choice(n.GIVEN_NAMES)}", "person"
    parts = [rng.choice(n.NAME_FIRST), rng.choice(n.NAME_SECOND), rng.choice(n.NAME_THIRD)]
    return " ".join(p for p in parts if p) + " " + rng.choice(_LEGAL_FORMS), "company"


def make_partner(rng: random.Random, partner_id: int) -> tuple[Doc, Doc]:
    """(``Partner`` as served by /partners and as the deprecated ``partner`` embed,
    ``DocumentPartner`` with the same data)."""
    name, kind = _name(rng)
    addr = address(rng)
    taxcode, tax_type = "", "NO_TAX_NUMBER"
    if kind != "person":
        taxcode, tax_type = tax_number(rng), "HAS_TAX_NUMBER"
    if rng.random() < 0.02:
        addr = {**addr, "country_code": "AT", "city": "Wien", "post_code": "1010"}
        taxcode, tax_type = "", "FOREIGN"
    x = rng.random()
    emails = [] if x < 0.1 else [f"szamlazas@{_slug(name)}.hu"]
    if x > 0.95:
        emails.append(f"penzugy@{_slug(name)}.hu")
    account_number, iban = "", ""
    if rng.random() < 0.25:
        account_number, iban = bank_account(rng)
    elif rng.random() < 0.05:
        account_number = "--"
    phone = f"+36 {rng.choice((1, 20, 30, 70))} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    short: Doc = {
        "id": partner_id,
        "name": name,
        "address": addr,
        "emails": emails,
        "taxcode": taxcode,
        "iban": iban,
        "swift": "",
        "account_number": account_number,
        "phone": phone if rng.random() < 0.4 else "",
        "tax_type": tax_type,
    }
    full: Doc = {
        **short,
        "general_ledger_number": "",
        "custom_billing_settings": dict(_NULL_BILLING_SETTINGS),
        "group_member_tax_number": "",
        "internal_comment": "",
        "partner_shipping": None,
    }
    return full, {**short, "partner_shipping": None}


def make_organization(rng: random.Random) -> dict[str, Doc]:
    """The issuing company, keyed by document currency (EUR documents use its EUR account)."""
    name = f"{rng.choice(n.NAME_FIRST)} {rng.choice(n.NAME_SECOND)} Kft."
    tax = tax_number(rng)
    org: Doc = {
        "name": name,
        "tax_number": tax,
        "address": address(rng),
        "small_taxpayer": False,
        "ev_number": "",
        "eu_tax_number": "HU" + tax[:8],
        "cash_settled": False,
    }
    out = {}
    for currency, account_name in (("HUF", "Fő számla"), ("EUR", "EUR devizaszámla")):
        number, iban = bank_account(rng)
        account = {
            "id": rng.randrange(10_000, 99_999),
            "name": account_name,
            "account_number": number,
            "account_number_iban": iban,
            "swift": "" if currency == "HUF" else "OTPVHUHB",
        }
        out[currency] = {**org, "bank_account": account}
    return out
