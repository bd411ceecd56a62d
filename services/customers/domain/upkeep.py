"""C10 customer file upkeep (客户资料管理): file edits with their reasons and the values they replaced,
reassignment to another salesperson, a move to another region (the code is kept).

Methods and events of ``Customer`` (taken into the class in customer.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsourcing.domain import event

from services.customers.domain.values import FILE_FIELDS, SALES_STAFF
from shared import customer_contract as published
from shared.aggregate import Meta, at_least, require_role
from shared.contracts import Role
from shared.customer_contract import Status
from shared.errors import DomainError, Forbidden, InvalidState
from shared.events import aggregate_event

if TYPE_CHECKING:
    from services.customers.domain.customer import Customer

UPKEEP_STATES = {Status.PROSPECT, Status.CREDIT_CHECK, Status.APPROVED, Status.SUSPENDED}


def edit_file(self: Customer, changes: dict[str, Any], reason: str, meta: Meta) -> None:
    """Change fields of the file (those of ``FILE_FIELDS``); the application seals the personal ones."""
    require_role(meta, SALES_STAFF, "C10", "edit a customer's file")
    if meta.actor_role == Role.SALESPERSON and meta.actor_id != self.salesperson_id:
        raise Forbidden(
            "only the customer's own salesperson (or above) keeps its file",
            rule="C10",
            details={"salesperson_id": self.salesperson_id},
        )
    self._require_status(UPKEEP_STATES, "C10", "edit the file of")
    unknown = sorted(set(changes) - set(FILE_FIELDS))
    if unknown:
        raise DomainError("not a field of the customer file", rule="C10", details={"field": unknown[0]})
    changed = {name: value for name, value in changes.items() if getattr(self, name) != value}
    if not changed:
        raise DomainError("the edit changes nothing", rule="C10", details={"field": "changes"})
    previous = {name: getattr(self, name) for name in changed}
    self._file_edited(changes=changed, previous=previous, reason=reason, meta=meta)


CustomerFileEdited = aggregate_event(published.CustomerFileEdited)


@event(CustomerFileEdited)
def file_edited(
    self: Customer, changes: dict[str, Any], previous: dict[str, Any], reason: str, meta: Meta
) -> None:
    for name, value in changes.items():
        setattr(self, name, value)
    _noted(self, changes, previous, reason, meta)


def reassign(self: Customer, salesperson_id: str, reason: str, meta: Meta) -> None:
    require_role(meta, at_least(Role.SALES_SUPERVISOR), "C10", "reassign a customer to another salesperson")
    self._require_status(UPKEEP_STATES, "C10", "reassign")
    if salesperson_id == self.salesperson_id:
        raise InvalidState(
            "the customer is already that salesperson's",
            rule="C10",
            details={"salesperson_id": salesperson_id},
        )
    self._salesperson_reassigned(
        salesperson_id=salesperson_id, previous=self.salesperson_id, reason=reason, meta=meta
    )


SalespersonReassigned = aggregate_event(published.SalespersonReassigned)


@event(SalespersonReassigned)
def salesperson_reassigned(
    self: Customer, salesperson_id: str, previous: str, reason: str, meta: Meta
) -> None:
    self.salesperson_id = salesperson_id
    _noted(self, {"salesperson_id": salesperson_id}, {"salesperson_id": previous}, reason, meta)


def move_region(self: Customer, region: str, reason: str, meta: Meta) -> None:
    """The new region's regional manager moves the customer; its code stays what it was (C4)."""
    require_role(meta, at_least(Role.REGIONAL_MANAGER), "C10", "move a customer to another region")
    self._require_status(UPKEEP_STATES, "C10", "move")
    if region == self.region:
        raise InvalidState("the customer is in that region already", rule="C10", details={"region": region})
    self._region_moved(region=region, previous=self.region, reason=reason, meta=meta)


CustomerRegionMoved = aggregate_event(published.CustomerRegionMoved)


@event(CustomerRegionMoved)
def region_moved(self: Customer, region: str, previous: str, reason: str, meta: Meta) -> None:
    self.region = region
    _noted(self, {"region": region}, {"region": previous}, reason, meta)


def _noted(
    self: Customer, changes: dict[str, Any], previous: dict[str, Any], reason: str, meta: Meta
) -> None:
    """The file's history: every change with the values it replaced, who made it, when and why."""
    self.file_history.append(
        {
            "at": meta.at.isoformat(),
            "by": meta.actor_id,
            "role": meta.actor_role,
            "changes": dict(changes),
            "previous": dict(previous),
            "reason": reason,
        }
    )
