"""The ``Complaint`` aggregate: one complaint, its whole handling form (P1–P4, P6, P7)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from services.complaints import events
from services.complaints.domain import deadlines, quality, service
from services.complaints.domain.kinds import LOGGERS, PROPOSERS, QUALITY_DECIDERS, SERVICE_HANDLERS, Status
from shared.aggregate import Meta, SalesAggregate, refuse, require_role, require_status
from shared.complaints_contract import ComplaintType, Resolution, Satisfaction, Severity
from shared.contracts import Role
from shared.errors import Forbidden, InvalidState


class Complaint(SalesAggregate):
    """One customer complaint: its handling form (质量处理表 / 服务处理表) is this aggregate's record."""

    TOPIC = "complaints.Complaint"

    # The steps of P3 (quality.py), P4/P5 (service.py) and P7 (deadlines.py) are methods of this class,
    # written beside their rules; assigned here so that the library defines their events on it.
    start_investigation = quality.start_investigation
    _investigation_started = quality._investigation_started
    record_site_visit = quality.record_site_visit
    _site_visited = quality._site_visited
    resolve = quality.resolve
    _resolved = quality._resolved
    follow_up = quality.follow_up
    _followed_up = quality._followed_up
    issue_penalty = service.issue_penalty
    _penalty_issued = service._penalty_issued
    propose = service.propose
    _proposed = service._proposed
    decide = service.decide
    _decided = service._decided
    due = deadlines.due
    mark_overdue = deadlines.mark_overdue
    _overdue = deadlines._overdue

    @event(events.ComplaintLogged)
    def __init__(
        self,
        complaint_type: ComplaintType,
        customer_id: str,
        order_id: str | None,
        staff_id: str | None,
        assigned_to: str,
        assigned_role: Role,
        description: str,
        receipt_number: str | None,
        product_name: str | None,
        spec: str | None,
        quantity: int | None,
        purchase_date: date | None,
        acknowledge_by: datetime,
        resolve_by: datetime,
        meta: Meta,
    ) -> None:
        self.complaint_type = ComplaintType(complaint_type)
        self.customer_id = customer_id
        self.order_id = order_id
        self.staff_id = staff_id
        self.assigned_to = assigned_to
        self.assigned_role = Role(assigned_role)
        self.description = description
        self.receipt_number = receipt_number
        self.product_name = product_name
        self.spec = spec
        self.quantity = quantity
        self.purchase_date = purchase_date
        self.acknowledge_by = acknowledge_by
        self.resolve_by = resolve_by
        self.logged_at = meta.at
        self.logged_by = meta.actor_id
        self.status = Status.LOGGED
        self.acknowledged_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.departments_notified: list[str] = []
        self.valid: bool | None = None
        self.severity: Severity | None = None
        self.cause: str | None = None
        self.verification_notes: str | None = None
        self.site_visit: dict[str, str] | None = None
        self.resolution: Resolution | None = None
        self.resolution_amount: Decimal | None = None
        self.resolution_notes: str | None = None
        self.proposal: str | None = None
        self.decision: str | None = None
        self.satisfaction: Satisfaction | None = None
        self.customer_notes: str | None = None
        self.follow_up_notes: str | None = None
        self.penalty: dict[str, Any] | None = None
        self.overdue: dict[str, datetime] = {}
        self.history: list[dict[str, Any]] = []
        self._record("logged", meta, description)

    @classmethod
    def log(
        cls,
        meta: Meta,
        *,
        complaint_type: ComplaintType,
        customer_id: str,
        assigned_to: str,
        description: str,
        ack_days: int,
        resolve_days: int,
        assigned_role: Role | None = None,
        order_id: str | None = None,
        staff_id: str | None = None,
        receipt_number: str | None = None,
        product_name: str | None = None,
        spec: str | None = None,
        quantity: int | None = None,
        purchase_date: date | None = None,
    ) -> Complaint:
        require_role(meta, LOGGERS, "P2", "log a complaint")
        kind = ComplaintType(complaint_type)
        if kind is ComplaintType.QUALITY:
            # P2: the registration fields of the quality handling form, all required
            missing = [
                name
                for name, value in (
                    ("order_id", order_id or receipt_number),
                    ("product_name", product_name),
                    ("spec", spec),
                    ("quantity", quantity),
                    ("purchase_date", purchase_date),
                )
                if value in (None, "")
            ]
            if missing:
                raise refuse("P2", f"a quality complaint records {', '.join(missing)}", missing=missing)
            role = Role(assigned_role or Role.SALES_MANAGER)
            if role is not Role.SALES_MANAGER:
                raise refuse(
                    "P2",
                    "a quality complaint is assigned to the sales manager in person, whatever its size",
                    field="assigned_role",
                    allowed=[Role.SALES_MANAGER.value],
                )
        else:
            if not staff_id:
                raise refuse(
                    "P2", "a service complaint names the staff member concerned", missing=["staff_id"]
                )
            role = Role(assigned_role or Role.SALES_VP)
            if role not in SERVICE_HANDLERS:
                raise refuse(
                    "P2",
                    "a service complaint goes to the sales VP or the general manager",
                    field="assigned_role",
                    allowed=sorted(r.value for r in SERVICE_HANDLERS),
                )
        return cls(
            complaint_type=kind,
            customer_id=customer_id,
            order_id=order_id,
            staff_id=staff_id,
            assigned_to=assigned_to,
            assigned_role=role,
            description=description,
            receipt_number=receipt_number,
            product_name=product_name,
            spec=spec,
            quantity=quantity,
            purchase_date=purchase_date,
            acknowledge_by=meta.at + timedelta(days=ack_days),
            resolve_by=meta.at + timedelta(days=resolve_days),
            meta=meta,
        )

    # P7 acknowledgement ----------------------------------------------------------------------
    def acknowledge(self, meta: Meta) -> None:
        self._require_handler(meta, "acknowledge")
        if self.acknowledged_at is not None:
            raise InvalidState("the complaint was already acknowledged", rule="P7")
        self.record(events.ComplaintAcknowledged, meta)

    @event(events.ComplaintAcknowledged)
    def _acknowledged(self, meta: Meta) -> None:
        self._record("acknowledged", meta)

    def verify(
        self,
        valid: bool,
        severity: Severity | None,
        cause: str,
        notes: str,
        meta: Meta,
    ) -> None:
        """P3/P4/P6: decide validity. A valid service complaint then needs ``issue_penalty`` (P5)."""
        if self.complaint_type is ComplaintType.QUALITY:
            require_role(meta, QUALITY_DECIDERS, "P6", "decide a quality complaint")
            self._require_status({Status.INVESTIGATING}, "P3", "decide validity")
            if self.valid is not None:
                raise InvalidState("validity was already decided", rule="P3")
            if severity is not None:
                raise refuse(
                    "P6",
                    "a quality complaint is not the salesperson's fault: no severity, no penalty",
                    field="severity",
                )
            if not cause.strip():
                raise refuse("P3", "the investigation records the cause found", field="cause")
        else:
            require_role(meta, SERVICE_HANDLERS, "P4", "verify a service complaint")
            self._require_status({Status.LOGGED}, "P4", "verify")
            if valid and severity is None:
                raise refuse("P5", "a valid service complaint states its severity", field="severity")
            if not valid and severity is not None:
                raise refuse("P5", "an invalid complaint has no severity", field="severity")
        self.record(
            events.ComplaintVerified,
            meta,
            valid=valid,
            severity=Severity(severity) if severity is not None else None,
            cause=cause,
            notes=notes,
        )

    @event(events.ComplaintVerified)
    def _verified(self, valid: bool, severity: Severity | None, cause: str, notes: str, meta: Meta) -> None:
        self.valid = valid
        self.severity = Severity(severity) if severity is not None else None
        self.cause = cause or None
        self.verification_notes = notes or None
        if self.complaint_type is ComplaintType.SERVICE:
            self.status = Status.VERIFIED
        self._record("verified", meta, f"valid={valid}" + (f", severity={severity}" if severity else ""))

    # Both -----------------------------------------------------------------------------------
    def inform_customer(self, satisfaction: Satisfaction, notes: str, meta: Meta) -> None:
        if self.complaint_type is ComplaintType.QUALITY:
            self._require_handler(meta, "inform the customer")
            self._require_status({Status.RESOLVED}, "P3", "inform the customer")
        else:
            require_role(meta, PROPOSERS, "P4", "inform the customer")
            # an invalid service complaint has nothing to propose or decide: straight to the customer
            allowed = {Status.DECIDED} if self.valid else {Status.VERIFIED}
            self._require_status(allowed, "P4", "inform the customer")
        satisfaction = Satisfaction(satisfaction)
        self.record(events.ComplaintCustomerInformed, meta, satisfaction=satisfaction, notes=notes)

    @event(events.ComplaintCustomerInformed)
    def _customer_informed(self, satisfaction: Satisfaction, notes: str, meta: Meta) -> None:
        self.satisfaction = Satisfaction(satisfaction)
        self.customer_notes = notes or None
        self.status = Status.CUSTOMER_INFORMED
        if self.resolved_at is None:
            self.resolved_at = meta.at
        self._record("customer_informed", meta, f"{satisfaction}")

    def close(self, meta: Meta) -> None:
        if self.complaint_type is ComplaintType.QUALITY:
            self._require_handler(meta, "close")
            self._require_status({Status.FOLLOWED_UP}, "P3", "close")
        else:
            require_role(meta, SERVICE_HANDLERS, "P4", "close a service complaint")
            self._require_status({Status.CUSTOMER_INFORMED}, "P4", "close")
        self.record(
            events.ComplaintClosed,
            meta,
            valid=self.valid,
            severity=self.severity,
            resolution=self.resolution,
            satisfaction=self.satisfaction,
            fine=self.penalty["amount"] if self.penalty else None,
        )

    @event(events.ComplaintClosed)
    def _closed(self, meta: Meta) -> None:
        self.status = Status.CLOSED
        self.closed_at = meta.at
        self._record("closed", meta)

    # helpers --------------------------------------------------------------------------------
    def _refs(self) -> dict[str, Any]:
        """What every consumer of a complaint event needs (R2, R7)."""
        return {
            "complaint_type": self.complaint_type.value,
            "customer_id": self.customer_id,
            "order_id": self.order_id,
            "staff_id": self.staff_id,
        }

    def _record(self, step: str, meta: Meta, notes: str = "") -> None:
        # Called from event methods only: the history is part of the handling form (R10 too).
        if step not in ("logged", "overdue", "penalty_issued") and self.acknowledged_at is None:
            self.acknowledged_at = meta.at  # any handling step acknowledges the complaint (P7)
        self.history.append(
            {
                "step": step,
                "at": meta.at,
                "actor_id": meta.actor_id,
                "actor_role": meta.actor_role,
                "notes": notes,
            }
        )

    def _require_handler(self, meta: Meta, action: str) -> None:
        if self.complaint_type is ComplaintType.QUALITY:
            # P2: the quality complaint is the assigned sales manager's, in person
            require_role(meta, {Role.SALES_MANAGER}, "P2", f"{action} a quality complaint")
            if meta.actor_id != self.assigned_to:
                raise Forbidden(
                    f"only the assigned sales manager ({self.assigned_to}) may {action} this complaint",
                    rule="P2",
                    details={"assigned_to": self.assigned_to, "actor": meta.actor_id},
                )
        else:
            require_role(meta, SERVICE_HANDLERS, "P4", f"{action} a service complaint")

    def _require_type(self, kind: ComplaintType, rule: str, action: str) -> None:
        if self.complaint_type is not kind:
            raise InvalidState(
                f"cannot {action} a {self.complaint_type.value} complaint",
                rule=rule,
                details={"complaint_type": self.complaint_type.value},
            )

    def _require_status(self, allowed: set[Status], rule: str, action: str) -> None:
        require_status(self.status, allowed, rule, action, "a complaint")
