"""P8/P9 rules of the pure domain (no I/O): deadlines, raising them, and the after-sales steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.complaints.domain import (
    Feedback,
    FeedbackKind,
    FeedbackStage,
    Satisfaction,
    ServiceRequest,
    Technician,
)
from shared.aggregate import Meta
from shared.errors import DomainError, Forbidden, InvalidState

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def meta(actor_id: str, role: str, at: datetime = T0) -> Meta:
    return Meta(actor_id=actor_id, actor_role=role, correlation_id="c", causation_id="c", at=at)


def feedback(major: bool) -> Feedback:
    return Feedback.log(
        meta("cs-1", "salesperson"),
        kind=FeedbackKind.INQUIRY,
        customer_id="cust-1",
        content="when is the new catalogue out?",
        major=major,
        assigned_to="sm-1",
        answer_days=3,
        escalation_ack_days=1,
    )


def request(**overrides: object) -> ServiceRequest:
    fields: dict[str, object] = {
        "kind": "installation",
        "customer_id": "cust-1",
        "region": "EAST",
        "description": "install",
        "quality_defect": False,
        "complaint_id": None,
        "schedule_days": 2,
        "complete_days": 7,
    }
    return ServiceRequest.log(meta("cs-1", "salesperson"), **(fields | overrides))  # type: ignore[arg-type]


def test_p8_only_a_major_feedback_has_an_escalation_deadline() -> None:
    assert list(feedback(major=False).pending_deadlines()) == ["answer"]
    major = feedback(major=True)
    assert major.pending_deadlines() == {
        "answer": T0 + timedelta(days=3),
        "escalation": T0 + timedelta(days=1),
    }
    assert major.due(T0 + timedelta(days=1, seconds=1)) == ["escalation"]


def test_p8_a_deadline_is_raised_by_the_system_once_and_only_when_passed() -> None:
    major = feedback(major=True)
    with pytest.raises(InvalidState) as early:
        major.mark_overdue(FeedbackStage.ESCALATION, meta("sys", "system", T0 + timedelta(hours=23)))
    assert early.value.rule == "P8"
    later = T0 + timedelta(days=2)
    with pytest.raises(Forbidden):
        major.mark_overdue(FeedbackStage.ESCALATION, meta("gm-1", "general_manager", later))
    major.mark_overdue(FeedbackStage.ESCALATION, meta("sys", "system", later))
    with pytest.raises(InvalidState) as twice:
        major.mark_overdue(FeedbackStage.ESCALATION, meta("sys", "system", later))
    assert twice.value.rule == "P8"
    assert major.due(later) == []


def test_p9_a_reschedule_does_not_move_the_met_schedule_deadline() -> None:
    served = request()
    served.assign(Technician("tech-1", "EAST"), meta("sup-1", "sales_supervisor"))
    served.schedule(T0 + timedelta(days=1), "", meta("tech-1", "technician"))
    served.schedule(
        T0 + timedelta(days=3), "customer asked later", meta("tech-1", "technician", T0 + timedelta(days=3))
    )
    assert served.scheduled_at == T0
    assert served.due(T0 + timedelta(days=8)) == ["complete"]


def test_p9_only_a_quality_defect_repair_names_a_complaint() -> None:
    with pytest.raises(DomainError) as missing:
        request(kind="repair", quality_defect=True)
    assert (missing.value.rule, missing.value.details["field"]) == ("P9", "complaint_id")
    with pytest.raises(DomainError) as stray:
        request(kind="training", complaint_id="c-1")
    assert stray.value.rule == "P9"


def test_p9_sign_off_follows_completion() -> None:
    served = request()
    served.assign(Technician("tech-1", "EAST"), meta("sup-1", "sales_supervisor"))
    with pytest.raises(InvalidState) as early:
        served.sign_off("Wang", Satisfaction.SATISFIED, "", meta("tech-1", "technician"))
    assert early.value.rule == "P9"
