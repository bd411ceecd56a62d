"""Events of the due book of unsettled receivables (O11)."""

from __future__ import annotations

from datetime import date

from shared.orders_contract.families import OfCustomer, OrdersEvent


class DueBookEvent(OrdersEvent, aggregate="DueBook"):
    """An event of the due book of unsettled receivables (O11)."""


class DueBookOpened(DueBookEvent):
    """The book of unsettled receivables opened."""

    CREATED = True


class DueBookEntered(OfCustomer):
    """O11: a receivable and its due date entered in the book."""

    AGGREGATE = "DueBook"
    receivable_id: str
    due_on: date


class DueBookReminded(DueBookEvent):
    """O11: the receivable's due-soon reminder was sent."""

    receivable_id: str


class DueBookLeft(DueBookEvent):
    """O11: a receivable left the book (reminded overdue or paid)."""

    receivable_id: str
