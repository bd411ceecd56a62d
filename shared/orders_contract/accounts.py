"""Events of the customer's account in orders (O4–O7, O9, O11, O12)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from shared.contracts import DecimalText
from shared.events import Added
from shared.orders_contract.families import OfCustomer


class CustomerAccountEvent(OfCustomer, aggregate="CustomerAccount"):
    """An event of a customer's account in orders."""


class AccountOrderNoted(CustomerAccountEvent):
    """An order noted on its account: status, amounts; version 2 adds its date and total (O4 rev 2)."""

    VERSION = 2
    # not recorded then: the entry learns them when its order is noted again (any change of it)
    ADDED: ClassVar[Added] = {2: {"placed_on": None, "total": None}}
    order_id: str
    status: str
    open_amount: DecimalText
    receivable: DecimalText
    week: str
    lines: dict[str, int]
    placed_on: date | None = None
    total: DecimalText | None = None


class CustomerAccountOpened(CustomerAccountEvent):
    """A customer's account in orders opened."""

    CREATED = True


class ReceivableRaised(CustomerAccountEvent):
    """O11: a shipment's receivable and its due date."""

    order_id: str
    amount: DecimalText
    due_on: date
    month: str
    quantities: dict[str, int]


class ReceivableReminder(CustomerAccountEvent, family=True):
    """O11: a reminder of one receivable (``<order or opening id>#<n>``) and what is left of it."""

    order_id: str
    receivable_id: str
    amount: DecimalText
    due_on: date


class ReceivableDueSoon(ReceivableReminder):
    """O11: the reminder 3 days before a receivable falls due."""


class ReceivableOverdue(ReceivableReminder):
    """O11: the reminder when a receivable becomes overdue."""


class OpeningReceivableRecorded(CustomerAccountEvent):
    """O11: what the customer owed when the system was adopted."""

    receivable_id: str
    invoice_number: str
    amount: DecimalText
    invoice_date: date
    due_on: date


class OpeningReceivablePaid(CustomerAccountEvent):
    """O11: a payment on an opening receivable."""

    receivable_id: str
    amount: DecimalText


class AccountContractNoted(CustomerAccountEvent):
    """O4: the customer's contract dates noted on its account."""

    valid_from: date | None
    valid_to: date | None


class CustomerCreditAdded(CustomerAccountEvent):
    """O9: an expired hold's deposit kept as the customer's credit."""

    hold_id: str
    amount: DecimalText


class CustomerCreditUsed(CustomerAccountEvent):
    """O9: the customer's credit spent on an order."""

    order_id: str
    amount: DecimalText


class CustomerCreditReturned(CustomerAccountEvent):
    """O1: what a cancelled order was paid goes back to the customer's credit."""

    order_id: str
    amount: DecimalText


class CustomerCreditRefunded(CustomerAccountEvent):
    """O15/O16: the part of a credit note on paid goods becomes credit."""

    order_id: str
    credit_note_id: str
    amount: DecimalText


class ReorderPointsComputed(CustomerAccountEvent):
    """O12: a branch's reorder points for the month."""

    month: str
    transit_days: int
    points: dict[str, int]


class ReorderAlertRaised(CustomerAccountEvent):
    """O12: a branch's stock at or below its reorder point."""

    product_code: str
    stock: int
    reorder_point: int
