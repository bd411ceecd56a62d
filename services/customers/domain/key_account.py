"""C13 key accounts (重点客户管理): an A customer's plan, written by the sales manager, with the advice of
the customer-service manager and of the general manager (seed 002 重点客户管理表).

Methods and events of ``Customer`` (taken into the class in customer.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from services.customers.domain.values import KEY_ACCOUNT_ADVISERS
from shared import customer_contract as published
from shared.aggregate import Meta, require_role
from shared.contracts import Role
from shared.customer_contract import Grade
from shared.errors import InvalidState
from shared.events import aggregate_event

if TYPE_CHECKING:
    from services.customers.domain.customer import Customer


def write_plan(
    self: Customer, year: int, sales_target: Decimal, why_key: str, actions: list[str], meta: Meta
) -> None:
    """A new plan replaces the one before it; the advisers' parts start afresh."""
    require_role(meta, {Role.SALES_MANAGER}, "C13", "write a key-account plan")
    self._require_approved("C13", "plan a key account for")
    if self.grade is not Grade.A:
        raise InvalidState(
            "only an A-grade customer (key account) has a key-account plan",
            rule="C13",
            details={"grade": self.grade.value if self.grade else None},
        )
    self._key_account_plan_written(
        year=year, sales_target=sales_target, why_key=why_key, actions=list(actions), meta=meta
    )


KeyAccountPlanWritten = aggregate_event(published.KeyAccountPlanWritten)


@event(KeyAccountPlanWritten)
def plan_written(
    self: Customer, year: int, sales_target: Decimal, why_key: str, actions: list[str], meta: Meta
) -> None:
    self.key_account_plan = {
        "year": year,
        "sales_target": sales_target,
        "why_key": why_key,
        "actions": list(actions),
        "written_by": meta.actor_id,
        "written_at": meta.at.isoformat(),
        "advice": {},
    }


def advise(self: Customer, advice: str, meta: Meta) -> None:
    """Each adviser (customer_service_manager, general_manager) writes their own part."""
    require_role(meta, KEY_ACCOUNT_ADVISERS, "C13", "advise on a key-account plan")
    if self.key_account_plan is None:
        raise InvalidState("the customer has no key-account plan to advise on", rule="C13")
    self._key_account_advice_given(adviser_role=Role(meta.actor_role), advice=advice, meta=meta)


KeyAccountAdviceGiven = aggregate_event(published.KeyAccountAdviceGiven)


@event(KeyAccountAdviceGiven)
def advice_given(self: Customer, adviser_role: Role, advice: str, meta: Meta) -> None:
    assert self.key_account_plan is not None
    self.key_account_plan["advice"][Role(adviser_role).value] = {
        "advice": advice,
        "by": meta.actor_id,
        "at": meta.at.isoformat(),
    }
