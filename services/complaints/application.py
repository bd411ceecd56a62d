"""Complaints application: the commands of P1–P9 on stored state, the deadline scan, and the queries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

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
from shared.contracts import Actor, Role
from shared.customer_directory import CustomerDirectory
from shared.errors import DomainError, InvalidState, NotFound
from shared.repository import Changes, S, Watchlist, WithCustomers, find
from shared.results import result_of
from shared.store import Outcome

log = logging.getLogger(__name__)

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


# Each kind's command that logs a new one, and its result.
LOGGED: dict[type, type[Complaint | Feedback | ServiceRequest]] = {
    c.LogComplaint: Complaint,
    c.LogFeedback: Feedback,
    c.LogServiceRequest: ServiceRequest,
}
RESULTS: dict[type, Callable[[Any], dict[str, Any]]] = {
    Complaint: complaint_result,
    Feedback: feedback_result,
    ServiceRequest: service_request_result,
}


def exported(form: dict[str, Any], number: str) -> dict[str, Any]:
    """A form as the HTML file its export sends, named after the form and the complaint's or request's id."""
    return c.ExportedForm(
        filename=f"{form['form']}-{number}.html",
        content_type="text/html; charset=utf-8",
        content=render_html(form),
    ).model_dump(mode="json")


def technician_of(cmd: c.AssignTechnician) -> Technician:
    """P9: the technician and the region they belong to. The one place that says where the region comes
    from: the command's assignee for now; a verified credential's region once actors carry one."""
    return Technician(id=cmd.technician.id, region=cmd.technician.region)


class ComplaintsApplication(WithCustomers[CustomerDirectory]):
    service = "complaints"
    names: ClassVar[dict[type, tuple[str, str]]] = {
        Complaint: ("complaint", "complaint_id"),
        Feedback: ("feedback", "feedback_id"),
        ServiceRequest: ("service request", "request_id"),
    }

    def set_up(self) -> None:
        # The deadline scan's memory: rebuilt from the store after a restart (P7).
        self._watch = Watchlist(self.recorder, LOGGED_TOPICS)

    def _change(self, cmd: c.ComplaintCommand, change: Callable[[Complaint, Meta], None]) -> dict[str, Any]:
        return self.change(cmd, Complaint, cmd.complaint_id, change, complaint_result)

    def _change_feedback(
        self, cmd: c.FeedbackCommand, change: Callable[[Feedback, Meta], None]
    ) -> dict[str, Any]:
        return self.change(cmd, Feedback, cmd.feedback_id, change, feedback_result)

    def _change_request(
        self, cmd: c.ServiceRequestCommand, change: Callable[[ServiceRequest, Meta], None]
    ) -> dict[str, Any]:
        return self.change(cmd, ServiceRequest, cmd.request_id, change, service_request_result)

    # The commands that change one complaint, feedback or service request: what it decides with each
    # command's fields; the one the command names, in the acting user's scope, answers its result.
    complaint_change = Changes(_change)  # P1–P7
    acknowledge_complaint = complaint_change(c.AcknowledgeComplaint, lambda x, cmd, meta: x.acknowledge(meta))
    start_investigation = complaint_change(
        c.StartInvestigation,
        lambda x, cmd, meta: x.start_investigation(cmd.departments_notified, cmd.notes, meta),
    )
    record_site_visit = complaint_change(
        c.RecordSiteVisit, lambda x, cmd, meta: x.record_site_visit(cmd.visited_on, cmd.findings, meta)
    )
    resolve_complaint = complaint_change(
        c.ResolveComplaint, lambda x, cmd, meta: x.resolve(cmd.resolution, cmd.amount, cmd.notes, meta)
    )
    follow_up = complaint_change(c.FollowUp, lambda x, cmd, meta: x.follow_up(cmd.notes, meta))
    propose_handling = complaint_change(c.ProposeHandling, lambda x, cmd, meta: x.propose(cmd.proposal, meta))
    decide_handling = complaint_change(c.DecideHandling, lambda x, cmd, meta: x.decide(cmd.decision, meta))
    inform_customer = complaint_change(
        c.InformCustomer, lambda x, cmd, meta: x.inform_customer(cmd.satisfaction, cmd.notes, meta)
    )
    close_complaint = complaint_change(c.CloseComplaint, lambda x, cmd, meta: x.close(meta))
    raise_overdue = complaint_change(
        c.RaiseOverdue, lambda x, cmd, meta: x.mark_overdue(Stage(cmd.stage), meta)
    )
    feedback_change = Changes(_change_feedback)  # P8
    assign_feedback = feedback_change(c.AssignFeedback, lambda x, cmd, meta: x.assign(cmd.assigned_to, meta))
    acknowledge_escalation = feedback_change(
        c.AcknowledgeEscalation, lambda x, cmd, meta: x.acknowledge_escalation(cmd.notes, meta)
    )
    answer_feedback = feedback_change(c.AnswerFeedback, lambda x, cmd, meta: x.give_answer(cmd.answer, meta))
    raise_feedback_overdue = feedback_change(
        c.RaiseFeedbackOverdue, lambda x, cmd, meta: x.mark_overdue(FeedbackStage(cmd.stage), meta)
    )
    request_change = Changes(_change_request)  # P9
    assign_technician = request_change(
        c.AssignTechnician, lambda x, cmd, meta: x.assign(technician_of(cmd), meta)
    )
    schedule_service = request_change(
        c.ScheduleService, lambda x, cmd, meta: x.schedule(cmd.scheduled_for, cmd.notes, meta)
    )
    complete_service = request_change(c.CompleteService, lambda x, cmd, meta: x.complete(cmd.report, meta))
    sign_off_service = request_change(
        c.SignOffService, lambda x, cmd, meta: x.sign_off(cmd.signed_by, cmd.satisfaction, cmd.notes, meta)
    )
    raise_service_overdue = request_change(
        c.RaiseServiceOverdue, lambda x, cmd, meta: x.mark_overdue(ServiceStage(cmd.stage), meta)
    )

    # P1, P2, P8, P9: a new complaint, feedback or service request, of the kind its command's type says.
    def log_new(self, cmd: c.LogComplaint | c.LogFeedback | c.LogServiceRequest) -> dict[str, Any]:
        kind = LOGGED[type(cmd)]
        scopes.customer(self.customers, cmd.customer_id, self.name_of(kind)[0])
        fields = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id"})
        fields |= self._deadlines(kind)

        def decide(meta: Meta) -> Outcome:
            logged = kind.log(meta, **fields)
            if isinstance(logged, ServiceRequest) and logged.complaint_id is not None:
                self._require_quality_complaint(logged.complaint_id)  # a defect repair's (P9)
            return Outcome(RESULTS[kind](logged), [logged])

        return self.execute(cmd, decide)

    log_complaint = log_feedback = log_service_request = log_new

    def _deadlines(self, kind: type) -> dict[str, int]:
        """What a new one must be answered within (P7–P9), from the settings."""
        s = self.settings
        deadlines: dict[type, dict[str, int]] = {
            Complaint: {"ack_days": s.complaint_ack_days, "resolve_days": s.complaint_resolve_days},
            Feedback: {
                "answer_days": s.feedback_answer_days,
                "escalation_ack_days": s.feedback_escalation_ack_days,
            },
            ServiceRequest: {
                "schedule_days": s.after_sales_schedule_days,
                "complete_days": s.after_sales_complete_days,
            },
        }
        return deadlines[kind]

    # P3 ---------------------------------------------------------------------------------------
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

    # P7 ---------------------------------------------------------------------------------------
    def scan_overdue(self) -> int:
        """Raise every passed, unmet deadline of a complaint, feedback or service request once (P7–P9);
        returns how many were raised.

        Safe to run again at any time, in any process: what is due is decided from stored state, and
        the aggregate refuses to raise the same deadline twice.
        """
        with self._watch.lock:
            self._watch.open.update(self._watch.new())
            now = self.clock.now()
            raised = 0
            for aggregate_id in sorted(self._watch.open):
                tracked = self.repository.get(aggregate_id)
                for stage in tracked.due(now):
                    try:
                        self._raise(tracked, str(aggregate_id), stage)
                        raised += 1
                    except InvalidState:  # another scanner (or an earlier run) got there first
                        pass
                if self._settled(tracked):
                    self._watch.open.discard(aggregate_id)
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
        return exported(form, query.complaint_id)

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
        return feedback_result(self.get(Feedback, query.feedback_id))

    def get_service_request(self, query: c.GetServiceRequest) -> dict[str, Any]:
        return service_request_result(self.get(ServiceRequest, query.request_id))

    def get_service_record(self, query: c.GetServiceRecord) -> dict[str, Any]:
        request = self.get(ServiceRequest, query.request_id)
        return after_sales_form(request, history_of(self.repository.event_store.get(request.id)))

    def export_service_record(self, query: c.ExportServiceRecord) -> dict[str, Any]:
        return exported(
            self.get_service_record(c.GetServiceRecord(request_id=query.request_id)), query.request_id
        )

    # ------------------------------------------------------------------------------------------
    def get(self, kind: type[S], aggregate_id: str) -> S:
        """A complaint, feedback or service request, read (and changed) only in its customer's scope: asked
        before any rule."""
        found = super().get(kind, aggregate_id)
        assert isinstance(found, Complaint | Feedback | ServiceRequest)
        scopes.customer(self.customers, found.customer_id, f"{self.name_of(kind)[0]} {aggregate_id}")
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

    def _complaint(self, complaint_id: str) -> Complaint:
        return self.get(Complaint, complaint_id)

    def _staff_record(self, staff_id: str, meta: Meta) -> StaffRecord:
        return self._existing_staff_record(staff_id) or StaffRecord(staff_id=staff_id, meta=meta)

    def _existing_staff_record(self, staff_id: str | None) -> StaffRecord | None:
        return find(self.repository, StaffRecord, StaffRecord.create_id(staff_id)) if staff_id else None
