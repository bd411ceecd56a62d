"""P8 customer feedback (客户意见): every opinion on sales operations logged, assigned and answered in time;
a major one escalated to the general manager at once (重大事件, seed 000 五.1), who acknowledges it."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from eventsourcing.domain import event

from services.complaints import events
from services.complaints.domain.deadlines import check_raisable, passed
from services.complaints.domain.kinds import LOGGERS
from shared.aggregate import Meta, SalesAggregate, at_least, require_role, require_status
from shared.complaints_contract import FeedbackKind, FeedbackStage
from shared.contracts import Role
from shared.errors import Forbidden, InvalidState


class FeedbackStatus(StrEnum):
    LOGGED = "logged"
    ANSWERED = "answered"


ASSIGNERS = at_least(Role.SALES_SUPERVISOR)
ESCALATED_TO = Role.GENERAL_MANAGER  # 重大事件 go to the general manager at once


class Feedback(SalesAggregate):
    """One customer opinion that is not a complaint: its record from logging to the answer."""

    TOPIC = "complaints.Feedback"

    @event(events.FeedbackLogged)
    def __init__(
        self,
        kind: FeedbackKind,
        customer_id: str,
        content: str,
        major: bool,
        assigned_to: str,
        answer_by: datetime,
        meta: Meta,
    ) -> None:
        self.kind = FeedbackKind(kind)
        self.customer_id = customer_id
        self.content = content
        self.major = major
        self.assigned_to = assigned_to
        self.answer_by = answer_by
        self.logged_at = meta.at
        self.logged_by = meta.actor_id
        self.status = FeedbackStatus.LOGGED
        self.answer: str | None = None
        self.answered_at: datetime | None = None
        self.escalated_to: str | None = None
        self.escalation_acknowledge_by: datetime | None = None
        self.escalation_acknowledged_at: datetime | None = None
        self.overdue: dict[str, datetime] = {}

    @classmethod
    def log(
        cls,
        meta: Meta,
        *,
        kind: FeedbackKind,
        customer_id: str,
        content: str,
        major: bool,
        assigned_to: str,
        answer_days: int,
        escalation_ack_days: int,
    ) -> Feedback:
        require_role(meta, LOGGERS, "P8", "log customer feedback")
        feedback = cls(
            kind=FeedbackKind(kind),
            customer_id=customer_id,
            content=content,
            major=major,
            assigned_to=assigned_to,
            answer_by=meta.at + timedelta(days=answer_days),
            meta=meta,
        )
        if major:  # at once: in the same save as the logging
            feedback.record(
                events.FeedbackEscalated,
                meta,
                escalated_to=ESCALATED_TO.value,
                acknowledge_by=meta.at + timedelta(days=escalation_ack_days),
            )
        return feedback

    @event(events.FeedbackEscalated)
    def _escalated(self, escalated_to: str, acknowledge_by: datetime) -> None:
        self.escalated_to = escalated_to
        self.escalation_acknowledge_by = acknowledge_by

    def assign(self, assigned_to: str, meta: Meta) -> None:
        require_role(meta, ASSIGNERS, "P8", "assign customer feedback")
        self._require_open("assign")
        self.record(events.FeedbackAssigned, meta, assigned_to=assigned_to, previous=self.assigned_to)

    @event(events.FeedbackAssigned)
    def _assigned(self, assigned_to: str) -> None:
        self.assigned_to = assigned_to

    def acknowledge_escalation(self, notes: str, meta: Meta) -> None:
        require_role(meta, {ESCALATED_TO}, "P8", "acknowledge an escalated feedback")
        if self.escalated_to is None:
            raise InvalidState("only a major feedback is escalated to the general manager", rule="P8")
        if self.escalation_acknowledged_at is not None:
            raise InvalidState("the escalation was already acknowledged", rule="P8")
        self.record(events.FeedbackEscalationAcknowledged, meta, notes=notes)

    @event(events.FeedbackEscalationAcknowledged)
    def _escalation_acknowledged(self, meta: Meta) -> None:
        self.escalation_acknowledged_at = meta.at

    def give_answer(self, answer: str, meta: Meta) -> None:
        if meta.actor_id != self.assigned_to:
            raise Forbidden(
                f"only the assignee ({self.assigned_to}) answers this feedback",
                rule="P8",
                details={"assigned_to": self.assigned_to, "actor": meta.actor_id},
            )
        self._require_open("answer")
        self.record(
            events.FeedbackAnswered,
            meta,
            answer=answer,
            assigned_to=self.assigned_to,
            within_deadline=meta.at <= self.answer_by,
        )

    @event(events.FeedbackAnswered)
    def _answered(self, answer: str, meta: Meta) -> None:
        self.answer = answer
        self.answered_at = meta.at
        self.status = FeedbackStatus.ANSWERED

    # P8 deadlines -----------------------------------------------------------------------------
    def pending_deadlines(self) -> dict[str, datetime]:
        """The deadlines neither met nor raised yet."""
        pending: dict[str, datetime] = {}
        if self.answered_at is None and FeedbackStage.ANSWER not in self.overdue:
            pending[FeedbackStage.ANSWER.value] = self.answer_by
        acknowledge_by = self.escalation_acknowledge_by
        if (
            acknowledge_by is not None
            and self.escalation_acknowledged_at is None
            and FeedbackStage.ESCALATION not in self.overdue
        ):
            pending[FeedbackStage.ESCALATION.value] = acknowledge_by
        return pending

    def due(self, now: datetime) -> list[str]:
        return passed(self.pending_deadlines(), now)

    def mark_overdue(self, stage: FeedbackStage, meta: Meta) -> None:
        stage = FeedbackStage(stage)
        deadline = check_raisable(stage.value, self.pending_deadlines(), self.overdue, meta, "P8")
        responsible = self.escalated_to if stage is FeedbackStage.ESCALATION else self.assigned_to
        self.record(
            events.FeedbackOverdue,
            meta,
            stage=stage.value,
            deadline=deadline,
            responsible=responsible or "",
            major=self.major,
        )

    @event(events.FeedbackOverdue)
    def _overdue(self, stage: str, meta: Meta) -> None:
        self.overdue[stage] = meta.at

    # helpers ----------------------------------------------------------------------------------
    def _refs(self) -> dict[str, str]:
        """What every consumer of a feedback event needs to count it per customer (region) and kind."""
        return {"kind": self.kind.value, "customer_id": self.customer_id}

    def _require_open(self, action: str) -> None:
        require_status(self.status, {FeedbackStatus.LOGGED}, "P8", action, "a feedback")
