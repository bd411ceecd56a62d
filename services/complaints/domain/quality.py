"""P3 quality workflow steps of a ``Complaint``: investigation, on-site visit, resolution, follow-up.

Each function is a method of ``Complaint`` (assigned in its class body, so the library sees its events);
kept here beside the rule it serves. The events' fields are declared in ``shared/complaints_contract.py``.
"""

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from services.complaints import events
from services.complaints.domain.kinds import Status
from shared.aggregate import Meta, refuse
from shared.complaints_contract import ComplaintType, Resolution
from shared.errors import InvalidState

if TYPE_CHECKING:
    from services.complaints.domain.complaint import Complaint


def start_investigation(self: "Complaint", departments_notified: list[str], notes: str, meta: Meta) -> None:
    self._require_type(ComplaintType.QUALITY, "P3", "investigate")
    self._require_handler(meta, "start the investigation")
    self._require_status({Status.LOGGED}, "P3", "start investigating")
    if not departments_notified:
        raise refuse(
            "P3", "an investigation notifies the departments concerned", field="departments_notified"
        )
    self.record(
        events.ComplaintInvestigationStarted,
        meta,
        departments_notified=list(departments_notified),
        notes=notes,
    )


@event(events.ComplaintInvestigationStarted)
def _investigation_started(
    self: "Complaint", departments_notified: list[str], notes: str, meta: Meta
) -> None:
    self.departments_notified = list(departments_notified)
    self.status = Status.INVESTIGATING
    self._record("investigation_started", meta, notes)


def record_site_visit(self: "Complaint", visited_on: date, findings: str, meta: Meta) -> None:
    self._require_type(ComplaintType.QUALITY, "P3", "record a site visit for")
    self._require_handler(meta, "record a site visit")
    self._require_status({Status.INVESTIGATING}, "P3", "record a site visit")
    self.record(events.ComplaintSiteVisited, meta, visited_on=visited_on, findings=findings)


@event(events.ComplaintSiteVisited)
def _site_visited(self: "Complaint", visited_on: date, findings: str, meta: Meta) -> None:
    self.site_visit = {"visited_on": visited_on.isoformat(), "findings": findings}
    self.status = Status.SITE_VISITED
    self._record("site_visited", meta, findings)


def resolve(
    self: "Complaint", resolution: Resolution, amount: Decimal | None, notes: str, meta: Meta
) -> None:
    self._require_type(ComplaintType.QUALITY, "P3", "resolve")
    self._require_handler(meta, "resolve")
    self._require_status({Status.INVESTIGATING, Status.SITE_VISITED}, "P3", "resolve")
    if self.valid is None:
        raise InvalidState("validity is decided before the complaint is resolved", rule="P3")
    resolution = Resolution(resolution)
    if amount is not None and resolution not in (Resolution.REFUND, Resolution.CREDIT):
        raise refuse("P3", "only a refund or a credit carries an amount", field="amount")
    self.record(events.ComplaintResolved, meta, resolution=resolution, amount=amount, notes=notes)


@event(events.ComplaintResolved)
def _resolved(
    self: "Complaint", resolution: Resolution, amount: Decimal | None, notes: str, meta: Meta
) -> None:
    self.resolution = Resolution(resolution)
    self.resolution_amount = amount
    self.resolution_notes = notes or None
    self.status = Status.RESOLVED
    self.resolved_at = meta.at
    self._record("resolved", meta, f"{resolution}" + (f" {amount}" if amount is not None else ""))


def follow_up(self: "Complaint", notes: str, meta: Meta) -> None:
    self._require_type(ComplaintType.QUALITY, "P3", "follow up")
    self._require_handler(meta, "follow up")
    self._require_status({Status.CUSTOMER_INFORMED}, "P3", "follow up")
    self.record(events.ComplaintFollowedUp, meta, notes=notes)


@event(events.ComplaintFollowedUp)
def _followed_up(self: "Complaint", notes: str, meta: Meta) -> None:
    self.follow_up_notes = notes
    self.status = Status.FOLLOWED_UP
    self._record("followed_up", meta, notes)
