"""Deadlines raised once each (P7, P8, P9): which have passed, and whether one may be raised now.

The P7 functions at the end are methods of ``Complaint`` (assigned in its class body, so the library
sees their event).

The scan (application) asks an aggregate for its ``pending_deadlines`` (neither met nor raised yet);
those past ``now`` are due. Raising one is the system's alone, and never twice: the aggregate keeps
what it raised, so a restarted scanner finds nothing new to raise.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from services.complaints import events
from services.complaints.domain.kinds import Status
from shared.aggregate import Meta, require_role
from shared.complaints_contract import Stage
from shared.contracts import Role
from shared.errors import InvalidState

if TYPE_CHECKING:
    from services.complaints.domain.complaint import Complaint


def passed(pending: Mapping[str, datetime], now: datetime) -> list[str]:
    """The pending deadlines already past ``now``, in their order."""
    return [stage for stage, deadline in pending.items() if now > deadline]


def check_raisable(
    stage: str, pending: Mapping[str, datetime], raised: Mapping[str, datetime], meta: Meta, rule: str
) -> datetime:
    """Refuse (naming ``rule``) unless the system raises a passed deadline not yet raised; its deadline."""
    require_role(meta, {Role.SYSTEM}, rule, "raise a deadline")
    if stage in raised:
        raise InvalidState(f"the {stage} deadline was already raised", rule=rule)
    if stage not in passed(pending, meta.at):
        raise InvalidState(f"the {stage} deadline is not overdue", rule=rule)
    return pending[stage]


# P7: the deadlines of a complaint ---------------------------------------------------------------
def due(self: "Complaint", now: datetime) -> list[Stage]:
    """The deadlines that have passed, unmet, and were not yet raised (decided from stored state)."""
    found: list[Stage] = []
    if self.status is Status.CLOSED:
        return found
    unacknowledged = self.acknowledged_at is None
    if unacknowledged and now > self.acknowledge_by and Stage.ACKNOWLEDGE not in self.overdue:
        found.append(Stage.ACKNOWLEDGE)
    if self.resolved_at is None and now > self.resolve_by and Stage.RESOLVE not in self.overdue:
        found.append(Stage.RESOLVE)
    return found


def mark_overdue(self: "Complaint", stage: Stage, meta: Meta) -> None:
    require_role(meta, {Role.SYSTEM}, "P7", "raise a deadline")
    stage = Stage(stage)
    if stage in self.overdue:
        raise InvalidState(f"the {stage.value} deadline was already raised", rule="P7")
    if stage not in self.due(meta.at):
        raise InvalidState(f"the {stage.value} deadline is not overdue", rule="P7")
    deadline = self.acknowledge_by if stage is Stage.ACKNOWLEDGE else self.resolve_by
    self.record(events.ComplaintOverdue, meta, stage=stage, deadline=deadline, assigned_to=self.assigned_to)


@event(events.ComplaintOverdue)
def _overdue(self: "Complaint", stage: Stage, deadline: datetime, meta: Meta) -> None:
    self.overdue[Stage(stage).value] = meta.at
    self._record("overdue", meta, f"{stage} deadline {deadline.isoformat()}")
