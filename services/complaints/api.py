"""Complaints routes: NATS subjects in, replies out (``<ns>.complaints.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.complaints import commands as c
from services.complaints.application import ComplaintsApplication
from services.complaints.domain import (
    LOGGERS,
    PROPOSERS,
    QUALITY_DECIDERS,
    SERVICE_HANDLERS,
)
from services.complaints.domain.aftersales import ASSIGNERS as SERVICE_ASSIGNERS
from services.complaints.domain.feedback import ASSIGNERS as FEEDBACK_ASSIGNERS
from services.complaints.domain.feedback import ESCALATED_TO
from shared import complaints_contract
from shared.bus import ServiceBus
from shared.contracts import Role
from shared.events import declared_events
from shared.routes import Table, register_routes

EVENTS = declared_events(complaints_contract)

# A quality complaint is handled by its sales_manager (P2), a service complaint by the sales_vp or the
# general_manager (P4): the table lists both, the complaint's type narrows it.
HANDLERS = SERVICE_HANDLERS | {Role.SALES_MANAGER}
# Who may send each command, published in the contract (x-roles); the domain's checks decide, and
# tests/unit/test_contract_roles.py checks a sample against them.
ROLES: dict[str, frozenset[Role]] = {
    "log_complaint": LOGGERS,
    "acknowledge_complaint": HANDLERS,
    "start_investigation": HANDLERS,
    "verify_complaint": QUALITY_DECIDERS | SERVICE_HANDLERS,
    "record_site_visit": HANDLERS,
    "resolve_complaint": HANDLERS,
    "propose_handling": PROPOSERS,
    "decide_handling": SERVICE_HANDLERS,
    "inform_customer": HANDLERS | PROPOSERS,
    "follow_up": HANDLERS,
    "close_complaint": HANDLERS,
    "log_feedback": LOGGERS,
    "assign_feedback": FEEDBACK_ASSIGNERS,
    "acknowledge_escalation": frozenset({ESCALATED_TO}),
    "answer_feedback": LOGGERS,  # by the person it is assigned to (P8)
    "log_service_request": LOGGERS,
    "assign_technician": SERVICE_ASSIGNERS,
    "schedule_service": frozenset({Role.TECHNICIAN}),  # the assigned one (P9)
    "complete_service": frozenset({Role.TECHNICIAN}),
    "sign_off_service": SERVICE_ASSIGNERS | {Role.TECHNICIAN},
}


# The routes by their reply (shared/routes.py: each served by the application's method of its name).
ROUTES: Table = {
    c.ComplaintResult: "log_complaint acknowledge_complaint start_investigation verify_complaint"
    " record_site_visit resolve_complaint propose_handling decide_handling inform_customer follow_up"
    " close_complaint get_complaint",
    c.HandlingFormResult: "get_handling_form get_service_record",
    c.ExportedForm: "export_handling_form export_service_record",
    c.StaffRecordResult: "get_staff_record",
    # P8, P9
    c.FeedbackResult: "log_feedback assign_feedback acknowledge_escalation answer_feedback get_feedback",
    c.ServiceRequestResult: "log_service_request assign_technician schedule_service complete_service"
    " sign_off_service get_service_request",
}


def register(bus: ServiceBus, app: ComplaintsApplication) -> None:
    register_routes(bus, app, c, ROUTES)
    bus.document_roles(ROLES)
    bus.document_events(EVENTS)
