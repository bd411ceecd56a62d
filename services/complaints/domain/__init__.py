"""Complaints (客户投诉): types, logging, the quality and service workflows, penalties, deadlines (P1–P7).

Pure: no I/O. Each command method checks its rule and raises ``DomainError`` before any event.
Aggregates: ``Complaint`` (one per complaint, its whole handling form), ``StaffRecord`` (one per staff
member, id derived from the staff id) which counts valid service complaints for P5, ``Feedback`` (P8)
and ``ServiceRequest`` (P9).
Their events are declared in ``shared/complaints_contract.py`` (the published contract), each topic pinned.
"""

from services.complaints.domain.aftersales import ServiceRequest, ServiceStatus, Technician
from services.complaints.domain.complaint import Complaint
from services.complaints.domain.feedback import Feedback, FeedbackStatus
from services.complaints.domain.kinds import LOGGERS, PROPOSERS, QUALITY_DECIDERS, SERVICE_HANDLERS, Status
from services.complaints.domain.penalties import STAFF_NAMESPACE, StaffRecord, fine_for, months_before
from shared.complaints_contract import (
    ComplaintType,
    FeedbackKind,
    FeedbackStage,
    Resolution,
    Satisfaction,
    ServiceKind,
    ServiceStage,
    Severity,
    Stage,
)

__all__ = [
    "LOGGERS",
    "PROPOSERS",
    "QUALITY_DECIDERS",
    "SERVICE_HANDLERS",
    "STAFF_NAMESPACE",
    "Complaint",
    "ComplaintType",
    "Feedback",
    "FeedbackKind",
    "FeedbackStage",
    "FeedbackStatus",
    "Resolution",
    "Satisfaction",
    "ServiceKind",
    "ServiceRequest",
    "ServiceStage",
    "ServiceStatus",
    "Severity",
    "StaffRecord",
    "Stage",
    "Status",
    "Technician",
    "fine_for",
    "months_before",
]
