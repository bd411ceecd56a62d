"""Complaints application: the commands of P1–P9 on stored state, the deadline scan, and the queries."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from services.complaints import commands as c
from services.complaints import events, scopes
from services.complaints.domain import (
    Complaint,
    ComplaintType,
    Feedback,
    FeedbackStage,
    ServiceRequest,
    ServiceStage,
    StaffRecord,
    Stage,
    Status,
    Technician,
    fine_for,
)
from services.complaints.forms import after_sales_form, handling_form, history_of, render_html
from shared.aggregate import Meta
from shared.clock import Clock
from shared.contracts import Actor, Command, Role
from shared.customer_directory import CustomerDirectory
from shared.errors import DomainError, InvalidState, NotFound
from shared.repository import LogFollower, existing, find
from shared.results import result_of
from shared.settings import Settings
from shared.store import Outcome, ServiceApplication

log = logging.getLogger(__name__)
Tracked = TypeVar("Tracked", Complaint, Feedback, ServiceRequest)
# How a missing one is named in the refusal: (in words, the id's field).
NAMES: dict[type, tuple[str, str]] = {
    Complaint: ("complaint", "complaint_id"),
    Feedback: ("feedback", "feedback_id"),
    ServiceRequest: ("service request", "request_id"),
}

# What the deadline scan follows: every aggregate with deadlines starts with one of these (P7, P8, P9).
LOGGED_TOPICS = [
    events.ComplaintLogged.TOPIC,
    events.FeedbackLogged.TOPIC,
    events.ServiceRequestLogged.TOPIC,
]
SYSTEM = Actor(id="complaints-deadlines", role=Role.SYSTEM)


def complaint_result(complaint: Complaint, staff: StaffRecord | None = None) -> dict[str, Any]:
    dismissed = staff is not None and any(d["complaint_id"] == str(complaint.id) for d in staff.dismissals)
    return result_of(
        c.ComplaintResult,
        complaint,
        complaint_id=str(complaint.id),
        dismissal_recommended=dismissed,
        overdue=sorted(complaint.overdue),
    )


def feedback_result(feedback: Feedback) -> dict[str, Any]:
    return result_of(
        c.FeedbackResult, feedback, feedback_id=str(feedback.id), overdue=sorted(feedback.overdue)
    )


def service_request_result(request: ServiceRequest) -> dict[str, Any]:
    return result_of(
        c.ServiceRequestResult, request, request_id=str(request.id), overdue=sorted(request.overdue)
    )


def technician_of(cmd: c.AssignTechnician) -> Technician:
    """P9: the technician and the region they belong to. The one place that says where the region comes
    from: the command's assignee for now; a verified credential's region once actors carry one."""
    return Technician(id=cmd.technician.id, region=cmd.technician.region)


class ComplaintsApplication(ServiceApplication):
    service = "complaints"

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        customers: CustomerDirectory,
        env: dict[str, str] | None = None,
    ) -> None:
        self.customers = customers  # each customer's region and salesperson: the scopes
        super().__init__(settings, clock, env)
        # The deadline scan's memory: rebuilt from the store after a restart (P7).
        self._scan_lock = threading.Lock()
        self._logged = LogFollower(self.recorder, LOGGED_TOPICS)
        self._open: set[UUID] = set()

    # P1/P2 ------------------------------------------------------------------------------------
    def log_complaint(self, cmd: c.LogComplaint) -> dict[str, Any]:
        ack, resolve = self.settings.complaint_ack_days, self.settings.complaint_resolve_days

        def log(meta: Meta, fields: dict[str, Any]) -> Complaint:
            return Complaint.log(meta, ack_days=ack, resolve_days=resolve, **fields)

        return self._log(cmd, "complaint", log, complaint_result)

    def acknowledge_complaint(self, cmd: c.AcknowledgeComplaint) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.acknowledge(meta))

    # P3 ---------------------------------------------------------------------------------------
    def start_investigation(self, cmd: c.StartInvestigation) -> dict[str, Any]:
        departments = list(cmd.departments_notified)
        return self._change(cmd, lambda x, meta: x.start_investigation(departments, cmd.notes, meta))

    def verify_complaint(self, cmd: c.VerifyComplaint) -> dict[str, Any]:
        """P3–P6: a valid service complaint is verified, fined and counted on the staff record, atomically."""
        s = self.settings

        def decide(meta: Meta) -> Outcome:
            complaint = self._complaint(cmd.complaint_id)
            if complaint.complaint_type is ComplaintType.QUALITY and cmd.fine is not None:
                raise DomainError(
                    "no penalty may be issued to sales staff for a quality complaint",
                    rule="P6",
                    details={"field": "fine"},
                )
            if complaint.complaint_type is ComplaintType.SERVICE and cmd.fine is not None and not cmd.valid:
                raise DomainError(
                    "an invalid complaint carries no fine", rule="P5", details={"field": "fine"}
                )
            complaint.verify(cmd.valid, cmd.severity, cmd.cause, cmd.notes, meta)
            if complaint.complaint_type is not ComplaintType.SERVICE or not cmd.valid or cmd.severity is None:
                return Outcome(complaint_result(complaint), [complaint])
            fines, low, high = s.complaint_fines, s.complaint_fine_min, s.complaint_fine_max
            amount = fine_for(cmd.severity, fines, low, high, cmd.fine)
            complaint.issue_penalty(amount, meta)
            staff = self._staff_record(complaint.staff_id or "", meta)
            threshold, months = s.dismissal_valid_complaints, s.dismissal_window_months
            staff.count_penalty(str(complaint.id), cmd.severity, amount, threshold, months, meta)
            # One save: the complaint and the staff record change together or not at all; a concurrent
            # verification against the same person collides on the staff record and is decided again.
            return Outcome(complaint_result(complaint, staff), [complaint, staff])

        return self.execute(cmd, decide)

    def record_site_visit(self, cmd: c.RecordSiteVisit) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.record_site_visit(cmd.visited_on, cmd.findings, meta))

    def resolve_complaint(self, cmd: c.ResolveComplaint) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.resolve(cmd.resolution, cmd.amount, cmd.notes, meta))

    def follow_up(self, cmd: c.FollowUp) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.follow_up(cmd.notes, meta))

    # P4 ---------------------------------------------------------------------------------------
    def propose_handling(self, cmd: c.ProposeHandling) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.propose(cmd.proposal, meta))

    def decide_handling(self, cmd: c.DecideHandling) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.decide(cmd.decision, meta))

    # both -------------------------------------------------------------------------------------
    def inform_customer(self, cmd: c.InformCustomer) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.inform_customer(cmd.satisfaction, cmd.notes, meta))

    def close_complaint(self, cmd: c.CloseComplaint) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.close(meta))

    # P8 ---------------------------------------------------------------------------------------
    def log_feedback(self, cmd: c.LogFeedback) -> dict[str, Any]:
        answer, escalation = self.settings.feedback_answer_days, self.settings.feedback_escalation_ack_days

        def log(meta: Meta, fields: dict[str, Any]) -> Feedback:
            return Feedback.log(meta, answer_days=answer, escalation_ack_days=escalation, **fields)

        return self._log(cmd, "feedback", log, feedback_result)

    def assign_feedback(self, cmd: c.AssignFeedback) -> dict[str, Any]:
        return self._change_feedback(cmd, lambda x, meta: x.assign(cmd.assigned_to, meta))

    def acknowledge_escalation(self, cmd: c.AcknowledgeEscalation) -> dict[str, Any]:
        return self._change_feedback(cmd, lambda x, meta: x.acknowledge_escalation(cmd.notes, meta))

    def answer_feedback(self, cmd: c.AnswerFeedback) -> dict[str, Any]:
        return self._change_feedback(cmd, lambda x, meta: x.give_answer(cmd.answer, meta))

    def raise_feedback_overdue(self, cmd: c.RaiseFeedbackOverdue) -> dict[str, Any]:
        return self._change_feedback(cmd, lambda x, meta: x.mark_overdue(FeedbackStage(cmd.stage), meta))

    # P9 ---------------------------------------------------------------------------------------
    def log_service_request(self, cmd: c.LogServiceRequest) -> dict[str, Any]:
        schedule, complete = self.settings.after_sales_schedule_days, self.settings.after_sales_complete_days

        def log(meta: Meta, fields: dict[str, Any]) -> ServiceRequest:
            request = ServiceRequest.log(meta, schedule_days=schedule, complete_days=complete, **fields)
            if request.complaint_id is not None:
                self._require_quality_complaint(request.complaint_id)
            return request

        return self._log(cmd, "service request", log, service_request_result)

    def assign_technician(self, cmd: c.AssignTechnician) -> dict[str, Any]:
        technician = technician_of(cmd)
        return self._change_request(cmd, lambda x, meta: x.assign(technician, meta))

    def schedule_service(self, cmd: c.ScheduleService) -> dict[str, Any]:
        return self._change_request(cmd, lambda x, meta: x.schedule(cmd.scheduled_for, cmd.notes, meta))

    def complete_service(self, cmd: c.CompleteService) -> dict[str, Any]:
        return self._change_request(cmd, lambda x, meta: x.complete(cmd.report, meta))

    def sign_off_service(self, cmd: c.SignOffService) -> dict[str, Any]:
        return self._change_request(
            cmd, lambda x, meta: x.sign_off(cmd.signed_by, cmd.satisfaction, cmd.notes, meta)
        )

    def raise_service_overdue(self, cmd: c.RaiseServiceOverdue) -> dict[str, Any]:
        return self._change_request(cmd, lambda x, meta: x.mark_overdue(ServiceStage(cmd.stage), meta))

    # P7 ---------------------------------------------------------------------------------------
    def raise_overdue(self, cmd: c.RaiseOverdue) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.mark_overdue(Stage(cmd.stage), meta))

    def scan_overdue(self) -> int:
        """Raise every passed, unmet deadline of a complaint, feedback or service request once (P7–P9);
        returns how many were raised.

        Safe to run again at any time, in any process: what is due is decided from stored state, and
        the aggregate refuses to raise the same deadline twice.
        """
        with self._scan_lock:
            self._open.update(self._logged.new())
            now = self.clock.now()
            raised = 0
            for aggregate_id in sorted(self._open):
                tracked = self.repository.get(aggregate_id)
                for stage in tracked.due(now):
                    try:
                        self._raise(tracked, str(aggregate_id), stage)
                        raised += 1
                    except InvalidState:  # another scanner (or an earlier run) got there first
                        pass
                if self._settled(tracked):
                    self._open.discard(aggregate_id)
            return raised

    def _raise(self, tracked: Complaint | Feedback | ServiceRequest, aggregate_id: str, stage: str) -> None:
        body = {"actor": SYSTEM, "stage": stage}
        if isinstance(tracked, Complaint):
            self.raise_overdue(c.RaiseOverdue.model_validate(body | {"complaint_id": aggregate_id}))
        elif isinstance(tracked, Feedback):
            self.raise_feedback_overdue(
                c.RaiseFeedbackOverdue.model_validate(body | {"feedback_id": aggregate_id})
            )
        else:
            self.raise_service_overdue(
                c.RaiseServiceOverdue.model_validate(body | {"request_id": aggregate_id})
            )

    @staticmethod
    def _settled(tracked: Complaint | Feedback | ServiceRequest) -> bool:
        """Nothing of it can fall due any more: the scan stops looking at it."""
        if isinstance(tracked, Feedback | ServiceRequest):
            return not tracked.pending_deadlines()
        return tracked.status is Status.CLOSED or len(tracked.overdue) == len(Stage)

    # queries ----------------------------------------------------------------------------------
    def get_complaint(self, query: c.GetComplaint) -> dict[str, Any]:
        complaint = self._complaint(query.complaint_id)
        return complaint_result(complaint, self._existing_staff_record(complaint.staff_id))

    def get_handling_form(self, query: c.GetHandlingForm) -> dict[str, Any]:
        complaint = self._complaint(query.complaint_id)
        return handling_form(complaint, self._existing_staff_record(complaint.staff_id))

    def export_handling_form(self, query: c.ExportHandlingForm) -> dict[str, Any]:
        form = self.get_handling_form(c.GetHandlingForm(complaint_id=query.complaint_id))
        return c.ExportedForm(
            filename=f"{form['form']}-{query.complaint_id}.html",
            content_type="text/html; charset=utf-8",
            content=render_html(form),
        ).model_dump(mode="json")

    def get_staff_record(self, query: c.GetStaffRecord) -> dict[str, Any]:
        staff = self._existing_staff_record(query.staff_id)
        penalties = staff.penalties if staff else []
        return c.StaffRecordResult(
            staff_id=query.staff_id,
            penalties=penalties,
            total_fines=sum((p["amount"] for p in penalties), start=0),
            dismissals=staff.dismissals if staff else [],
        ).model_dump(mode="json")

    def get_feedback(self, query: c.GetFeedback) -> dict[str, Any]:
        return feedback_result(self._get(Feedback, query.feedback_id))

    def get_service_request(self, query: c.GetServiceRequest) -> dict[str, Any]:
        return service_request_result(self._get(ServiceRequest, query.request_id))

    def get_service_record(self, query: c.GetServiceRecord) -> dict[str, Any]:
        request = self._get(ServiceRequest, query.request_id)
        return after_sales_form(request, history_of(self.repository.event_store.get(request.id)))

    def export_service_record(self, query: c.ExportServiceRecord) -> dict[str, Any]:
        form = self.get_service_record(c.GetServiceRecord(request_id=query.request_id))
        return c.ExportedForm(
            filename=f"{form['form']}-{query.request_id}.html",
            content_type="text/html; charset=utf-8",
            content=render_html(form),
        ).model_dump(mode="json")

    # ------------------------------------------------------------------------------------------
    def _log(
        self,
        cmd: c.LogComplaint | c.LogFeedback | c.LogServiceRequest,
        subject: str,
        log: Callable[[Meta, dict[str, Any]], Tracked],
        result: Callable[[Tracked], dict[str, Any]],
    ) -> dict[str, Any]:
        """A new complaint, feedback or service request (``log`` of the command's fields) of a customer
        in the acting user's scope."""
        scopes.customer(self.customers, cmd.customer_id, subject)
        fields = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id"})

        def decide(meta: Meta) -> Outcome:
            logged = log(meta, fields)
            return Outcome(result(logged), [logged])

        return self.execute(cmd, decide)

    def _change_feedback(
        self, cmd: c.FeedbackCommand, change: Callable[[Feedback, Meta], None]
    ) -> dict[str, Any]:
        return self._apply(cmd, Feedback, cmd.feedback_id, change, feedback_result)

    def _change_request(
        self, cmd: c.ServiceRequestCommand, change: Callable[[ServiceRequest, Meta], None]
    ) -> dict[str, Any]:
        return self._apply(cmd, ServiceRequest, cmd.request_id, change, service_request_result)

    def _apply(
        self,
        cmd: Command,
        kind: type[Tracked],
        aggregate_id: str,
        change: Callable[[Tracked, Meta], None],
        result: Callable[[Tracked], dict[str, Any]],
    ) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            found = self._get(kind, aggregate_id)
            change(found, meta)
            return Outcome(result(found), [found])

        return self.execute(cmd, decide)

    def _get(self, kind: type[Tracked], aggregate_id: str) -> Tracked:
        name, key = NAMES[kind]
        found = existing(self.repository, kind, aggregate_id, name, key)
        scopes.customer(self.customers, found.customer_id, f"{name} {aggregate_id}")
        return found

    def _require_quality_complaint(self, complaint_id: str) -> None:
        """P9: the quality complaint a defect repair names must exist (P3)."""
        try:
            complaint = self._complaint(complaint_id)
        except NotFound:
            complaint = None
        if complaint is None or complaint.complaint_type is not ComplaintType.QUALITY:
            raise DomainError(
                f"no quality complaint {complaint_id}",
                rule="P9",
                details={"field": "complaint_id", "complaint_id": complaint_id},
            )

    def _change(self, cmd: c.ComplaintCommand, change: Callable[[Complaint, Meta], None]) -> dict[str, Any]:
        return self._apply(cmd, Complaint, cmd.complaint_id, change, complaint_result)

    def _complaint(self, complaint_id: str) -> Complaint:
        return self._get(Complaint, complaint_id)

    def _staff_record(self, staff_id: str, meta: Meta) -> StaffRecord:
        return self._existing_staff_record(staff_id) or StaffRecord(staff_id=staff_id, meta=meta)

    def _existing_staff_record(self, staff_id: str | None) -> StaffRecord | None:
        return find(self.repository, StaffRecord, StaffRecord.create_id(staff_id)) if staff_id else None
