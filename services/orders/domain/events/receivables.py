"""Events of the due book of unsettled receivables (O11)."""

from __future__ import annotations

from datetime import date

from eventsourcing.domain import AggregateCreated, AggregateEvent

from services.orders.domain.events.customer import CustomerEvent
from shared.aggregate import Meta


class DueBookOpened(AggregateCreated):
    """The book of unsettled receivables opened."""

    TOPIC = "orders.DueBook.DueBookOpened"
    meta: Meta


class DueBookEntered(CustomerEvent):
    """O11: a receivable and its due date entered in the book."""

    TOPIC = "orders.DueBook.DueBookEntered"
    receivable_id: str
    due_on: date
    meta: Meta


class DueBookReminded(AggregateEvent):
    """O11: the receivable's due-soon reminder was sent."""

    TOPIC = "orders.DueBook.DueBookReminded"
    receivable_id: str
    meta: Meta


class DueBookLeft(AggregateEvent):
    """O11: a receivable left the book (reminded overdue or paid)."""

    TOPIC = "orders.DueBook.DueBookLeft"
    receivable_id: str
    meta: Meta
