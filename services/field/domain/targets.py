"""S1 sales targets and plans (销售目标与计划): one ``AnnualPlan`` per year.

The plan holds the company's annual target (owner: marketing_director), each region's annual plan
(owner: its regional_manager) and each region's monthly targets per salesperson (owner: the regional
manager). Every figure is proposed by its owner and takes effect when the general_manager approves it;
what it replaced stays in ``history``. One aggregate per year, so the sums that S1 requires (regions to
the company, salespeople to their region's month) are checked on one consistent state.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.field import events
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.contracts import Role
from shared.errors import InvalidState

PLAN_NAMESPACE = UUID("3b8f6c2a-1d47-4e90-a5c3-9e0d2f7b6a14")
MONTHS = 12
APPROVERS = frozenset({Role.GENERAL_MANAGER})
COMPANY = "company"


def quarters_of(months: Sequence[Decimal]) -> list[Decimal]:
    """The quarterly breakdown: the sum of each quarter's three months."""
    return [sum(months[q * 3 : q * 3 + 3], Decimal("0.00")) for q in range(4)]


def check_breakdown(amount: Decimal, months: Sequence[Decimal], whose: str) -> None:
    """S1: an annual target is broken down into twelve months that add up to it."""
    if len(months) != MONTHS:
        raise refuse("S1", f"the breakdown of {whose} has {len(months)} months, not 12", field="months")
    total = sum(months, Decimal("0.00"))
    if total != amount:
        raise refuse(
            "S1",
            f"the months of {whose} add up to {total}, not to its annual target {amount}",
            field="months",
            sum=str(total),
            target=str(amount),
        )


def region_key(region: str) -> str:
    return f"region:{region}"


def salespeople_key(region: str, month: int) -> str:
    return f"salespeople:{region}:{month}"


