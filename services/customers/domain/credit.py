"""C11 credit revision and security (信用调查、保全): a special credit investigation at any time, a higher
limit only after the sales manager's approval, a poor rating holding new orders, securities with their
value, holder and expiry.

Methods and events of ``Customer`` (taken into the class in customer.py).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from services.customers.domain.values import CREDIT_INVESTIGATORS
from shared import customer_contract as published
from shared.aggregate import Meta, at_least, require_role
from shared.clock import BUSINESS_TZ
from shared.contracts import Role
from shared.customer_contract import Rating, SecurityKind
from shared.errors import DomainError, InvalidState
from shared.events import aggregate_event

if TYPE_CHECKING:
    from services.customers.domain.customer import Customer

CREDIT_APPROVERS = at_least(Role.SALES_MANAGER)


def revise_credit(self: Customer, rating: Rating, credit_limit: Decimal, notes: str, meta: Meta) -> None:
    """A special investigation (seed 002 第10条) of an approved customer: its rating replaces the old at
    once, and so does a limit no higher than the one in force; a higher one waits for the sales manager.
    A poor rating holds the customer's new orders until reviewed."""
    require_role(meta, CREDIT_INVESTIGATORS, "C11", "record a special credit investigation")
    self._require_approved("C11", "revise the credit of")
    in_force = min(credit_limit, self.credit_limit)
    self._credit_revised(
        rating=Rating(rating),
        credit_limit=in_force,
        previous_limit=self.credit_limit,
        requested_limit=credit_limit,
        notes=notes,
        meta=meta,
    )
    if self.rating is Rating.POOR and not self.orders_held:
        self._orders_held(reason=f"poor credit rating: {notes}".rstrip(": "), rule="C11", meta=meta)


CreditRevised = aggregate_event(published.CreditRevised)


@event(CreditRevised)
def credit_revised(
    self: Customer,
    rating: Rating,
    credit_limit: Decimal,
    previous_limit: Decimal,
    requested_limit: Decimal,
    notes: str,
    meta: Meta,
) -> None:
    """``credit_limit`` is the limit in force after the investigation; ``requested_limit`` above it waits."""
    self.rating = Rating(rating)
    self.credit_limit = credit_limit
    self.pending_credit_limit = requested_limit if requested_limit > credit_limit else None


def approve_credit_raise(self: Customer, meta: Meta) -> None:
    require_role(meta, CREDIT_APPROVERS, "C11", "approve a higher credit limit")
    if self.pending_credit_limit is None:
        raise InvalidState("no higher credit limit awaits approval", rule="C11")
    self._credit_raise_approved(
        credit_limit=self.pending_credit_limit, previous_limit=self.credit_limit, meta=meta
    )


CreditRaiseApproved = aggregate_event(published.CreditRaiseApproved)


@event(CreditRaiseApproved)
def credit_raise_approved(self: Customer, credit_limit: Decimal, previous_limit: Decimal, meta: Meta) -> None:
    self.credit_limit = credit_limit
    self.pending_credit_limit = None


CustomerOrdersHeld = aggregate_event(published.CustomerOrdersHeld)


@event(CustomerOrdersHeld)
def orders_held(self: Customer, reason: str, rule: str, meta: Meta) -> None:
    """Orders put the customer's new orders on hold (O6) while this stands."""
    self.orders_held = True


def lift_credit_hold(self: Customer, reason: str, meta: Meta) -> None:
    require_role(meta, CREDIT_APPROVERS, "C11", "lift a credit hold after review")
    if not self.orders_held:
        raise InvalidState("the customer's orders are not held", rule="C11")
    self._credit_hold_lifted(reason=reason, meta=meta)


CustomerOrdersReleased = aggregate_event(published.CustomerOrdersReleased)


@event(CustomerOrdersReleased)
def credit_hold_lifted(self: Customer, reason: str, meta: Meta) -> None:
    self.orders_held = False


def record_security(self: Customer, security: published.SecurityRecorded, meta: Meta) -> None:
    """``security``: the security as its event will record it."""
    require_role(meta, CREDIT_APPROVERS, "C11", "record a security held against credit")
    self._require_approved("C11", "hold a security of")
    if security.value <= 0:
        raise DomainError("a security has a positive value", rule="C11", details={"field": "value"})
    if security.expires_on <= meta.at.astimezone(BUSINESS_TZ).date():
        raise DomainError("the security has expired already", rule="C11", details={"field": "expires_on"})
    self._security_recorded(**dict(security), meta=meta)


SecurityRecorded = aggregate_event(published.SecurityRecorded)


@event(SecurityRecorded)
def security_recorded(
    self: Customer,
    security_id: str,
    security_kind: SecurityKind,
    value: Decimal,
    holder: str,
    expires_on: date,
    description: str,
    meta: Meta,
) -> None:
    self.securities[security_id] = {
        "security_id": security_id,
        "security_kind": SecurityKind(security_kind),
        "value": value,
        "holder": holder,
        "expires_on": expires_on,
        "description": description,
    }


def release_security(self: Customer, security_id: str, reason: str, meta: Meta) -> None:
    require_role(meta, CREDIT_APPROVERS, "C11", "release a security")
    if security_id not in self.securities:
        raise InvalidState(
            "the customer holds no such security", rule="C11", details={"security_id": security_id}
        )
    self._security_released(security_id=security_id, reason=reason, meta=meta)


SecurityReleased = aggregate_event(published.SecurityReleased)


@event(SecurityReleased)
def security_released(self: Customer, security_id: str, reason: str, meta: Meta) -> None:
    del self.securities[security_id]
