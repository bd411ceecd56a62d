"""The complaints service's published event contract (P1–P9): one model per event, declared once.

The aggregates store the classes made from these models (``services/complaints/events.py``), the relay
publishes them as ``data`` of the envelope, the AsyncAPI document (``docs/asyncapi/complaints.json``) is
written from them, and the services that read the complaints stream refer to them. Each topic is pinned
(``<service>.<aggregate>.<event>``): stored events load whichever module a class lives in. A field's place
is its place in the stored JSON: append, never reorder.

The values an event carries (kinds, severities, stages…) are defined here too: they are the contract's.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from shared.contracts import DecimalText, Role
from shared.events import EventContract


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
# counts it by (``_refs`` of its aggregate: R2, R7, P8, P9). Set as the class's annotations (as text, as
# this module writes every annotation), so the common fields are declared once, each in its place in the
# stored JSON (where a base class's would come first).
def complaint_step(**own: str) -> dict[str, str]:
    refs = {"complaint_type": "ComplaintType", "customer_id": "str", "order_id": "str | None"}
    return own | refs | {"staff_id": "str | None"}


def feedback_step(**own: str) -> dict[str, str]:
    return own | {"kind": "FeedbackKind", "customer_id": "str"}


def service_step(**own: str) -> dict[str, str]:
    return own | {"kind": "ServiceKind", "customer_id": "str", "region": "str"}


class ComplaintsEvent(EventContract, family=True):
    """An event of the complaints stream: of the ``Complaint`` aggregate unless its class says otherwise."""

    SERVICE: ClassVar[str] = "complaints"
    AGGREGATE: ClassVar[str] = "Complaint"


# Complaint (P1–P4, P6, P7) ---------------------------------------------------------------------------
class ComplaintLogged(ComplaintsEvent):
    CREATED = True
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


class ComplaintInvestigationStarted(ComplaintsEvent):
    __annotations__ = complaint_step(departments_notified="list[str]", notes="str")


class ComplaintSiteVisited(ComplaintsEvent):
    __annotations__ = complaint_step(visited_on="date", findings="str")


class ComplaintResolved(ComplaintsEvent):
    __annotations__ = complaint_step(resolution="Resolution", amount="DecimalText | None", notes="str")


class ComplaintFollowedUp(ComplaintsEvent):
    __annotations__ = complaint_step(notes="str")


# P5: public criticism and a fine of the staff member a valid service complaint names.
class PenaltyIssued(ComplaintsEvent):
    complaint_id: str
    customer_id: str
    order_id: str | None
    staff_id: str
    severity: Severity
    amount: DecimalText
    public_criticism: bool


class ComplaintProposalMade(ComplaintsEvent):
    __annotations__ = complaint_step(proposal="str")


class ComplaintDecided(ComplaintsEvent):
    __annotations__ = complaint_step(decision="str")


class ComplaintOverdue(ComplaintsEvent):
    __annotations__ = complaint_step(stage="Stage", deadline="datetime", assigned_to="str")


class ComplaintAcknowledged(ComplaintsEvent):
    __annotations__ = complaint_step()


class ComplaintVerified(ComplaintsEvent):
    __annotations__ = complaint_step(valid="bool", severity="Severity | None", cause="str", notes="str")


class ComplaintCustomerInformed(ComplaintsEvent):
    __annotations__ = complaint_step(satisfaction="Satisfaction", notes="str")


class ComplaintClosed(ComplaintsEvent):
    __annotations__ = complaint_step(
        valid="bool | None",
        severity="Severity | None",
        resolution="Resolution | None",
        satisfaction="Satisfaction | None",
        fine="DecimalText | None",
    )


# StaffRecord (P5) ----------------------------------------------------------------------------------
class StaffRecordEvent(ComplaintsEvent, aggregate="StaffRecord"):
    """P5: a staff member's record of valid service complaints."""


class StaffRecordOpened(StaffRecordEvent):
    CREATED = True
    staff_id: str


class StaffPenaltyCounted(StaffRecordEvent):
    complaint_id: str
    staff_id: str
    severity: Severity
    amount: DecimalText


# P5: a severe case, or the third valid service complaint against a person within 12 months.
class DismissalRecommended(StaffRecordEvent):
    staff_id: str
    complaint_id: str
    reason: str
    valid_complaints: int
    window_months: int


# Feedback (P8) ---------------------------------------------------------------------------------------
class FeedbackEvent(ComplaintsEvent, aggregate="Feedback"):
    """P8: a customer's feedback."""


class FeedbackLogged(FeedbackEvent):
    CREATED = True
    kind: FeedbackKind
    customer_id: str
    content: str
    major: bool
    assigned_to: str
    answer_by: datetime


class FeedbackEscalated(FeedbackEvent):
    __annotations__ = feedback_step(escalated_to="str", acknowledge_by="datetime")


class FeedbackAssigned(FeedbackEvent):
    __annotations__ = feedback_step(assigned_to="str", previous="str")


class FeedbackEscalationAcknowledged(FeedbackEvent):
    __annotations__ = feedback_step(notes="str")


class FeedbackAnswered(FeedbackEvent):
    __annotations__ = feedback_step(answer="str", assigned_to="str", within_deadline="bool")


class FeedbackOverdue(FeedbackEvent):
    __annotations__ = feedback_step(
        stage="FeedbackStage", deadline="datetime", responsible="str", major="bool"
    )


# ServiceRequest (P9) ---------------------------------------------------------------------------------
class ServiceRequestEvent(ComplaintsEvent, aggregate="ServiceRequest"):
    """P9: an after-sales service request."""


class ServiceRequestLogged(ServiceRequestEvent):
    CREATED = True
    kind: ServiceKind
    customer_id: str
    region: str
    description: str
    quality_defect: bool
    complaint_id: str | None
    schedule_by: datetime
    complete_by: datetime


class TechnicianAssigned(ServiceRequestEvent):
    __annotations__ = service_step(technician_id="str", previous="str | None")


class ServiceScheduled(ServiceRequestEvent):
    __annotations__ = service_step(
        scheduled_for="datetime", notes="str", technician_id="str", within_deadline="bool"
    )


class ServiceCompleted(ServiceRequestEvent):
    __annotations__ = service_step(report="str", technician_id="str", within_deadline="bool")


class ServiceSignedOff(ServiceRequestEvent):
    __annotations__ = service_step(
        signed_by="str", satisfaction="Satisfaction", notes="str", technician_id="str"
    )


class ServiceRequestOverdue(ServiceRequestEvent):
    __annotations__ = service_step(stage="ServiceStage", deadline="datetime", technician_id="str | None")
