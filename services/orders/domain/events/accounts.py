"""Events of the customer's account in orders (O4–O7, O9, O11, O12)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from eventsourcing.domain import AggregateCreated

from services.orders.domain.events.customer import CustomerEvent
from shared.aggregate import Meta


class AccountOrderNoted(CustomerEvent):
    """An order noted on its account: status, amounts; version 2 adds its date and total (O4 rev 2)."""

    TOPIC = "orders.CustomerAccount.AccountOrderNoted"
    class_version = 2
    order_id: str
    status: str
    open_amount: Decimal
    receivable: Decimal
    week: str
    lines: dict[str, int]
    meta: Meta
    placed_on: date | None
    total: Decimal | None

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        # not recorded then: the entry learns them when its order is noted again (any change of it)
        state["placed_on"] = None
        state["total"] = None


class CustomerAccountOpened(AggregateCreated):
    """A customer's account in orders opened."""

    TOPIC = "orders.CustomerAccount.CustomerAccountOpened"
    customer_id: str
    meta: Meta


class ReceivableRaised(CustomerEvent):
    """O11: a shipment's receivable and its due date."""

    TOPIC = "orders.CustomerAccount.ReceivableRaised"
    order_id: str
    amount: Decimal
    due_on: date
    month: str
    quantities: dict[str, int]
    meta: Meta


class ReceivableReminder(CustomerEvent):
    """O11: a reminder of one receivable (``<order or opening id>#<n>``) and what is left of it."""

    order_id: str
    receivable_id: str
    amount: Decimal
    due_on: date
    meta: Meta


class ReceivableDueSoon(ReceivableReminder):
    """O11: the reminder 3 days before a receivable falls due."""

    TOPIC = "orders.CustomerAccount.ReceivableDueSoon"


class ReceivableOverdue(ReceivableReminder):
    """O11: the reminder when a receivable becomes overdue."""

    TOPIC = "orders.CustomerAccount.ReceivableOverdue"


class OpeningReceivableRecorded(CustomerEvent):
    """O11: what the customer owed when the system was adopted."""

    TOPIC = "orders.CustomerAccount.OpeningReceivableRecorded"
    receivable_id: str
    invoice_number: str
    amount: Decimal
    invoice_date: date
    due_on: date
    meta: Meta


class OpeningReceivablePaid(CustomerEvent):
    """O11: a payment on an opening receivable."""

    TOPIC = "orders.CustomerAccount.OpeningReceivablePaid"
    receivable_id: str
    amount: Decimal
    meta: Meta


class AccountContractNoted(CustomerEvent):
    """O4: the customer's contract dates noted on its account."""

    TOPIC = "orders.CustomerAccount.AccountContractNoted"
    valid_from: date | None
    valid_to: date | None
    meta: Meta


class CustomerCreditAdded(CustomerEvent):
    """O9: an expired hold's deposit kept as the customer's credit."""

    TOPIC = "orders.CustomerAccount.CustomerCreditAdded"
    hold_id: str
    amount: Decimal
    meta: Meta


class CustomerCreditUsed(CustomerEvent):
    """O9: the customer's credit spent on an order."""

    TOPIC = "orders.CustomerAccount.CustomerCreditUsed"
    order_id: str
    amount: Decimal
    meta: Meta


class CustomerCreditReturned(CustomerEvent):
    """O1: what a cancelled order was paid goes back to the customer's credit."""

    TOPIC = "orders.CustomerAccount.CustomerCreditReturned"
    order_id: str
    amount: Decimal
    meta: Meta


class CustomerCreditRefunded(CustomerEvent):
    """O15/O16: the part of a credit note on paid goods becomes credit."""

    TOPIC = "orders.CustomerAccount.CustomerCreditRefunded"
    order_id: str
    credit_note_id: str
    amount: Decimal
    meta: Meta


class ReorderPointsComputed(CustomerEvent):
    """O12: a branch's reorder points for the month."""

    TOPIC = "orders.CustomerAccount.ReorderPointsComputed"
    month: str
    transit_days: int
    points: dict[str, int]
    meta: Meta


class ReorderAlertRaised(CustomerEvent):
    """O12: a branch's stock at or below its reorder point."""

    TOPIC = "orders.CustomerAccount.ReorderAlertRaised"
    product_code: str
    stock: int
    reorder_point: int
    meta: Meta
