"""Complaints application: the commands of P1–P7 on stored state, the deadline scan, and the queries."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from services.complaints import commands as c
from services.complaints.domain import Complaint, ComplaintType, StaffRecord, Stage, Status, fine_for
from services.complaints.forms import handling_form, render_html
from shared.aggregate import Meta
from shared.contracts import Actor, Role
from shared.errors import DomainError, InvalidState, NotFound
from shared.store import Outcome, ServiceApplication

log = logging.getLogger(__name__)

LOGGED_TOPIC = "complaints.Complaint.ComplaintLogged"
SCAN_PAGE = 500
SYSTEM = Actor(id="complaints-deadlines", role=Role.SYSTEM)


def complaint_result(complaint: Complaint, staff: StaffRecord | None = None) -> dict[str, Any]:
    dismissed = staff is not None and any(d["complaint_id"] == str(complaint.id) for d in staff.dismissals)
    return c.ComplaintResult(
        complaint_id=str(complaint.id),
        complaint_type=complaint.complaint_type,
        status=complaint.status.value,
        customer_id=complaint.customer_id,
        order_id=complaint.order_id,
        staff_id=complaint.staff_id,
        assigned_to=complaint.assigned_to,
        assigned_role=complaint.assigned_role.value,
        valid=complaint.valid,
        severity=complaint.severity,
        penalty=complaint.penalty,
        dismissal_recommended=dismissed,
        acknowledge_by=complaint.acknowledge_by,
        resolve_by=complaint.resolve_by,
        overdue=sorted(complaint.overdue),
        version=complaint.version,
    ).model_dump(mode="json")


class ComplaintsApplication(ServiceApplication):
    service = "complaints"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The deadline scan's memory: rebuilt from the store after a restart (P7).
        self._scan_lock = threading.Lock()
        self._scanned_to = 0
        self._open: set[UUID] = set()

    # P1/P2 ------------------------------------------------------------------------------------
    def log_complaint(self, cmd: c.LogComplaint) -> dict[str, Any]:
        fields = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id"})

        def decide(meta: Meta) -> Outcome:
            complaint = Complaint.log(
                meta,
                ack_days=self.settings.complaint_ack_days,
                resolve_days=self.settings.complaint_resolve_days,
                **fields,
            )
            return Outcome(complaint_result(complaint), [complaint])

        return self.execute(cmd, decide)

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

    # P7 ---------------------------------------------------------------------------------------
    def raise_overdue(self, cmd: c.RaiseOverdue) -> dict[str, Any]:
        return self._change(cmd, lambda x, meta: x.mark_overdue(Stage(cmd.stage), meta))

    def scan_overdue(self) -> int:
        """Raise every passed, unmet deadline once; returns how many were raised.

        Safe to run again at any time, in any process: what is due is decided from stored state, and
        the aggregate refuses to raise the same deadline twice.
        """
        with self._scan_lock:
            self._follow_log()
            now = self.clock.now()
            raised = 0
            for complaint_id in sorted(self._open):
                complaint = self._complaint(str(complaint_id))
                for stage in complaint.due(now):
                    cmd = c.RaiseOverdue(actor=SYSTEM, complaint_id=str(complaint_id), stage=stage.value)
                    try:
                        self.raise_overdue(cmd)
                        raised += 1
                    except InvalidState:  # another scanner (or an earlier run) got there first
                        pass
                if complaint.status is Status.CLOSED or len(complaint.overdue) == len(Stage):
                    self._open.discard(complaint_id)
            return raised

    def _follow_log(self) -> None:
        while True:
            page = self.recorder.select_notifications(
                start=self._scanned_to + 1, limit=SCAN_PAGE, topics=[LOGGED_TOPIC]
            )
            for notification in page:
                self._open.add(UUID(str(notification.originator_id)))
                self._scanned_to = notification.id
            if len(page) < SCAN_PAGE:
                return

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

    # ------------------------------------------------------------------------------------------
    def _change(self, cmd: c.ComplaintCommand, change: Callable[[Complaint, Meta], None]) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            complaint = self._complaint(cmd.complaint_id)
            change(complaint, meta)
            return Outcome(complaint_result(complaint), [complaint])

        return self.execute(cmd, decide)

    def _complaint(self, complaint_id: str) -> Complaint:
        try:
            complaint: Complaint = self.repository.get(UUID(complaint_id))
        except (ValueError, AggregateNotFoundError):
            raise NotFound(f"no complaint {complaint_id}", details={"complaint_id": complaint_id}) from None
        if not isinstance(complaint, Complaint):
            raise NotFound(f"no complaint {complaint_id}", details={"complaint_id": complaint_id})
        return complaint

    def _staff_record(self, staff_id: str, meta: Meta) -> StaffRecord:
        return self._existing_staff_record(staff_id) or StaffRecord(staff_id=staff_id, meta=meta)

    def _existing_staff_record(self, staff_id: str | None) -> StaffRecord | None:
        if not staff_id:
            return None
        try:
            record: StaffRecord = self.repository.get(StaffRecord.create_id(staff_id))
        except AggregateNotFoundError:
            return None
        return record
