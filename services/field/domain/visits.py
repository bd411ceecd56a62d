"""S2 visits (客户拜访): the monthly visit plan by grade, the visit log, prospects' development plans.

``VisitMonth`` is one salesperson's month (访问计划完成表): the visits planned per customer and every
visit, call or return visit logged, so plan vs actual is read from one aggregate. ``DevelopmentPlan``
is a prospect's development plan (新客户开发计划及实施表): visits logged before it is registered count
on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.field import events
from shared.aggregate import Meta, SalesAggregate, at_least, refuse, require_role
from shared.clock import BUSINESS_TZ
from shared.contracts import Role
from shared.errors import Forbidden, InvalidState
from shared.field_contract import VisitKind

VISIT_NAMESPACE = UUID("a4c1e7d2-58b3-4f06-9d1e-6b2f0c8a3e57")
SALES_STAFF = at_least(Role.SALESPERSON)
PLANNERS = at_least(Role.SALES_SUPERVISOR)  # may plan a salesperson's month besides the salesperson


# (decision) A phone call is logged but does not count as a planned visit made.
COUNTED_KINDS = frozenset({VisitKind.VISIT, VisitKind.RETURN_VISIT})


def required_visits(grade: str, month: int, frequency: Mapping[str, tuple[int, int]]) -> int:
    """S2: visits a customer of ``grade`` needs in calendar ``month`` (``frequency``: visits per N months).
    A visit due once per N months falls in the first month of each N-month period (D: Jan, Apr, Jul, Oct)."""
    visits, every = frequency.get(grade, (0, 1))
    return visits if (month - 1) % every == 0 else 0


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


class VisitMonth(SalesAggregate):
    TOPIC = "field.VisitMonth"

    @staticmethod
    def create_id(salesperson_id: str, month: str) -> UUID:
        return uuid.uuid5(VISIT_NAMESPACE, f"{salesperson_id}:{month}")

    @event(events.VisitMonthOpened)
    def __init__(self, salesperson_id: str, month: str, meta: Meta) -> None:
        self.salesperson_id = salesperson_id
        self.month = month
        self.planned: dict[str, int] = {}
        self.visits: list[dict[str, Any]] = []

    def plan(self, planned: Mapping[str, int], required: Mapping[str, int], meta: Meta) -> None:
        """S2: the month's plan; no customer below the visits its grade requires."""
        self._require_owner_or(PLANNERS, meta, "plan the month's visits")
        short = {c: n for c, n in required.items() if planned.get(c, 0) < n}
        if short:
            raise refuse(
                "S2",
                "a visit plan gives every customer at least the visits its grade requires",
                required=dict(sorted(short.items())),
            )
        self.trigger_event(
            events.VisitsPlanned,
            salesperson_id=self.salesperson_id,
            month=self.month,
            planned=dict(planned),
            required=dict(required),
            meta=meta,
        )

    @event(events.VisitsPlanned)
    def _planned(self, planned: dict[str, int]) -> None:
        self.planned = dict(planned)

    def log(
        self,
        visit_id: str,
        customer_id: str | None,
        development_plan_id: str | None,
        visited_on: date,
        kind: VisitKind,
        purpose: str,
        outcome: str,
        next_step: str,
        meta: Meta,
    ) -> None:
        require_role(meta, SALES_STAFF, "S2", "log a visit")
        if meta.actor_id != self.salesperson_id:
            raise Forbidden("visits are logged by whoever made them", rule="S2")
        if visited_on > meta.at.astimezone(BUSINESS_TZ).date():  # a business day, Shanghai time
            raise refuse("S2", "a visit is logged once made", field="visited_on")
        self.trigger_event(
            events.VisitLogged,
            visit_id=visit_id,
            salesperson_id=self.salesperson_id,
            month=self.month,
            customer_id=customer_id,
            development_plan_id=development_plan_id,
            visited_on=visited_on,
            kind=VisitKind(kind),
            purpose=purpose,
            outcome=outcome,
            next_step=next_step,
            counted=VisitKind(kind) in COUNTED_KINDS,
            meta=meta,
        )

    class VisitLogged(events.VisitLogged):
        def apply(self, month: VisitMonth) -> None:
            month.visits.append(
                {
                    "visit_id": self.visit_id,
                    "customer_id": self.customer_id,
                    "development_plan_id": self.development_plan_id,
                    "visited_on": self.visited_on,
                    "kind": VisitKind(self.kind).value,
                    "purpose": self.purpose,
                    "outcome": self.outcome,
                    "next_step": self.next_step,
                    "counted": self.counted,
                }
            )

    def progress(self) -> dict[str, Any]:
        """Plan vs actual (访问计划完成表): per customer, and in total with the completion rate."""
        actual: dict[str, int] = {}
        for visit in self.visits:
            if visit["counted"] and visit["customer_id"]:
                actual[visit["customer_id"]] = actual.get(visit["customer_id"], 0) + 1
        customers = sorted(set(self.planned) | set(actual))
        rows = [
            {"customer_id": c, "planned": self.planned.get(c, 0), "actual": actual.get(c, 0)}
            for c in customers
        ]
        planned = sum(self.planned.values())
        done = sum(min(actual.get(c, 0), n) for c, n in self.planned.items())  # planned visits made
        rate = (Decimal(done) / planned * 100).quantize(Decimal("0.1")) if planned else None
        return {
            "customers": rows,
            "planned": planned,
            "actual": sum(1 for v in self.visits if v["counted"]),
            "planned_made": done,
            "completion_pct": rate,
        }

    def _require_owner_or(self, roles: frozenset[Role], meta: Meta, action: str) -> None:
        if meta.actor_id != self.salesperson_id:
            require_role(meta, roles, "S2", action)


