"""The complaints service's bus contract: commands, queries and their results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from services.complaints.domain import ComplaintType, Resolution, Satisfaction, Severity
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
