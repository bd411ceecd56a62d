"""What the orders commands and queries answer: the result models (published in the contract) and how each
is built from the aggregates, money as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
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
from shared.results import attributes_of

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
    return attributes_of(ProductResult, p)


def order_result(o: Order) -> dict[str, Any]:
    # C8: the discount a line used is absent on older orders
    lines = [{**line, "discount_pct": line.get("discount_pct")} for line in o.lines]
    returns = {rid: _entry(r) for rid, r in o.returns.items()}  # O15
    corrections = {cid: _entry(e) for cid, e in o.corrections.items()}  # O16
    return attributes_of(OrderResult, o, lines=lines, returns=returns, corrections=corrections)


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A return or correction as sent: without the order's own bookkeeping."""
    return {k: v for k, v in entry.items() if k != "counts"}


def hold_result(h: Reservation) -> dict[str, Any]:
    return attributes_of(HoldResult, h, expires_at=h.expires_at.isoformat() if h.expires_at else None)


def exception_result(e: PriceException) -> dict[str, Any]:
    return attributes_of(PriceExceptionResult, e)


def account_result(account: CustomerAccount, now: datetime) -> dict[str, Any]:
    exposure = account.exposure  # O6: the credit used; O7: the capital occupied, the same measure (R3)
    orders = {oid: {"status": e["status"], "open": e["open"]} for oid, e in account.orders.items()}
    return attributes_of(
        AccountResult,
        account,
        exposure=exposure,
        capital_occupied=exposure,
        overdue=account.overdue(now),
        orders=orders,
    )


def customer_view_result(customer: CustomerSnapshot) -> dict[str, Any]:
    tiers = {str(year): pct for year, pct in customer.discount_tiers}
    return attributes_of(CustomerViewResult, customer, id=customer.customer_id, discount_tiers=tiers)


def security_json(held: Security) -> dict[str, str]:
    """C11: a security held, as replies and the view's rows carry it."""
    return attributes_of(SecurityHeld, held)
