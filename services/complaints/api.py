"""Complaints routes: NATS subjects in, replies out (``<ns>.complaints.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.complaints import commands as c
from services.complaints import events
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
from shared.bus import ServiceBus, in_thread
from shared.contracts import Role
from shared.events import declared_events

EVENTS = declared_events(events)

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


def register(bus: ServiceBus, app: ComplaintsApplication) -> None:
    decided = app.commands.handler  # commands are decided in turn and saved in batches (shared/worker.py)
    result = c.ComplaintResult
    bus.command("log_complaint", c.LogComplaint, decided(app.log_complaint), result)
    bus.command("acknowledge_complaint", c.AcknowledgeComplaint, decided(app.acknowledge_complaint), result)
    bus.command("start_investigation", c.StartInvestigation, decided(app.start_investigation), result)
    bus.command("verify_complaint", c.VerifyComplaint, decided(app.verify_complaint), result)
    bus.command("record_site_visit", c.RecordSiteVisit, decided(app.record_site_visit), result)
    bus.command("resolve_complaint", c.ResolveComplaint, decided(app.resolve_complaint), result)
    bus.command("propose_handling", c.ProposeHandling, decided(app.propose_handling), result)
    bus.command("decide_handling", c.DecideHandling, decided(app.decide_handling), result)
    bus.command("inform_customer", c.InformCustomer, decided(app.inform_customer), result)
    bus.command("follow_up", c.FollowUp, decided(app.follow_up), result)
    bus.command("close_complaint", c.CloseComplaint, decided(app.close_complaint), result)
    feedback = c.FeedbackResult  # P8
    bus.command("log_feedback", c.LogFeedback, decided(app.log_feedback), feedback)
    bus.command("assign_feedback", c.AssignFeedback, decided(app.assign_feedback), feedback)
    bus.command(
        "acknowledge_escalation", c.AcknowledgeEscalation, decided(app.acknowledge_escalation), feedback
    )
    bus.command("answer_feedback", c.AnswerFeedback, decided(app.answer_feedback), feedback)
    service = c.ServiceRequestResult  # P9
    bus.command("log_service_request", c.LogServiceRequest, decided(app.log_service_request), service)
    bus.command("assign_technician", c.AssignTechnician, decided(app.assign_technician), service)
    bus.command("schedule_service", c.ScheduleService, decided(app.schedule_service), service)
    bus.command("complete_service", c.CompleteService, decided(app.complete_service), service)
    bus.command("sign_off_service", c.SignOffService, decided(app.sign_off_service), service)
    bus.query("get_complaint", c.GetComplaint, in_thread(app.get_complaint), result)
    bus.query("get_handling_form", c.GetHandlingForm, in_thread(app.get_handling_form), c.HandlingFormResult)
    bus.query(
        "export_handling_form", c.ExportHandlingForm, in_thread(app.export_handling_form), c.ExportedForm
    )
    bus.query("get_staff_record", c.GetStaffRecord, in_thread(app.get_staff_record), c.StaffRecordResult)
    bus.query("get_feedback", c.GetFeedback, in_thread(app.get_feedback), feedback)
    bus.query("get_service_request", c.GetServiceRequest, in_thread(app.get_service_request), service)
    bus.query(
        "get_service_record", c.GetServiceRecord, in_thread(app.get_service_record), c.HandlingFormResult
    )
    bus.query(
        "export_service_record", c.ExportServiceRecord, in_thread(app.export_service_record), c.ExportedForm
    )
    bus.document_roles(ROLES)
    bus.document_events(EVENTS)
