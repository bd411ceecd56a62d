"""The complaints service's bus contract: commands, queries and their results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.complaints.domain import (
    ComplaintType,
    FeedbackKind,
    Resolution,
    Satisfaction,
    ServiceKind,
    Severity,
)
from shared.contracts import Command, Identifier, Money, Query, Role

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Notes = Annotated[str, Field(max_length=2000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class LogComplaint(Command):
    """P1/P2: log a complaint. Quality: order/receipt, product, spec, quantity, purchase date; assigned to
    the sales manager in person. Service: names the staff member; goes to the sales VP or general manager."""

    complaint_type: ComplaintType
    customer_id: Identifier
    description: Text
    assigned_to: Identifier
    assigned_role: Role | None = None
    order_id: Identifier | None = None
    staff_id: Identifier | None = None
    receipt_number: ShortText | None = None
    product_name: ShortText | None = None
    spec: ShortText | None = None
    quantity: Annotated[int, Field(strict=True, gt=0, le=100_000_000)] | None = None
    purchase_date: date | None = None


class ComplaintCommand(Command):
    complaint_id: Identifier


class AcknowledgeComplaint(ComplaintCommand):
    """P7: the handler acknowledges the complaint (any handling step also does)."""


class StartInvestigation(ComplaintCommand):
    """P3: the assigned sales manager starts investigating; the departments concerned are notified."""

    departments_notified: Annotated[list[ShortText], Field(min_length=1, max_length=20)]
    notes: Notes = ""


class VerifyComplaint(ComplaintCommand):
    """P3/P4/P5/P6: decide validity. A valid service complaint issues the penalty: public criticism and
    the fine for its severity (a setting), or ``fine`` if given (100–200)."""

    valid: Annotated[bool, Field(strict=True)]
    severity: Severity | None = None
    cause: Notes = ""
    notes: Notes = ""
    fine: Money | None = None


class RecordSiteVisit(ComplaintCommand):
    """P3: the optional on-site visit of a quality complaint."""

    visited_on: date
    findings: Text


class ResolveComplaint(ComplaintCommand):
    """P3: how a quality complaint is resolved (refund | replace | repair | credit | none)."""

    resolution: Resolution
    amount: Money | None = None
    notes: Notes = ""


class ProposeHandling(ComplaintCommand):
    """P4: the handling proposal for a valid service complaint."""

    proposal: Text


class DecideHandling(ComplaintCommand):
    """P4: the sales VP or general manager decides the handling of a service complaint."""

    decision: Text


class InformCustomer(ComplaintCommand):
    """P3/P4: the customer is told the outcome; satisfaction recorded."""

    satisfaction: Satisfaction
    notes: Notes = ""


class FollowUp(ComplaintCommand):
    """P3: the follow-up visit or call of a quality complaint."""

    notes: Text


class CloseComplaint(ComplaintCommand):
    """P3/P4: close the complaint."""


class RaiseOverdue(ComplaintCommand):
    """P7 (internal, the deadline scheduler): raise one passed deadline."""

    stage: Literal["acknowledge", "resolve"]


# P8 feedback ----------------------------------------------------------------------------------------
class LogFeedback(Command):
    """P8: log a customer's opinion on sales operations (suggestion, inquiry, praise, other), assigned to
    the person who answers it within 3 days; a ``major`` one is escalated to the general manager at once."""

    kind: FeedbackKind
    customer_id: Identifier
    content: Text
    assigned_to: Identifier
    major: Annotated[bool, Field(strict=True)] = False


class FeedbackCommand(Command):
    feedback_id: Identifier


class AssignFeedback(FeedbackCommand):
    """P8: hand the feedback to another person (sales supervisor or above)."""

    assigned_to: Identifier


class AcknowledgeEscalation(FeedbackCommand):
    """P8: the general manager acknowledges a major feedback escalated to them (within 1 day)."""

    notes: Notes = ""


class AnswerFeedback(FeedbackCommand):
    """P8: the assignee answers the customer (within 3 days)."""

    answer: Text


class RaiseFeedbackOverdue(FeedbackCommand):
    """P8 (internal, the deadline scheduler): raise one passed deadline."""

    stage: Literal["answer", "escalation"]


# P9 after-sales service ---------------------------------------------------------------------------
class LogServiceRequest(Command):
    """P9: log a request for installation, repair, technical support or training for a customer of
    ``region``; a repair of a quality defect names its quality complaint (``complaint_id``, P3)."""

    kind: ServiceKind
    customer_id: Identifier
    region: Identifier
    description: Text
    quality_defect: Annotated[bool, Field(strict=True)] = False
    complaint_id: Identifier | None = None


class ServiceRequestCommand(Command):
    request_id: Identifier


class Assignee(BaseModel):
    """The technician a request is assigned to, with the region they belong to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    region: Identifier


