"""The complaints service's published events (P1–P9): each event's fields, typed, declared once.

The aggregates apply them (``@event(EventClass)`` on the method that changes their state, which takes only
the fields it needs; where it needs most of them, a subclass of the event whose ``apply`` reads them), the
relay publishes them as ``data`` of the envelope, and the AsyncAPI document
(``docs/asyncapi/complaints.json``) is written from them. Each topic is pinned: stored events load
whichever module a class lives in. A field's place is its place in the stored JSON: append, never reorder.

The values an event carries (kinds, severities, stages…) are defined here too: they are the contract's.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from shared.aggregate import CreatedEvent, Meta, SalesAggregate
from shared.contracts import Role


class ComplaintType(StrEnum):
    """P1."""

    QUALITY = "quality"  # 质量投诉
    SERVICE = "service"  # 服务投诉 (staff attitude, non-quality)


class Severity(StrEnum):
    MINOR = "minor"
    MODERATE = "moderate"
    SERIOUS = "serious"
    SEVERE = "severe"


class Resolution(StrEnum):
    """P3: how a quality complaint was resolved."""

    REFUND = "refund"
    REPLACE = "replace"
    REPAIR = "repair"
    CREDIT = "credit"
    NONE = "none"


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"
    PARTLY_SATISFIED = "partly_satisfied"
    DISSATISFIED = "dissatisfied"


class Stage(StrEnum):
    """P7: the two deadlines of a complaint."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class FeedbackKind(StrEnum):
    SUGGESTION = "suggestion"  # 建议
    INQUIRY = "inquiry"  # 咨询
    PRAISE = "praise"  # 表扬
    OTHER = "other"


class FeedbackStage(StrEnum):
    """P8: the deadlines of a feedback."""

    ANSWER = "answer"  # the assignee answers the customer
    ESCALATION = "escalation"  # the general manager acknowledges a major one


class ServiceKind(StrEnum):
    INSTALLATION = "installation"  # 安装
    REPAIR = "repair"  # 维修
    TECHNICAL_SUPPORT = "technical_support"  # 技术支持
    TRAINING = "training"  # 培训


class ServiceStage(StrEnum):
    """P9: the deadlines of a service request."""

    SCHEDULE = "schedule"
    COMPLETE = "complete"


# The fields of a step of a complaint, a feedback or a service request: its own, then what every consumer
# counts it by (``_refs`` of its aggregate: R2, R7, P8, P9), then who did it. Set as the class's annotations
# (as text, as this module writes every annotation), so the common fields are declared once, each in its
# place in the stored JSON.
def complaint_step(**own: str) -> dict[str, str]:
    refs = {"complaint_type": "ComplaintType", "customer_id": "str", "order_id": "str | None"}
    return own | refs | {"staff_id": "str | None", "meta": "Meta"}


def feedback_step(**own: str) -> dict[str, str]:
    return own | {"kind": "FeedbackKind", "customer_id": "str", "meta": "Meta"}


def service_step(**own: str) -> dict[str, str]:
    return own | {"kind": "ServiceKind", "customer_id": "str", "region": "str", "meta": "Meta"}


# Complaint (P1–P4, P6, P7) ---------------------------------------------------------------------------
class ComplaintLogged(CreatedEvent):
    TOPIC = "complaints.Complaint.ComplaintLogged"
    complaint_type: ComplaintType
    customer_id: str
    order_id: str | None
    staff_id: str | None
    assigned_to: str
    assigned_role: Role
    description: str
    receipt_number: str | None
    product_name: str | None
    spec: str | None
    quantity: int | None
    purchase_date: date | None
    acknowledge_by: datetime
    resolve_by: datetime
    meta: Meta


