"""S4 market intelligence (市场信息): salespeople's reports; an urgent one goes to the sales manager at
once and is acknowledged within a day (a setting), else an overdue event is raised, once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from services.field import events
from shared.aggregate import Meta, SalesAggregate, at_least, require_role
from shared.contracts import Role
from shared.errors import InvalidState
from shared.field_contract import IntelligenceKind

REPORTERS = at_least(Role.SALESPERSON)
READERS = frozenset({Role.SALES_MANAGER})


class MarketReport(SalesAggregate):
    TOPIC = "field.MarketReport"

    @event(events.MarketReportFiled)
    def __init__(
        self,
        kind: IntelligenceKind,
        region: str,
        subject: str,
        content: str,
        urgent: bool,
        month: str,
        acknowledge_by: datetime | None,
        meta: Meta,
    ) -> None:
        self.kind = IntelligenceKind(kind)
        self.region = region
        self.subject = subject
        self.content = content
        self.urgent = urgent
        self.month = month
        self.acknowledge_by = acknowledge_by
        self.reported_by = meta.actor_id
        self.reported_at = meta.at
        self.acknowledged_by: str | None = None
        self.overdue_at: datetime | None = None

    @classmethod
    def file(cls, meta: Meta, ack_days: int, month: str, **fields: Any) -> MarketReport:
        """S4; ``month`` is the business month (Asia/Shanghai) it was reported in."""
        require_role(meta, REPORTERS, "S4", "report market intelligence")
        urgent = bool(fields.pop("urgent"))
        due = meta.at + timedelta(days=ack_days) if urgent else None
        return cls(urgent=urgent, month=month, acknowledge_by=due, meta=meta, **fields)

    def acknowledge(self, meta: Meta) -> None:
        require_role(meta, READERS, "S4", "acknowledge market intelligence")
        if self.acknowledged_by is not None:
            raise InvalidState("the report was acknowledged already", rule="S4")
        self.trigger_event(events.MarketReportAcknowledged, urgent=self.urgent, meta=meta)

    @event(events.MarketReportAcknowledged)
    def _acknowledged(self, meta: Meta) -> None:
        self.acknowledged_by = meta.actor_id

    def due(self, now: datetime) -> bool:
        """An urgent report past its deadline, unacknowledged, not yet raised."""
        return (
            self.acknowledge_by is not None
            and self.acknowledged_by is None
            and self.overdue_at is None
            and now > self.acknowledge_by
        )

    @property
    def settled(self) -> bool:
        """Nothing more can fall due."""
        return self.acknowledge_by is None or self.acknowledged_by is not None or self.overdue_at is not None

    def mark_overdue(self, meta: Meta) -> None:
        require_role(meta, {Role.SYSTEM}, "S4", "raise a deadline")
        if not self.due(meta.at):
            raise InvalidState("the report is not overdue (or was raised already)", rule="S4")
        assert self.acknowledge_by is not None
        self.trigger_event(
            events.MarketReportOverdue,
            deadline=self.acknowledge_by,
            region=self.region,
            reported_by=self.reported_by,
            meta=meta,
        )

    @event(events.MarketReportOverdue)
    def _overdue(self, meta: Meta) -> None:
        self.overdue_at = meta.at
