"""Weekly request lists (O13)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.orders.domain import events
from services.orders.domain.common import ContractEvents, CustomerSnapshot, named_id
from shared.aggregate import Meta, SalesAggregate, at_least, refuse, require_role
from shared.clock import BUSINESS_TZ
from shared.contracts import Role
from shared.errors import InvalidState


class RequestList(ContractEvents, SalesAggregate):
    """O13: a branch's intended orders for next week (要货意向清单), due by the Friday 18:00 before it."""

    TOPIC = "orders.RequestList"
    KEY = "customer_id"

    @staticmethod
    def create_id(customer_id: str, week: str) -> UUID:
        return named_id(f"requests:{customer_id}:{week}")

    @classmethod
    def submit(cls, customer: CustomerSnapshot, week: str, lines: dict[str, int], meta: Meta) -> RequestList:
        require_role(meta, {Role.BRANCH_MANAGER}, "O13", "submit a weekly request list")
        if customer.kind != "branch":
            raise refuse("O13", "only a branch submits a weekly request list", kind=customer.kind)
        deadline = request_deadline(week)
        if meta.at > deadline:
            raise refuse(
                "O13", f"the list for {week} was due by {deadline.isoformat()}", deadline=deadline.isoformat()
            )
        if not lines or any(q <= 0 for q in lines.values()):
            raise refuse("O13", "a request list has lines with positive quantities", field="lines")
        return cls(
            customer_id=customer.customer_id,
            week=week,
            lines=[{"product_code": code, "quantity": quantity} for code, quantity in sorted(lines.items())],
            meta=meta,
        )

    @event(events.RequestListSubmitted)
    def __init__(self, customer_id: str, week: str, lines: list[dict[str, Any]], meta: Meta) -> None:
        self.customer_id = customer_id
        self.week = week
        self.lines = {line["product_code"]: int(line["quantity"]) for line in lines}
        self.match_rate: Decimal | None = None

    def is_due_for_match(self, now: datetime) -> bool:
        return self.match_rate is None and now >= request_deadline(self.week) + timedelta(days=9)

    def match(self, ordered: Mapping[str, int], meta: Meta) -> Decimal:
        """Match rate = Σ min(listed, ordered) / Σ max(listed, ordered) over the products of either."""
        require_role(meta, at_least(Role.SALES_MANAGER) | {Role.SYSTEM}, "O13", "match a request list")
        if self.match_rate is not None:
            raise InvalidState(f"the list for {self.week} was matched already", rule="O13")
        if not self.is_due_for_match(meta.at):  # the week ends 9 days after the Friday deadline
            raise InvalidState(f"week {self.week} is not over yet", rule="O13")
        codes = set(self.lines) | set(ordered)
        top = sum(max(self.lines.get(c, 0), ordered.get(c, 0)) for c in codes)
        low = sum(min(self.lines.get(c, 0), ordered.get(c, 0)) for c in codes)
        rate = (Decimal(low) / Decimal(top)).quantize(Decimal("0.0001")) if top else Decimal("1.0000")
        self.record(events.RequestListMatched, meta, week=self.week, match_rate=rate, ordered=dict(ordered))
        return rate

    @event(events.RequestListMatched)
    def _matched(self, match_rate: Decimal) -> None:
        self.match_rate = match_rate


def request_deadline(week: str) -> datetime:
    """Friday 18:00 Asia/Shanghai of the week before ``week`` (``YYYY-Www``)."""
    year, _, number = week.partition("-W")
    monday = date.fromisocalendar(int(year), int(number), 1)
    friday = monday - timedelta(days=3)
    return datetime(friday.year, friday.month, friday.day, 18, 0, tzinfo=BUSINESS_TZ)