class AssignTechnician(ServiceRequestCommand):
    """P9: assign a technician of the customer's region (sales supervisor or above); another region's
    technician is refused with P9."""

    technician: Assignee


class ScheduleService(ServiceRequestCommand):
    """P9: the assigned technician schedules the visit (within 2 days of the request)."""

    scheduled_for: AwareDatetime
    notes: Notes = ""


class CompleteService(ServiceRequestCommand):
    """P9: the assigned technician reports the service done (within 7 days of the request)."""

    report: Text


class SignOffService(ServiceRequestCommand):
    """P9: the customer's sign-off closes the request (recorded by the technician or an assigner)."""

    signed_by: ShortText
    satisfaction: Satisfaction
    notes: Notes = ""


class RaiseServiceOverdue(ServiceRequestCommand):
    """P9 (internal, the deadline scheduler): raise one passed deadline."""

    stage: Literal["schedule", "complete"]


class GetComplaint(Query):
    complaint_id: Identifier


class GetHandlingForm(Query):
    """P3/P4: the complete record, i.e. the quality or service handling form."""

    complaint_id: Identifier


class ExportHandlingForm(Query):
    """P3/P4: the handling form as a printable, self-contained HTML document (Chinese and English)."""

    complaint_id: Identifier
    format: Literal["html"] = "html"


class GetStaffRecord(Query):
    """P5: a staff member's valid service complaints, fines and dismissal recommendations."""

    staff_id: Identifier


class GetFeedback(Query):
    feedback_id: Identifier


class GetServiceRequest(Query):
    request_id: Identifier


class GetServiceRecord(Query):
    """P9: the complete handling record of an after-sales request (售后服务处理表)."""

    request_id: Identifier


class ExportServiceRecord(Query):
    """P9: the handling record as a printable, self-contained HTML document (Chinese and English)."""

    request_id: Identifier
    format: Literal["html"] = "html"


class ComplaintResult(BaseModel):
    complaint_id: str
    complaint_type: ComplaintType
    status: str
    customer_id: str
    order_id: str | None
    staff_id: str | None
    assigned_to: str
    assigned_role: str
    valid: bool | None
    severity: Severity | None
    penalty: dict[str, Any] | None
    dismissal_recommended: bool = False
    acknowledge_by: datetime
    resolve_by: datetime
    overdue: list[str]
    version: int


class HandlingFormResult(BaseModel):
    form: str  # quality_handling_form | service_handling_form
    title_zh: str
    title_en: str
    record: dict[str, Any]


class ExportedForm(BaseModel):
    filename: str
    content_type: str
    content: str


class StaffRecordResult(BaseModel):
    staff_id: str
    penalties: list[dict[str, Any]]
    total_fines: Money
    dismissals: list[dict[str, Any]]


class FeedbackResult(BaseModel):
    feedback_id: str
    kind: FeedbackKind
    status: str
    customer_id: str
    content: str
    major: bool
    assigned_to: str
    answer_by: datetime
    answer: str | None
    answered_at: datetime | None
    escalated_to: str | None
    escalation_acknowledge_by: datetime | None
    escalation_acknowledged_at: datetime | None
    overdue: list[str]
    version: int


class ServiceRequestResult(BaseModel):
    request_id: str
    kind: ServiceKind
    status: str
    customer_id: str
    region: str
    quality_defect: bool
    complaint_id: str | None
    technician_id: str | None
    schedule_by: datetime
    complete_by: datetime
    scheduled_for: datetime | None
    completed_at: datetime | None
    signed_by: str | None
    satisfaction: Satisfaction | None
    overdue: list[str]
    version: int