@dataclass
class DevelopmentPlan(SalesAggregate):
    """A prospect's development plan: visits before (and until) it is registered as a customer."""

    TOPIC = "field.DevelopmentPlan"
    # The event that creates it; of its fields, it keeps those below (the library's dataclass aggregate).
    DevelopmentPlanOpened = events.DevelopmentPlanOpened

    salesperson_id: str
    prospect_name: str
    region: str
    goal: str
    planned_visits: int

    def __post_init__(self) -> None:
        self.visits: list[str] = []
        self.customer_id: str | None = None
        self.closed = False

    @classmethod
    def open(cls, meta: Meta, **fields: Any) -> DevelopmentPlan:
        require_role(meta, SALES_STAFF, "S2", "open a development plan")
        return cls._create(events.DevelopmentPlanOpened, salesperson_id=meta.actor_id, meta=meta, **fields)

    def count_visit(self, visit_id: str, visited_on: date, meta: Meta) -> None:
        if meta.actor_id != self.salesperson_id:
            raise Forbidden("a development plan's visits are its salesperson's", rule="S2")
        if self.closed:
            raise InvalidState("the development plan is closed", rule="S2")
        self.trigger_event(events.ProspectVisited, visit_id=visit_id, visited_on=visited_on, meta=meta)

    @event(events.ProspectVisited)
    def _prospect_visited(self, visit_id: str) -> None:
        self.visits.append(visit_id)

    def close(self, customer_id: str | None, outcome: str, meta: Meta) -> None:
        """Registered (names the customer it became) or given up."""
        if meta.actor_id != self.salesperson_id:
            require_role(meta, PLANNERS, "S2", "close another salesperson's development plan")
        if self.closed:
            raise InvalidState("the development plan is closed already", rule="S2")
        self.trigger_event(
            events.DevelopmentPlanClosed,
            customer_id=customer_id,
            outcome=outcome,
            visits=len(self.visits),
            meta=meta,
        )

    @event(events.DevelopmentPlanClosed)
    def _closed(self, customer_id: str | None) -> None:
        self.customer_id = customer_id
        self.closed = True
