"""What the orders commands and queries answer: the result models (published in the contract) and how each
is built from the aggregates, money as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from services.orders.commands import Channel, Month, Week
from services.orders.domain import (
    CustomerAccount,
    CustomerSnapshot,
    Order,
    PriceException,
    Product,
    Reservation,
)
from services.orders.domain.common import Security
from shared.contracts import Money

# Results: what each command and query answers (the reply's "result"), published in the contract.
Rate = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?$", description="a decimal fraction, 1 = 100 %")]
OrderStatusName = Literal["accepted", "pending_contract", "on_hold", "shipped", "paid", "cancelled"]


class ProductResult(BaseModel):
    id: str
    product_code: str
    name: str
    spec: str
    list_price: Money
    standard_cost: Money
    in_production: bool
    on_hand: int
    available: int
    version: int


class PriceExceptionResult(BaseModel):
    id: str
    customer_id: str
    product_code: str
    unit_price: Money
    major: bool = Field(description="O2: more than the major reduction below list")
    gm_approved: bool
    votes: dict[str, bool] = Field(description="department head's user id -> in favour")
    granted: bool


class OrderHold(BaseModel):
    rule: Literal["O4", "O5", "O6", "O7", "O8"]
    message: str


class OrderLineResult(BaseModel):
    product_code: str
    spec: str
    quantity: int
    unit_price: Money
    amount: Money
    discount_pct: str | None = Field(default=None, description="C8: the prepayment discount this line used")


class SecurityHeld(BaseModel):
    """C11: a security held against the customer's credit."""

    security_id: str
    security_kind: str
    value: Money
    holder: str
    expires_on: date


class OrderResult(BaseModel):
    """An order as registered (订货登记表); a payment also lists the orders it released (O5), a converted
    hold the deposit it applied (O9)."""

    id: str
    order_number: str
    customer_id: str
    customer_kind: str
    channel: Channel
    status: OrderStatusName
    holds: list[OrderHold] = Field(description="the rules holding it, until released")
    lines: list[OrderLineResult]
    total_amount: Money
    shipped_amount: Money
    paid: Money
    receivable: Money
    reservation_id: str | None
    version: int
    released: list[str] | None = Field(default=None, description="record_payment: orders released (O5)")
    deposit_applied: Money | None = Field(default=None, description="convert_reservation: the deposit")
    due_on: date | None = Field(default=None, description="ship_order: when this shipment falls due (O11)")
    returned_amount: Money = Field(description="O15/O16: credit notes issued on this order")
    shipments: dict[str, dict[str, Any]] = Field(description="shipment id -> its lines, date and acceptance")
    returns: dict[str, dict[str, Any]] = Field(description="O15: return id -> its lines, reason and state")
    corrections: dict[str, dict[str, Any]] = Field(description="O16: correction id -> its problem and state")
    completed_on: date | None = Field(description="O16: when every line was delivered and accepted")
    securities: list[SecurityHeld] | None = Field(
        default=None, description="release_order (O6, C11 rev 2): the securities the customer holds"
    )


class HoldResult(BaseModel):
    id: str
    customer_id: str
    product_code: str
    quantity: int
    amount: Money
    status: Literal["guarantee_filed", "guarantee_agreed", "reserved", "converted", "expired"] | None
    expires_at: datetime | None
    deposit: Money


class ExpiredHolds(BaseModel):
    expired: list[str] = Field(description="ids of the holds expired by this run")


class ReorderPointsResult(BaseModel):
    id: str = Field(description="the branch's customer id")
    month: Month
    reorder_points: dict[str, int] = Field(description="product code -> reorder point (units)")


class BranchStockResult(BaseModel):
    id: str = Field(description="the branch's customer id")
    alert: bool = Field(description="O12: the stock is at or below its reorder point")


class RequestListResult(BaseModel):
    id: str
    week: Week
    lines: dict[str, int] = Field(description="product code -> quantity intended")


class RequestListMatch(BaseModel):
    id: str
    week: Week
    match_rate: Rate


class AccountOrder(BaseModel):
    status: OrderStatusName
    open: Money


class AccountResult(BaseModel):
    """A customer's account in orders."""

    id: str
    customer_id: str
    outstanding: Money
    exposure: Money = Field(
        description="O6: every accepted order not cancelled nor fully paid, net of what was paid"
    )
    capital_occupied: Money = Field(description="O7/R3: the same measure as exposure")
    overdue: Money
    credit: Money
    orders: dict[str, AccountOrder] = Field(description="order id -> its status and open amount")
    reorder_points: dict[str, int]


class OpeningReceivableResult(BaseModel):
    """O11: an opening receivable recorded by finance, or paid."""

    id: str = Field(description="the receivable's id")
    customer_id: str
    amount: Money = Field(description="the amount invoiced")
    due_on: date
    receivable: Money = Field(description="what is still unpaid")
    released: list[str] = Field(default=[], description="orders released by this payment (O5)")


class Reminders(BaseModel):
    reminded: list[str] = Field(description="O11: receivables reminded by this run (due soon or overdue)")


class CustomerViewResult(BaseModel):
    """What orders knows of a customer, from the customers stream (its own view)."""

    id: str
    kind: str
    region: str
    salesperson_id: str
    status: str
    credit_limit: Money
    capital_limit: Money | None
    orders_held: bool = Field(description="C11: new orders are held until the credit hold is lifted")
    contract_number: str | None
    contract_valid_to: date | None
    product_scope: list[str] | None = Field(description="O4: the contract's products; null: every product")
    annual_volume: Money | None = Field(description="O4: the contract's committed annual amount")
    payment_terms_days: int | None = Field(description="O11: the customer's payment terms; null: 30 days")
    discount_tiers: dict[str, str] = Field(description="C8: year -> the prepayment discount share that year")
    securities: list[SecurityHeld] = Field(description="C11: the securities held against its credit")
    version: int


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
