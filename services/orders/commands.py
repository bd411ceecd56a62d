"""The orders service's bus contract: the commands and queries (their results: ``results.py``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

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
