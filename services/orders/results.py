"""What the orders commands and queries answer: each record's fields, money as decimal strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from services.orders.domain import (
    CustomerAccount,
    CustomerSnapshot,
    Order,
    PriceException,
    Product,
    Reservation,
)
from services.orders.domain.common import Security


def product_result(p: Product) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "product_code": p.product_code,
        "name": p.name,
        "spec": p.spec,
        "list_price": str(p.list_price),
        "standard_cost": str(p.standard_cost),
        "in_production": p.in_production,
        "on_hand": p.on_hand,
        "available": p.available,
        "version": p.version,
    }


def order_result(o: Order) -> dict[str, Any]:
    return {
        "id": str(o.id),
        "order_number": o.order_number,
        "customer_id": o.customer_id,
        "customer_kind": o.customer_kind,
        "channel": o.channel,
        "status": o.status.value,
        "holds": [dict(h) for h in o.holds],
        "lines": [
            {
                **line,
                "unit_price": str(line["unit_price"]),
                "amount": str(line["amount"]),
                "discount_pct": _decimal(line.get("discount_pct")),  # C8; absent on older orders
            }
            for line in o.lines
        ],
        "total_amount": str(o.total_amount),
        "shipped_amount": str(o.shipped_amount),
        "paid": str(o.paid),
        "receivable": str(o.receivable),
        "reservation_id": o.reservation_id,
        "returned_amount": str(o.returned_amount),  # O15/O16: credit notes
        "shipments": {sid: dict(s) for sid, s in o.shipments.items()},
        "returns": {rid: _entry(r) for rid, r in o.returns.items()},
        "corrections": {cid: _entry(e) for cid, e in o.corrections.items()},
        "completed_on": o.completed_on.isoformat() if o.completed_on else None,
        "version": o.version,
    }


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A return or correction as sent: its money as decimal strings, without the order's own bookkeeping."""
    lines = [
        {**line, "unit_price": str(line["unit_price"]), "amount": str(line["amount"])}
        for line in entry["lines"]
    ]
    shown = {k: v for k, v in entry.items() if k != "counts"} | {"lines": lines}
    if "amount" in shown:
        shown["amount"] = str(shown["amount"])
    return shown


def hold_result(h: Reservation) -> dict[str, Any]:
    return {
        "id": str(h.id),
        "customer_id": h.customer_id,
        "product_code": h.product_code,
        "quantity": h.quantity,
        "amount": str(h.amount),
        "status": h.status.value if h.status else None,
        "expires_at": h.expires_at.isoformat() if h.expires_at else None,
        "deposit": str(h.deposit),
    }


def exception_result(e: PriceException) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "customer_id": e.customer_id,
        "product_code": e.product_code,
        "unit_price": str(e.unit_price),
        "major": e.major,
        "gm_approved": e.gm_approved,
        "votes": dict(e.votes),
        "granted": e.granted,
    }


def account_result(account: CustomerAccount, now: datetime) -> dict[str, Any]:
    exposure = account.exposure
    return {
        "id": str(account.id),
        "customer_id": account.customer_id,
        "outstanding": str(account.outstanding),
        "exposure": str(exposure),  # O6 credit used
        "capital_occupied": str(exposure),  # O7: the same measure (R3)
        "overdue": str(account.overdue(now)),
        "credit": str(account.credit),
        "orders": {oid: {"status": e["status"], "open": str(e["open"])} for oid, e in account.orders.items()},
        "reorder_points": dict(account.reorder_points),
    }


def customer_view_result(customer: CustomerSnapshot) -> dict[str, Any]:
    return {
        "id": customer.customer_id,
        "kind": customer.kind,
        "region": customer.region,
        "salesperson_id": customer.salesperson_id,
        "status": customer.status,
        "credit_limit": str(customer.credit_limit),
        "capital_limit": _decimal(customer.capital_limit),
        "orders_held": customer.orders_held,
        "contract_number": customer.contract_number,
        "contract_valid_to": customer.contract_valid_to.isoformat() if customer.contract_valid_to else None,
        "product_scope": None if customer.product_scope is None else list(customer.product_scope),
        "annual_volume": _decimal(customer.annual_volume),
        "payment_terms_days": customer.payment_terms_days,
        "discount_tiers": {str(year): str(pct) for year, pct in customer.discount_tiers},
        "securities": [security_json(held) for held in customer.securities],
        "version": customer.version,
    }


def security_json(held: Security) -> dict[str, str]:
    """C11: a security held, as replies and the view's rows carry it."""
    return {
        "security_id": held.security_id,
        "security_kind": held.security_kind,
        "value": str(held.value),
        "holder": held.holder,
        "expires_on": held.expires_on.isoformat(),
    }


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
