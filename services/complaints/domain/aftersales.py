"""P9 after-sales service (售后与技术服务): a request for installation, repair, technical support or training,
served by a technician of the customer's region, scheduled and completed in time, closed with the
customer's sign-off. The whole record is the after-sales service form (售后服务处理表)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from eventsourcing.domain import event

from services.complaints import events
from services.complaints.domain.deadlines import check_raisable, passed
from services.complaints.domain.kinds import LOGGERS
from shared.aggregate import Meta, SalesAggregate, at_least, refuse, require_role, require_status
from shared.complaints_contract import Satisfaction, ServiceKind, ServiceStage
from shared.contracts import Role
from shared.errors import Forbidden


class ServiceStatus(StrEnum):
    LOGGED = "logged"
    ASSIGNED = "assigned"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    SIGNED_OFF = "signed_off"  # closed with the customer's sign-off


@dataclass(frozen=True)
class Technician:
    """Who serves a request: a technician belongs to a region (DOMAIN.md actors)."""

    id: str
    region: str


ASSIGNERS = at_least(Role.SALES_SUPERVISOR)


class ServiceRequest(SalesAggregate):
    """One after-sales service request and its handling record."""

    TOPIC = "complaints.ServiceRequest"

    @event(events.ServiceRequestLogged)
    def __init__(
        self,
        kind: ServiceKind,
        customer_id: str,
        region: str,
        description: str,
        quality_defect: bool,
        complaint_id: str | None,
        schedule_by: datetime,
        complete_by: datetime,
        meta: Meta,
    ) -> None:
        self.kind = ServiceKind(kind)
        self.customer_id = customer_id
        self.region = region
        self.description = description
        self.quality_defect = quality_defect
        self.complaint_id = complaint_id
        self.schedule_by = schedule_by
        self.complete_by = complete_by
        self.logged_at = meta.at
        self.logged_by = meta.actor_id
        self.status = ServiceStatus.LOGGED
        self.technician_id: str | None = None
        self.assigned_at: datetime | None = None
        self.scheduled_for: datetime | None = None
        self.scheduled_at: datetime | None = None
        self.schedule_notes: str | None = None
        self.report: str | None = None
        self.completed_at: datetime | None = None
        self.signed_by: str | None = None
        self.satisfaction: Satisfaction | None = None
        self.customer_notes: str | None = None
        self.signed_off_at: datetime | None = None
        self.overdue: dict[str, datetime] = {}

    @classmethod
    def log(
        cls,
        meta: Meta,
        *,
        kind: ServiceKind,
        customer_id: str,
        region: str,
        description: str,
        quality_defect: bool,
        complaint_id: str | None,
        schedule_days: int,
        complete_days: int,
    ) -> ServiceRequest:
        """Whether ``complaint_id`` is an existing quality complaint is the application's to check."""
        require_role(meta, LOGGERS, "P9", "log an after-sales request")
        kind = ServiceKind(kind)
        defect_repair = kind is ServiceKind.REPAIR and quality_defect
        if defect_repair and not complaint_id:
            raise refuse(
                "P9", "a repair of a quality defect names its quality complaint (P3)", field="complaint_id"
            )
        if complaint_id and not defect_repair:
            raise refuse(
                "P9", "only a repair of a quality defect names a quality complaint", field="complaint_id"
            )
        return cls(
            kind=kind,
            customer_id=customer_id,
            region=region,
            description=description,
            quality_defect=quality_defect,
            complaint_id=complaint_id,
            schedule_by=meta.at + timedelta(days=schedule_days),
            complete_by=meta.at + timedelta(days=complete_days),
            meta=meta,
        )

    def assign(self, technician: Technician, meta: Meta) -> None:
        require_role(meta, ASSIGNERS, "P9", "assign an after-sales request")
        self._require_status(
            {ServiceStatus.LOGGED, ServiceStatus.ASSIGNED, ServiceStatus.SCHEDULED}, "assign"
        )
        if technician.region != self.region:
            raise refuse(
                "P9",
                f"a technician of {technician.region} does not serve a customer of region {self.region}",
                field="technician",
                technician_region=technician.region,
                region=self.region,
            )
        self.record(events.TechnicianAssigned, meta, technician_id=technician.id, previous=self.technician_id)

    @event(events.TechnicianAssigned)
    def _assigned(self, technician_id: str, meta: Meta) -> None:
        self.technician_id = technician_id
        self.assigned_at = meta.at
        if self.status is ServiceStatus.LOGGED:
            self.status = ServiceStatus.ASSIGNED

    def schedule(self, scheduled_for: datetime, notes: str, meta: Meta) -> None:
        self._require_technician(meta, "schedule")
        self._require_status({ServiceStatus.ASSIGNED, ServiceStatus.SCHEDULED}, "schedule")
        if scheduled_for < self.logged_at:
            raise refuse("P9", "a visit is scheduled after the request was logged", field="scheduled_for")
        self.record(
            events.ServiceScheduled,
            meta,
            scheduled_for=scheduled_for,
            notes=notes,
            technician_id=self.technician_id or "",
            within_deadline=meta.at <= self.schedule_by,
        )

    @event(events.ServiceScheduled)
    def _scheduled(self, scheduled_for: datetime, notes: str, meta: Meta) -> None:
        self.scheduled_for = scheduled_for
        self.schedule_notes = notes or None
        if (
            self.scheduled_at is None
        ):  # the first scheduling meets the deadline; a reschedule does not move it
            self.scheduled_at = meta.at
        self.status = ServiceStatus.SCHEDULED

    def complete(self, report: str, meta: Meta) -> None:
        self._require_technician(meta, "complete")
        self._require_status({ServiceStatus.SCHEDULED}, "complete")
        self.record(
            events.ServiceCompleted,
            meta,
            report=report,
            technician_id=self.technician_id or "",
            within_deadline=meta.at <= self.complete_by,
        )

    @event(events.ServiceCompleted)
    def _completed(self, report: str, meta: Meta) -> None:
        self.report = report
        self.completed_at = meta.at
        self.status = ServiceStatus.COMPLETED

    def sign_off(self, signed_by: str, satisfaction: Satisfaction, notes: str, meta: Meta) -> None:
        """The customer's sign-off, recorded by the technician who served or by an assigner."""
        if meta.actor_role not in ASSIGNERS:
            self._require_technician(meta, "record the sign-off of")
        self._require_status({ServiceStatus.COMPLETED}, "sign off")
        self.record(
            events.ServiceSignedOff,
            meta,
            signed_by=signed_by,
            satisfaction=Satisfaction(satisfaction),
            notes=notes,
            technician_id=self.technician_id or "",
        )

    @event(events.ServiceSignedOff)
    def _signed_off(self, signed_by: str, satisfaction: Satisfaction, notes: str, meta: Meta) -> None:
        self.signed_by = signed_by
        self.satisfaction = Satisfaction(satisfaction)
        self.customer_notes = notes or None
        self.signed_off_at = meta.at
        self.status = ServiceStatus.SIGNED_OFF

    # P9 deadlines -----------------------------------------------------------------------------
    def pending_deadlines(self) -> dict[str, datetime]:
        """The deadlines neither met nor raised yet."""
        pending: dict[str, datetime] = {}
        if self.scheduled_at is None and ServiceStage.SCHEDULE not in self.overdue:
            pending[ServiceStage.SCHEDULE.value] = self.schedule_by
        if self.completed_at is None and ServiceStage.COMPLETE not in self.overdue:
            pending[ServiceStage.COMPLETE.value] = self.complete_by
        return pending

    def due(self, now: datetime) -> list[str]:
        return passed(self.pending_deadlines(), now)

    def mark_overdue(self, stage: ServiceStage, meta: Meta) -> None:
        stage = ServiceStage(stage)
        deadline = check_raisable(stage.value, self.pending_deadlines(), self.overdue, meta, "P9")
        self.record(
            events.ServiceRequestOverdue,
            meta,
            stage=stage.value,
            deadline=deadline,
            technician_id=self.technician_id,
        )

    @event(events.ServiceRequestOverdue)
    def _overdue(self, stage: str, meta: Meta) -> None:
        self.overdue[stage] = meta.at

    # helpers ----------------------------------------------------------------------------------
    def _refs(self) -> dict[str, str]:
        """What every consumer of a service event needs to count it per region and kind."""
        return {"kind": self.kind.value, "customer_id": self.customer_id, "region": self.region}

    def _require_technician(self, meta: Meta, action: str) -> None:
        require_role(meta, {Role.TECHNICIAN}, "P9", f"{action} an after-sales visit")
        if meta.actor_id != self.technician_id:
            raise Forbidden(
                f"only the assigned technician ({self.technician_id}) may {action} this request",
                rule="P9",
                details={"technician_id": self.technician_id, "actor": meta.actor_id},
            )

    def _require_status(self, allowed: set[ServiceStatus], action: str) -> None:
        require_status(self.status, allowed, "P9", action, "a request")
