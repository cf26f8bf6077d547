"""Rendering of document lines, VAT summaries and settings, and the negation used by
cancellations. Amounts are integer cents rounded half up per line (``round_div``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from invoice_pipeline.emulators import billingo_names as n
from invoice_pipeline.emulators.billingo_json import encode_str, money, round_div

Doc = dict[str, Any]
# VAT rate as a fraction (numerator, denominator), exact for "5,5%".
VAT_FRACTION = {name: (int(rate * 1000), 1000) for name, rate in n.VAT_RATES.items()}
ENTITLEMENT_JS = {name: encode_str(n.ENTITLEMENTS.get(name)) for name in n.VAT_RATES}


def render_line(
    pid: str,
    name: str,
    unit: str,
    vat_name: str,
    sku: str,
    ean: str,
    price: int,
    q10: int,
    eur: bool,
) -> tuple[bytes, int, int, str]:
    """(rendered DocumentItem, net, gross, vat name); amounts rounded per line, half up."""
    step = 1 if eur else 100
    net = round_div(q10 * price, 10 * step) * step
    num, den = VAT_FRACTION[vat_name]
    vat = round_div(net * num, den * step) * step
    text = (
        f'{{"product_id":{pid},"name":{name},"net_unit_amount":{money(price)},'
        f'"quantity":{money(q10 * 10)},"unit":"{unit}","net_amount":{money(net)},'
        f'"gross_amount":{money(net + vat)},"vat":"{vat_name}","vat_amount":{money(vat)},'
        f'"entitlement":{ENTITLEMENT_JS[vat_name]},"comment":"","sku":{sku},"ean":{ean},'
        f'"data_eraser_codes":[],"is_deposit_fee":false,"is_connect_product":false,'
        f'"connected_item":null,"connect_document_item_setting":null}}'
    )
    return text.encode(), net, net + vat, vat_name


def render_summary(groups: dict[str, list[int]], step: int, rate: int) -> bytes:
    """VAT is rounded once per rate here, not per line, so it can differ from the line sum
    (the live API's inconsistency that the ETL must tolerate). Local amounts are whole HUF."""

    def local(cents: int) -> str:
        return str(round_div(cents * rate, 10_000))

    rows = []
    net_total = vat_total = 0
    for vat_name, (net,) in groups.items():
        num, den = VAT_FRACTION[vat_name]
        vat = round_div(net * num, den * step) * step
        net_total += net
        vat_total += vat
        vat_text = money(vat)
        rows.append(
            f'{{"vat_name":"{vat_name}","vat_percentage":{n.VAT_PERCENT[vat_name]},'
            f'"vat_rate_net_amount":{money(net)},"vat_rate_vat_amount":{vat_text},'
            f'"vat_rate_vat_amount_local":{vat_text if rate == 100 else local(vat)},'
            f'"vat_rate_gross_amount":{money(net + vat)}}}'
        )
    net_text, vat_text = money(net_total), money(vat_total)
    if rate == 100:  # HUF: local amounts are the amounts themselves
        net_local, vat_local, gross_local = net_text, vat_text, money(net_total + vat_total)
    else:
        net_local, vat_local = local(net_total), local(vat_total)
        gross_local = local(net_total + vat_total)
    return (
        f'{{"net_amount":{net_text},"net_amount_local":{net_local},'
        f'"gross_amount_local":{gross_local},"vat_amount":{vat_text},'
        f'"vat_amount_local":{vat_local},"vat_rate_summary":[{",".join(rows)}]}}'
    ).encode()


def settings(doc_type: str, currency: str, order_number: str) -> Doc:
    return {
        "mediated_service": False,
        "without_financial_fulfillment": False,
        "online_payment": "",
        "round": "one" if currency == "HUF" else "none",
        "no_send_onlineszamla_by_user": False,
        "order_number": order_number,
        "place_id": None,
        "instant_payment": False,
        "selected_type": doc_type,
        "should_send_email": True,
        "dont_send_to_nav_reason": None,
        "instant_payment_request": False,
        "is_waybill_hide_prices": False,
    }


_MONEY_KEYS = frozenset(
    {"quantity", "net_amount", "gross_amount", "vat_amount", "net_amount_local",
     "gross_amount_local", "vat_amount_local", "vat_rate_net_amount", "vat_rate_vat_amount",
     "vat_rate_vat_amount_local", "vat_rate_gross_amount"}
)  # fmt: skip


def neg(value: Any) -> Any:
    """Negate a JSON number exactly (a sign flip); 0 stays 0 (no "-0"), non-numbers as is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return -value if value else value


def negate(obj: Doc) -> Doc:
    out = {k: neg(v) if k in _MONEY_KEYS else v for k, v in obj.items()}
    if isinstance(obj.get("vat_rate_summary"), list):
        rows = obj["vat_rate_summary"]
        out["vat_rate_summary"] = [negate(r) for r in rows if isinstance(r, dict)]
    return out


def storno(original: Doc, doc_id: int, number: str, block_id: int, day: date, today: str) -> Doc:
    """The cancellation document of ``original``: its lines with negated quantities and
    amounts, linked back through ``related_documents``."""
    items = [negate(item) for item in original.get("items") or [] if isinstance(item, dict)]
    summary = original.get("summary")
    doc_settings = original.get("settings")
    if isinstance(doc_settings, dict):
        doc_settings = {**doc_settings, "selected_type": "cancellation"}
    return {
        **original,
        "id": doc_id,
        "invoice_number": number,
        "type": "cancellation",
        "cancelled": False,
        "block_id": block_id,
        "payment_status": "none",
        "gross_total": neg(original.get("gross_total")),
        "invoice_date": day.isoformat(),
        "due_date": day.isoformat(),
        "paid_date": today,
        "items": items,
        "summary": negate(summary) if isinstance(summary, dict) else summary,
        "settings": doc_settings,
        "comment": "",
        "related_documents": [
            {"id": original.get("id"), "invoice_number": original.get("invoice_number")}
        ],
        "correction_type": "cancellation",
    }
