"""The orders service's bus contract: commands, queries and their results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from shared.contracts import Command, Identifier, Money, PositiveMoney, Query

ProductCode = Annotated[
    str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,39}$", description="product code, e.g. VALVE-50")
]
Quantity = Annotated[int, Field(strict=True, gt=0, le=10_000_000)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Week = Annotated[
    str, Field(pattern=r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$", description="ISO week, e.g. 2026-W49")
]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Channel = Literal["phone", "fax", "courier", "branch"]


class ListProduct(Command):
    """O2: list a product (or change its listing) with its one company list price and standard cost."""

    product_code: ProductCode
    name: Text
    spec: Text
    list_price: PositiveMoney
    standard_cost: Money
    in_production: Annotated[bool, Field(strict=True)] = True


class ReceiveStock(Command):
    """O8: production puts finished goods into stock."""

    product_code: ProductCode
    quantity: Quantity


class RequestPriceException(Command):
    """O2: ask for a price below list for one customer and product (sales roles only, O3)."""

    customer_id: Identifier
    product_code: ProductCode
    unit_price: PositiveMoney
    reason: Text


class ApprovePriceException(Command):
    """O2: the general manager approves a reduction."""

    exception_id: Identifier


class VotePriceException(Command):
    """O2: a department head's vote on a major reduction."""

    exception_id: Identifier
    in_favour: Annotated[bool, Field(strict=True)]


class OrderLine(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}

    product_code: ProductCode
    quantity: Quantity
    unit_price: PositiveMoney | None = Field(
        default=None, description="omit for the list price; entering one is for sales roles (O3)"
    )
    price_exception_id: Identifier | None = None


class PlaceOrder(Command):
    """O1: an order by phone, fax/courier order form or from a branch; checked by O2–O8."""

    customer_id: Identifier
    channel: Channel
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]


class ReleaseOrder(Command):
    """O4/O6/O7/O8/C11: lift a hold on an order (regional manager for a contract's term, sales manager,
    marketing director, general manager, sales manager after a C11 review)."""

    order_id: Identifier
    rule: Literal["O4", "O5", "O6", "O7", "O8", "C11"]


class CancelOrder(Command):
    """O1: cancel an order not yet shipped."""

    order_id: Identifier
    reason: Text


class ShipLine(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}

    product_code: ProductCode
    quantity: Quantity


class ShipOrder(Command):
    """O11: ship (part of) an order; raises a receivable due after the payment terms."""

    order_id: Identifier
    lines: Annotated[list[ShipLine], Field(min_length=1, max_length=100)]


class RecordPayment(Command):
    """O11: money received against an order's receivable (资金回笼)."""

    order_id: Identifier
    amount: PositiveMoney


class RequestReturn(Command):
    """O15: the salesperson asks to take back shipped goods, per line, at most what was shipped and not yet
    returned; a quality return names its quality complaint (P3); an exchange gets a replacement shipment
    instead of a credit note."""

    order_id: Identifier
    lines: Annotated[list[ShipLine], Field(min_length=1, max_length=100)]
    reason: Literal["quality", "wrong_item", "damaged", "excess", "other"]
    complaint_id: Identifier | None = None
    exchange: Annotated[bool, Field(strict=True)] = False


class ReturnStep(Command):
    """O15: a step of a return: the sales manager approves it; production books the goods back into stock
    (then its credit note is issued) or ships an exchange's replacement."""

    order_id: Identifier
    return_id: Identifier


class RejectReturn(Command):
    """O15: the sales manager turns a return down."""

    order_id: Identifier
    return_id: Identifier
    reason: Text


class ReportShipmentProblem(Command):
    """O16: a short or wrong shipment, reported within the correction window after shipping."""

    order_id: Identifier
    shipment_id: Identifier
    problem: Literal["short", "wrong"]
    lines: Annotated[list[ShipLine], Field(min_length=1, max_length=100)]


class CorrectShipment(Command):
    """O16: correct a reported shipment: by a credit note (sales manager) or a correction shipment
    (production)."""

    order_id: Identifier
    correction_id: Identifier


class AcceptDelivery(Command):
    """O16: the customer accepted a delivery: on which date, and who signed for it."""

    order_id: Identifier
    shipment_id: Identifier
    accepted_on: date
    accepted_by: Text


class RecordOpeningReceivable(Command):
    """O11: finance records what a customer owed when the system was adopted, so O5/O6 hold from day one."""

    customer_id: Identifier
    invoice_number: Annotated[str, Field(min_length=1, max_length=64)]
    amount: PositiveMoney
    invoice_date: date
    due_date: date


class RecordOpeningPayment(Command):
    """O11: money received against an opening receivable."""

    customer_id: Identifier
    receivable_id: Identifier
    amount: PositiveMoney


class RemindReceivables(Command):
    """O11: raise the reminders that are due (the scheduler sends this; safe to repeat)."""


class ReserveGoods(Command):
    """O9: hold goods against a deposit of at least the minimum share of the held amount."""

    customer_id: Identifier
    product_code: ProductCode
    quantity: Quantity
    deposit: Money


class FileGuarantee(Command):
    """O9: a salesperson's economic guarantee for a hold without deposit."""

    customer_id: Identifier
    product_code: ProductCode
    quantity: Quantity


class DecideGuarantee(Command):
    """O9: the sales manager agrees (first), then the general manager approves (second)."""

    reservation_id: Identifier


class ConvertReservation(Command):
    """O9: turn a live hold into an order; its deposit is applied to the order."""

    reservation_id: Identifier
    channel: Channel = "phone"


class ExpireReservations(Command):
    """O9: expire every hold that is due (the scheduler sends this; safe to repeat)."""


class ComputeReorderPoints(Command):
    """O12: a branch's reorder points for a month."""

    customer_id: Identifier
    month: Month
    transit_days: Annotated[int, Field(strict=True, gt=0, le=365)]


class ReportBranchStock(Command):
    """O12: a branch reports its stock of a product; at or below the reorder point raises an alert."""

    customer_id: Identifier
    product_code: ProductCode
    stock: Annotated[int, Field(strict=True, ge=0, le=10_000_000)]


class RequestLine(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}

    product_code: ProductCode
    quantity: Quantity


class SubmitRequestList(Command):
    """O13: a branch's intended orders for next week, due by Friday 18:00."""

    customer_id: Identifier
    week: Week
    lines: Annotated[list[RequestLine], Field(min_length=1, max_length=200)]


class MatchRequestList(Command):
    """O13: compare a week's request list with the orders actually placed that week."""

    customer_id: Identifier
    week: Week


class GetOrder(Query):
    order_id: Identifier


class GetProduct(Query):
    product_code: ProductCode


class GetReservation(Query):
    reservation_id: Identifier


class GetAccount(Query):
    """A customer's account in orders: open amounts, receivables, overdue, credit, its orders (订货登记表)."""

    customer_id: Identifier


class GetCustomerView(Query):
    """What orders knows about a customer (from customer events)."""

    customer_id: Identifier


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
