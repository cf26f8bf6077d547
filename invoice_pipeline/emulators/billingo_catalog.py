"""The fixed parts of one generated account: document blocks (invoice number sequences),
partners, products and the issuing organization, pre-rendered where documents embed them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from invoice_pipeline.emulators import billingo_names as n
from invoice_pipeline.emulators.billingo_json import DocRecord, encode, encode_str
from invoice_pipeline.emulators.billingo_partners import make_organization, make_partner

Doc = dict[str, Any]
# (product id, name as JSON, unit, vat, sku as JSON, ean as JSON, net unit price in HUF cents)
Product = tuple[str, str, str, str, str, str, int]
_FIRST_ID = 111_000_000


@dataclass
class Block:
    """A DocumentBlock: its own prefix and a sequence per year, e.g. ``INV-2025-244``."""

    id: int
    prefix: str
    counters: dict[int, int] = field(default_factory=dict)

    def next_number(self, year: int) -> str:
        seq = self.counters.get(year, 0) + 1
        self.counters[year] = seq
        return f"{self.prefix}-{year}-{seq}"


@dataclass
class AccountData:
    """Generator state of one account; ``records`` in creation order (oldest first)."""

    organizations: dict[str, bytes]  # rendered DocumentOrganization by currency
    partners: list[Doc]  # ``Partner`` shape, creation order
    partner_js: list[bytes]  # ``partners`` rendered (the deprecated ``partner`` embed)
    doc_partner_js: list[bytes]  # the same partners in ``DocumentPartner`` shape, rendered
    products: list[Product]
    blocks: dict[str, list[Block]]
    next_id: int
    records: list[DocRecord] = field(default_factory=list)


def make_account(rng: random.Random, partner_count: int, vat_of: Any) -> AccountData:
    """``vat_of(x)`` picks a product's VAT from a uniform ``x``."""
    prefixes = rng.sample(n.ORG_INVOICE_PREFIXES, 2)
    block_ids = rng.sample(range(200_000, 300_000), 5)
    blocks = {
        "invoice": [Block(block_ids[0], prefixes[0]), Block(block_ids[1], prefixes[1])],
        "proforma": [Block(block_ids[2], "DBK")],
        "receipt": [Block(block_ids[3], "NY")],
        "draft": [Block(block_ids[4], "PISZ")],
    }
    pid = 1_800_000_000 + rng.randrange(10_000_000)
    partners, partner_js, doc_partner_js = [], [], []
    for _ in range(partner_count):
        pid += rng.randint(1, 5000)
        full, short = make_partner(rng, pid)
        partners.append(full)
        partner_js.append(encode(full))
        doc_partner_js.append(encode(short))
    products: list[Product] = []
    prod_id = 18_000_000 + rng.randrange(100_000)
    for name, unit, low, high in n.PRODUCTS:
        prod_id += rng.randint(1, 900)
        price = int(round(rng.uniform(low, high), -1 if high > 5000 else 0))
        ean = str(rng.randrange(10**12, 10**13)) if rng.random() < 0.5 else ""
        sku = f"SKU-{rng.randrange(10000, 99999)}" if rng.random() < 0.7 else ""
        vat = vat_of(rng.random())
        js = encode_str
        products.append((str(prod_id), js(name), unit, vat, js(sku), js(ean), price * 100))
    return AccountData(
        organizations={cur: encode(org) for cur, org in make_organization(rng).items()},
        partners=partners,
        partner_js=partner_js,
        doc_partner_js=doc_partner_js,
        products=products,
        blocks=blocks,
        next_id=_FIRST_ID + rng.randrange(50_000),
    )
