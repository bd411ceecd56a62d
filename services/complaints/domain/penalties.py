"""P5 penalties: the fine by severity and the staff record that counts valid service complaints."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.complaints import events
from shared.aggregate import Meta, SalesAggregate
from shared.complaints_contract import Severity
from shared.contracts import CENTS
from shared.errors import DomainError, InvalidState

STAFF_NAMESPACE = UUID("5d0c9a8e-3f41-4b6a-9e27-7c1f2b8d4a63")


def fine_for(
    severity: Severity, fines: Mapping[str, Decimal], low: Decimal, high: Decimal, override: Decimal | None
) -> Decimal:
    """P5: the fine by severity (a setting), or an explicit amount, always within [low, high]."""
    configured = fines.get(Severity(severity).value)
    amount = override if override is not None else configured
    if amount is None:  # a misconfigured table: refuse rather than guess
        raise DomainError(
            f"no fine is configured for severity {severity}; give one", rule="P5", details={"field": "fine"}
        )
    amount = Decimal(amount).quantize(CENTS)
    if not low <= amount <= high:
        raise DomainError(
            f"a fine is {low}–{high} yuan per incident; {amount} is out of range",
            rule="P5",
            details={"field": "fine", "amount": str(amount), "min": str(low), "max": str(high)},
        )
    return amount


def months_before(moment: datetime, months: int) -> datetime:
    """The same moment ``months`` calendar months earlier (the 31st falls back to the month's last day)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


class StaffRecord(SalesAggregate):
    """P5: one staff member's valid service complaints, to find the third within 12 months."""

    TOPIC = "complaints.StaffRecord"

    @staticmethod
    def create_id(staff_id: str) -> UUID:
        return uuid.uuid5(STAFF_NAMESPACE, staff_id)

    @event(events.StaffRecordOpened)
    def __init__(self, staff_id: str, meta: Meta) -> None:
        self.staff_id = staff_id
        self.penalties: list[dict[str, Any]] = []
        self.dismissals: list[dict[str, Any]] = []

    def valid_within(self, moment: datetime, months: int) -> int:
        since = months_before(moment, months)
        return sum(1 for p in self.penalties if since < p["at"] <= moment)

    def count_penalty(
        self, complaint_id: str, severity: Severity, amount: Decimal, threshold: int, months: int, meta: Meta
    ) -> bool:
        """Count a valid complaint; returns whether a dismissal was recommended (P5)."""
        if any(p["complaint_id"] == complaint_id for p in self.penalties):
            raise InvalidState("this complaint was already counted", rule="P5")
        self.trigger_event(
            events.StaffPenaltyCounted,
            complaint_id=complaint_id,
            staff_id=self.staff_id,
            severity=severity,
            amount=amount,
            meta=meta,
        )
        count = self.valid_within(meta.at, months)
        reasons = []
        if Severity(severity) is Severity.SEVERE:
            reasons.append("severe case")
        if count >= threshold:
            reasons.append(f"valid service complaint no. {count} within {months} months")
        if not reasons:
            return False
        self.trigger_event(
            events.DismissalRecommended,
            staff_id=self.staff_id,
            complaint_id=complaint_id,
            reason="; ".join(reasons),
            valid_complaints=count,
            window_months=months,
            meta=meta,
        )
        return True

    @event(events.StaffPenaltyCounted)
    def _penalty_counted(self, complaint_id: str, severity: Severity, amount: Decimal, meta: Meta) -> None:
        self.penalties.append(
            {
                "complaint_id": complaint_id,
                "severity": Severity(severity).value,
                "amount": amount,
                "at": meta.at,
            }
        )

    @event(events.DismissalRecommended)
    def _dismissal_recommended(self, complaint_id: str, reason: str, meta: Meta) -> None:
        self.dismissals.append({"complaint_id": complaint_id, "reason": reason, "at": meta.at})
