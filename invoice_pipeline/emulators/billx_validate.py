"""Validation of BillX POST bodies, Laravel style: every bad field at once, keyed by its path
(``items.0.quantity``) with "The ... " messages; a valid body becomes a normalized dict.

Numbers must be JSON numbers (read as ``Decimal``, never float); numeric strings and booleans
are refused. ``null`` counts as absent for optional fields.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from invoice_pipeline.emulators.billx_invoice import INVOICE_TYPES, PAYMENT_METHODS, VAT_RATES

Doc = dict[str, Any]
Errors = dict[str, list[str]]
TAX_NUMBER = re.compile(r"\d{8}-\d-\d{2}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CURRENCY = re.compile(r"[A-Z]{3}")
MAX_QUANTITY = Decimal(1_000_000)
MAX_PRICE = Decimal(1_000_000_000_000)


def decimals(value: Decimal) -> int:
    """How many decimal places a finite Decimal really has (1.50 -> 1, 100 -> 0), exactly: no
    context rounding, so 1e-999999999 counts all its places."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return 0 if not any(digits) else max(0, -(exponent + trailing))


class Checker:
    """Collects the errors of one body; each reader returns the clean value or None."""

    def __init__(self, body: Doc) -> None:
        self.body = body
        self.errors: Errors = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message.format(self.label(path)))

    @staticmethod
    def label(path: str) -> str:
        return path.replace("_", " ")

    def string(self, obj: Doc, key: str, path: str, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None or (required and isinstance(value, str) and not value.strip()):
            if required:
                self.fail(path, "The {} field is required.")
            return None
        if not isinstance(value, str):
            self.fail(path, "The {} must be a string.")
            return None
        if len(value) > 255 and key != "notes":
            self.fail(path, "The {} must not be greater than 255 characters.")
            return None
        return value

    def number(
        self,
        obj: Doc,
        key: str,
        path: str,
        places: int,
        low: Decimal | int,
        high: Decimal,
        low_inclusive: bool = True,
    ) -> Decimal | None:
        """A required JSON number within [low, high] (``low`` exclusive unless inclusive) with
        at most ``places`` decimals."""
        value = obj.get(key)
        if value is None:
            self.fail(path, "The {} field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            self.fail(path, "The {} must be a number.")
            return None
        value = Decimal(value)
        if not value.is_finite():
            self.fail(path, "The {} must be a number.")
            return None
        if low_inclusive and value < low:
            self.fail(path, f"The {{}} must be at least {low}.")
        elif not low_inclusive and value <= low:
            self.fail(path, f"The {{}} must be greater than {low}.")
        elif value > high:
            self.fail(path, f"The {{}} must not be greater than {high}.")
        elif decimals(value) > places:
            self.fail(path, f"The {{}} must have 0-{places} decimal places.")
        else:  # exact (it has at most ``places`` decimals), and never in exponent notation
            return value.quantize(Decimal(1).scaleb(-places))
        return None

    def choice(self, obj: Doc, key: str, path: str, allowed: tuple[Any, ...], default: Any) -> Any:
        value = obj.get(key)
        if value is None:
            return default
        ok = not isinstance(value, bool) and isinstance(value, str | int | Decimal)
        if ok and value in allowed:
            return allowed[allowed.index(value)]  # 27.0 -> 27
        self.fail(path, "The selected {} is invalid.")
        return None

    def ref(self, obj: Doc, key: str, path: str, known: Any, required: bool = False) -> Any:
        """An id that must exist in ``known``."""
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(path, "The {} field is required.")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "The {} must be an integer.")
        elif value not in known:
            self.fail(path, "The selected {} is invalid.")
        else:
            return value
        return None

    def day(self, key: str) -> str | None:
        value = self.body.get(key)
        if value is None:
            self.fail(key, "The {} field is required.")
            return None
        if isinstance(value, str) and ISO_DATE.fullmatch(value):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                self.fail(key, "The {} is not a valid date.")
                return None
        self.fail(key, "The {} does not match the format Y-m-d.")
        return None


def check_customer(body: Doc) -> tuple[Doc, Errors]:
    c = Checker(body)
    out: Doc = {"name": c.string(body, "name", "name", required=True)}
    email = c.string(body, "email", "email")
    if email is not None and not EMAIL.fullmatch(email):
        c.fail("email", "The {} must be a valid email address.")
    out["email"] = email
    tax = body.get("tax_number")
    if tax is not None and not (isinstance(tax, str) and TAX_NUMBER.fullmatch(tax)):
        c.fail("tax_number", "The tax number must look like 12345678-1-23.")
    out["tax_number"] = tax
    for key in ("phone", "postal_code", "city", "address"):
        out[key] = c.string(body, key, key)
    out["country"] = c.choice(body, "country", "country", ("HU",), "HU")
    return out, c.errors


def check_product(body: Doc) -> tuple[Doc, Errors]:
    c = Checker(body)
    out: Doc = {
        "name": c.string(body, "name", "name", required=True),
        "unit": c.string(body, "unit", "unit") or "db",
        "price": c.number(body, "price", "price", 2, 0, MAX_PRICE),
        "vat_rate": c.choice(body, "vat_rate", "vat_rate", VAT_RATES, 27),
        "description": c.string(body, "description", "description") or "",
    }
    return out, c.errors


def check_invoice(body: Doc, customers: Any, products: Any, series: Any) -> tuple[Doc, Errors]:
    """The normalized invoice request (items as dicts with Decimal quantity and unit_price)."""
    c = Checker(body)
    out: Doc = {
        "customer_id": c.ref(body, "customer_id", "customer_id", customers, required=True),
        "invoice_type": c.choice(body, "invoice_type", "invoice_type", INVOICE_TYPES, "invoice"),
        "block_id": c.ref(body, "block_id", "block_id", series),
        "fulfillment_date": c.day("fulfillment_date"),
        "due_date": c.day("due_date"),
        "payment_method": c.choice(body, "payment_method", "payment_method", PAYMENT_METHODS, None),
        "currency": c.string(body, "currency", "currency") or "HUF",
        "exchange_rate": Decimal(1),
        "notes": c.string(body, "notes", "notes") or "",
        "items": [],
    }
    if body.get("payment_method") is None:
        c.fail("payment_method", "The {} field is required.")
    if not CURRENCY.fullmatch(out["currency"]):
        c.fail("currency", "The {} must be a 3-letter ISO 4217 code.")
    if body.get("exchange_rate") is not None:
        out["exchange_rate"] = c.number(
            body, "exchange_rate", "exchange_rate", 6, 0, MAX_PRICE, low_inclusive=False
        )
    items = body.get("items")
    if not items:
        c.fail("items", "The {} field is required.")
    elif not isinstance(items, list):
        c.fail("items", "The {} must be an array.")
    else:
        for i, item in enumerate(items):
            path = f"items.{i}"
            if not isinstance(item, dict):
                c.fail(path, "The {} must be an object.")
                continue
            out["items"].append(
                {
                    "product_id": c.ref(item, "product_id", f"{path}.product_id", products),
                    "name": c.string(item, "name", f"{path}.name", required=True),
                    "unit": c.string(item, "unit", f"{path}.unit") or "db",
                    "quantity": c.number(
                        item, "quantity", f"{path}.quantity", 4, 0, MAX_QUANTITY, False
                    ),
                    "unit_price": c.number(
                        item, "unit_price", f"{path}.unit_price", 2, 0, MAX_PRICE
                    ),
                    "vat_rate": c.choice(item, "vat_rate", f"{path}.vat_rate", VAT_RATES, 27),
                }
            )
    return out, c.errors
