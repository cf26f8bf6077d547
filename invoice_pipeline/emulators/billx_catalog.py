"""The fixed parts of a generated BillX account: Hungarian customers (names, places and tax
numbers from the Billingo vocabulary) and the ~30 product catalogue."""

from __future__ import annotations

import random
import unicodedata
from typing import Any

from invoice_pipeline.emulators import billingo_names as n
from invoice_pipeline.emulators.billingo_data import Picker
from invoice_pipeline.emulators.billingo_partners import address, tax_number

Doc = dict[str, Any]
VAT_RATE = Picker([(27, 80), (5, 8), (18, 5), (0, 7)])
EXTRA_PRODUCTS = [
    ("Webfejlesztés", "óra", 9000, 25000),
    ("Domain regisztráció", "db", 3000, 9000),
    ("Grafikai tervezés", "óra", 8000, 20000),
    ("Helyszíni támogatás", "óra", 10000, 25000),
]
DESCRIPTIONS = {"óra": "Óradíj", "hó": "Havi díj", "db": "Darabár", "kg": "Kilogrammár"}
_LEGAL_FORMS = [form for form, weight in n.LEGAL_FORMS for _ in range(weight)]


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = "".join(c if c.isalnum() else " " for c in plain).split()
    return "-".join(words[:2]) or "ugyfel"


def make_customer(rng: random.Random, customer_id: int, created_at: str) -> Doc:
    """A company (mostly), an institution or a private person (no tax number)."""
    x = rng.random()
    person = False
    if x < 0.07:
        name = rng.choice(n.INSTITUTIONS)
    elif x < 0.15:
        name, person = f"{rng.choice(n.NAME_FIRST[13:24])} {rng.choice(n.GIVEN_NAMES)}", True
    else:
        words = [rng.choice(n.NAME_FIRST), rng.choice(n.NAME_SECOND), rng.choice(n.NAME_THIRD)]
        form = rng.choice(_LEGAL_FORMS)
        name = " ".join(w for w in words if w) + " " + form
    addr = address(rng)
    email = f"szamlazas@{_slug(name)}.hu" if rng.random() < 0.9 else None
    phone = f"+36{rng.choice((1, 20, 30, 70))}{rng.randint(1000000, 9999999)}"
    return {
        "id": customer_id,
        "name": name,
        "email": email,
        "tax_number": None if person else tax_number(rng),
        "phone": phone if rng.random() < 0.7 else None,
        "postal_code": addr["post_code"],
        "city": addr["city"],
        "address": addr["address"],
        "country": "HU",
        "created_at": created_at,
    }


def make_products(rng: random.Random) -> dict[int, Doc]:
    out = {}
    for pid, (name, unit, low, high) in enumerate([*n.PRODUCTS, *EXTRA_PRODUCTS], start=1):
        price = int(round(rng.uniform(low, high), -1 if high > 5000 else 0))
        description = f"{DESCRIPTIONS[unit]}: {name.lower()}" if rng.random() < 0.6 else ""
        vat = VAT_RATE(rng.random())
        out[pid] = {
            "id": pid,
            "name": name,
            "unit": unit,
            "price": price,
            "vat_rate": vat,
            "description": description,
        }
    return out