class ComplaintInvestigationStarted(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintInvestigationStarted"
    __annotations__ = complaint_step(departments_notified="list[str]", notes="str")


class ComplaintSiteVisited(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintSiteVisited"
    __annotations__ = complaint_step(visited_on="date", findings="str")


class ComplaintResolved(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintResolved"
    __annotations__ = complaint_step(resolution="Resolution", amount="Decimal | None", notes="str")


class ComplaintFollowedUp(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintFollowedUp"
    __annotations__ = complaint_step(notes="str")


# P5: public criticism and a fine of the staff member a valid service complaint names.
class PenaltyIssued(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.PenaltyIssued"
    complaint_id: str
    customer_id: str
    order_id: str | None
    staff_id: str
    severity: Severity
    amount: Decimal
    public_criticism: bool
    meta: Meta


class ComplaintProposalMade(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintProposalMade"
    __annotations__ = complaint_step(proposal="str")


class ComplaintDecided(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintDecided"
    __annotations__ = complaint_step(decision="str")


class ComplaintOverdue(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintOverdue"
    __annotations__ = complaint_step(stage="Stage", deadline="datetime", assigned_to="str")


class ComplaintAcknowledged(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintAcknowledged"
    __annotations__ = complaint_step()


class ComplaintVerified(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintVerified"
    __annotations__ = complaint_step(valid="bool", severity="Severity | None", cause="str", notes="str")


class ComplaintCustomerInformed(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintCustomerInformed"
    __annotations__ = complaint_step(satisfaction="Satisfaction", notes="str")


class ComplaintClosed(SalesAggregate.Event):
    TOPIC = "complaints.Complaint.ComplaintClosed"
    __annotations__ = complaint_step(
        valid="bool | None",
        severity="Severity | None",
        resolution="Resolution | None",
        satisfaction="Satisfaction | None",
        fine="Decimal | None",
    )


# StaffRecord (P5) ----------------------------------------------------------------------------------
class StaffRecordOpened(CreatedEvent):
    TOPIC = "complaints.StaffRecord.StaffRecordOpened"
    staff_id: str
    meta: Meta


class StaffPenaltyCounted(SalesAggregate.Event):
    TOPIC = "complaints.StaffRecord.StaffPenaltyCounted"
    complaint_id: str
    staff_id: str
    severity: Severity
    amount: Decimal
    meta: Meta


# P5: a severe case, or the third valid service complaint against a person within 12 months.
class DismissalRecommended(SalesAggregate.Event):
    TOPIC = "complaints.StaffRecord.DismissalRecommended"
    staff_id: str
    complaint_id: str
    reason: str
    valid_complaints: int
    window_months: int
    meta: Meta


# Feedback (P8) ---------------------------------------------------------------------------------------
class FeedbackLogged(CreatedEvent):
    TOPIC = "complaints.Feedback.FeedbackLogged"
    kind: FeedbackKind
    customer_id: str
    content: str
    major: bool
    assigned_to: str
    answer_by: datetime
    meta: Meta


class FeedbackEscalated(SalesAggregate.Event):
    TOPIC = "complaints.Feedback.FeedbackEscalated"
    __annotations__ = feedback_step(escalated_to="str", acknowledge_by="datetime")


class FeedbackAssigned(SalesAggregate.Event):
    TOPIC = "complaints.Feedback.FeedbackAssigned"
    __annotations__ = feedback_step(assigned_to="str", previous="str")


class FeedbackEscalationAcknowledged(SalesAggregate.Event):
    TOPIC = "complaints.Feedback.FeedbackEscalationAcknowledged"
    __annotations__ = feedback_step(notes="str")


class FeedbackAnswered(SalesAggregate.Event):
    TOPIC = "complaints.Feedback.FeedbackAnswered"
    __annotations__ = feedback_step(answer="str", assigned_to="str", within_deadline="bool")


class FeedbackOverdue(SalesAggregate.Event):
    TOPIC = "complaints.Feedback.FeedbackOverdue"
    __annotations__ = feedback_step(
        stage="FeedbackStage", deadline="datetime", responsible="str", major="bool"
    )


# ServiceRequest (P9) ---------------------------------------------------------------------------------
class ServiceRequestLogged(CreatedEvent):
    TOPIC = "complaints.ServiceRequest.ServiceRequestLogged"
    kind: ServiceKind
    customer_id: str
    region: str
    description: str
    quality_defect: bool
    complaint_id: str | None
    schedule_by: datetime
    complete_by: datetime
    meta: Meta


class TechnicianAssigned(SalesAggregate.Event):
    TOPIC = "complaints.ServiceRequest.TechnicianAssigned"
    __annotations__ = service_step(technician_id="str", previous="str | None")


class ServiceScheduled(SalesAggregate.Event):
    TOPIC = "complaints.ServiceRequest.ServiceScheduled"
    __annotations__ = service_step(
        scheduled_for="datetime", notes="str", technician_id="str", within_deadline="bool"
    )


class ServiceCompleted(SalesAggregate.Event):
    TOPIC = "complaints.ServiceRequest.ServiceCompleted"
    __annotations__ = service_step(report="str", technician_id="str", within_deadline="bool")


class ServiceSignedOff(SalesAggregate.Event):
    TOPIC = "complaints.ServiceRequest.ServiceSignedOff"
    __annotations__ = service_step(
        signed_by="str", satisfaction="Satisfaction", notes="str", technician_id="str"
    )


class ServiceRequestOverdue(SalesAggregate.Event):
    TOPIC = "complaints.ServiceRequest.ServiceRequestOverdue"
    __annotations__ = service_step(stage="ServiceStage", deadline="datetime", technician_id="str | None")
