"""The due book (O11): every receivable not yet settled and the reminders it is owed."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

from eventsourcing.domain import event

from services.orders.domain import events
from services.orders.domain.common import ContractEvents, named_id
from shared.aggregate import Meta, SalesAggregate


class DueBook(ContractEvents, SalesAggregate):
    """What the reminder job reads to find the receivables due soon or overdue (as the hold book for O9).

    A receivable stays here until it is reminded of as overdue or found paid, and records that its
    "due soon" reminder was sent: after a restart the job picks up where it left off, and raises each
    reminder once.
    """

    TOPIC = "orders.DueBook"

    @staticmethod
    def create_id() -> UUID:
        return named_id("duebook")

    @event(events.DueBookOpened)
    def __init__(self, meta: Meta) -> None:
        # receivable id (``<order or opening id>#<shipment index>``) → (customer id, due date ISO, reminded)
        self.live: dict[str, tuple[str, str, bool]] = {}

    def add(self, customer_id: str, receivable_id: str, due_on: date, meta: Meta) -> None:
        self.record(
            events.DueBookEntered, meta, customer_id=customer_id, receivable_id=receivable_id, due_on=due_on
        )

    @event(events.DueBookEntered)
    def _entered(self, customer_id: str, receivable_id: str, due_on: date) -> None:
        self.live[receivable_id] = (customer_id, due_on.isoformat(), False)

    def mark_reminded(self, receivable_id: str, meta: Meta) -> None:
        self.record(events.DueBookReminded, meta, receivable_id=receivable_id)

    @event(events.DueBookReminded)
    def _reminded(self, receivable_id: str) -> None:
        customer_id, due_on, _ = self.live[receivable_id]
        self.live[receivable_id] = (customer_id, due_on, True)

    def remove(self, receivable_id: str, meta: Meta) -> None:
        if receivable_id in self.live:
            self.record(events.DueBookLeft, meta, receivable_id=receivable_id)

    @event(events.DueBookLeft)
    def _left(self, receivable_id: str) -> None:
        self.live.pop(receivable_id, None)

    def due(self, today: date, days_before: int) -> list[str]:
        """The receivables owed a reminder today: due within ``days_before`` days and not reminded, or
        overdue (past their due date)."""
        ahead = today + timedelta(days=days_before)
        return sorted(
            rid
            for rid, (_, due_on, reminded) in self.live.items()
            if (not reminded and date.fromisoformat(due_on) <= ahead) or date.fromisoformat(due_on) < today
        )