class AnnualPlan(SalesAggregate):
    """The year's targets: ``current`` (approved) and ``pending`` (proposed) figures by target key."""

    TOPIC = "field.AnnualPlan"

    @staticmethod
    def create_id(year: int) -> UUID:
        return uuid.uuid5(PLAN_NAMESPACE, str(year))

    @event(events.AnnualPlanOpened)
    def __init__(self, year: int, meta: Meta) -> None:
        self.year = year
        self.current: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []

    # company -------------------------------------------------------------------------------------
    def propose_company_target(self, amount: Decimal, months: list[Decimal], meta: Meta) -> None:
        require_role(meta, {Role.MARKETING_DIRECTOR}, "S1", "propose the company's annual target")
        check_breakdown(amount, months, "the company target")
        self.record(events.CompanyTargetProposed, meta, amount=amount, months=list(months))

    @event(events.CompanyTargetProposed)
    def _company_proposed(self, amount: Decimal, months: list[Decimal], meta: Meta) -> None:
        self._propose(COMPANY, {"amount": amount, "months": list(months)}, meta)

    def approve_company_target(self, meta: Meta) -> None:
        require_role(meta, APPROVERS, "S1", "approve the company's annual target")
        figures = self._pending(COMPANY, "company target")
        previous = self.current.get(COMPANY, {}).get("amount")
        self.record(events.CompanyTargetApproved, meta, **self._approval(figures), previous=previous)

    @event(events.CompanyTargetApproved)
    def _company_approved(self, meta: Meta) -> None:
        self._approve(COMPANY, meta)

    # regions -------------------------------------------------------------------------------------
    def propose_region_plan(
        self,
        region: str,
        amount: Decimal,
        months: list[Decimal],
        channels: list[str],
        key_customers: list[str],
        meta: Meta,
    ) -> None:
        require_role(meta, {Role.REGIONAL_MANAGER}, "S1", "propose a region's annual plan")
        check_breakdown(amount, months, f"region {region}")
        self.record(
            events.RegionPlanProposed,
            meta,
            region=region,
            amount=amount,
            months=list(months),
            channels=list(channels),
            key_customers=list(key_customers),
        )

    class RegionPlanProposed(events.RegionPlanProposed):
        def apply(self, plan: AnnualPlan) -> None:
            figures = {"amount": self.amount, "months": list(self.months), "channels": list(self.channels)}
            plan._propose(
                region_key(self.region), figures | {"key_customers": list(self.key_customers)}, self.meta
            )

    def approve_region_plan(self, region: str, meta: Meta) -> None:
        """S1: approved only while the regions' targets (as proposed, else as approved) add up to the
        company's approved target."""
        require_role(meta, APPROVERS, "S1", "approve a region's annual plan")
        figures = self._pending(region_key(region), f"plan of region {region}")
        company = self.current.get(COMPANY)
        if company is None:
            raise InvalidState(
                "the company's annual target is not approved yet", rule="S1", details={"year": self.year}
            )
        regions = self.region_targets()
        total = sum(regions.values(), Decimal("0.00"))
        if total != company["amount"]:
            raise refuse(
                "S1",
                f"the region targets add up to {total}, not to the company target {company['amount']}",
                sum=str(total),
                company_target=str(company["amount"]),
                regions={r: str(a) for r, a in sorted(regions.items())},
            )
        self.record(
            events.RegionPlanApproved,
            meta,
            **self._approval(figures, region=region),
            channels=list(figures["channels"]),
            key_customers=list(figures["key_customers"]),
        )

    @event(events.RegionPlanApproved)
    def _region_approved(self, region: str, meta: Meta) -> None:
        self._approve(region_key(region), meta)

    def region_targets(self) -> dict[str, Decimal]:
        """Each region's annual target: the one proposed if there is one, else the approved one."""
        found: dict[str, Decimal] = {}
        for key, figures in [*self.current.items(), *self.pending.items()]:
            if key.startswith("region:"):
                found[key.removeprefix("region:")] = figures["amount"]
        return found

    # salespeople ---------------------------------------------------------------------------------
    def propose_salesperson_targets(
        self, region: str, month: int, targets: Mapping[str, Decimal], meta: Meta
    ) -> None:
        require_role(meta, {Role.REGIONAL_MANAGER}, "S1", "propose salesperson targets")
        self._check_salespeople(region, month, targets)
        self.record(
            events.SalespersonTargetsProposed, meta, region=region, month=month, targets=dict(targets)
        )

    @event(events.SalespersonTargetsProposed)
    def _salespeople_proposed(self, region: str, month: int, targets: dict[str, Decimal], meta: Meta) -> None:
        self._propose(salespeople_key(region, month), {"targets": dict(targets)}, meta)

    def approve_salesperson_targets(self, region: str, month: int, meta: Meta) -> None:
        require_role(meta, APPROVERS, "S1", "approve salesperson targets")
        figures = self._pending(
            salespeople_key(region, month), f"salesperson targets of {region}, month {month}"
        )
        self._check_salespeople(region, month, figures["targets"])
        self.record(
            events.SalespersonTargetsApproved,
            meta,
            region=region,
            month=month,
            targets=dict(figures["targets"]),
        )

    @event(events.SalespersonTargetsApproved)
    def _salespeople_approved(self, region: str, month: int, meta: Meta) -> None:
        self._approve(salespeople_key(region, month), meta)

    def _check_salespeople(self, region: str, month: int, targets: Mapping[str, Decimal]) -> None:
        """S1: a region's monthly targets per salesperson add up to the region's approved month."""
        plan = self.current.get(region_key(region))
        if plan is None:
            raise InvalidState(f"region {region} has no approved plan for {self.year}", rule="S1")
        expected = plan["months"][month - 1]
        total = sum(targets.values(), Decimal("0.00"))
        if total != expected:
            raise refuse(
                "S1",
                f"the salesperson targets add up to {total}, not to region {region}'s month {month} "
                f"target {expected}",
                field="targets",
                sum=str(total),
                region_month_target=str(expected),
            )

    # helpers -------------------------------------------------------------------------------------
    def _refs(self) -> dict[str, Any]:
        """Every event of the plan states its year."""
        return {"year": self.year}

    def _approval(self, figures: dict[str, Any], **key: str) -> dict[str, Any]:
        """What an approved annual target's event states besides its year: a region's region, the amount
        and its months and quarters."""
        months = figures["months"]
        amount = figures["amount"]
        return {
            **key,
            "amount": amount,
            "months": list(months),
            "quarters": quarters_of(months),
        }

    def _propose(self, key: str, figures: dict[str, Any], meta: Meta) -> None:
        self.pending[key] = figures
        self.history.append(_entry(key, "proposed", figures, meta))

    def _approve(self, key: str, meta: Meta) -> None:
        figures = self.pending.pop(key)
        self.current[key] = figures
        self.history.append(_entry(key, "approved", figures, meta))

    def _pending(self, key: str, what: str) -> dict[str, Any]:
        figures = self.pending.get(key)
        if figures is None:
            raise InvalidState(f"no proposed {what} waits for approval", rule="S1", details={"target": key})
        return figures


def _entry(key: str, action: str, figures: dict[str, Any], meta: Meta) -> dict[str, Any]:
    return {"target": key, "action": action, "figures": figures, "by": meta.actor_id, "at": meta.at}
