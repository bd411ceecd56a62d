"""S3 sales expenses (销售费用): regional budgets, the claim chain, and what each region has spent.

``ExpenseBudget`` (region, year): drafted by the regional_manager, reviewed by finance, approved by the
general_manager, in that order. ``ExpenseClaim``: submitted by a salesperson, reviewed by the
sales_supervisor, then the regional_manager, approved by finance; a claim that takes its region over
the approved budget also needs the general_manager before finance. ``ExpenseLedger`` (region, year):
the approved claims charged to the region; written with each final approval, so two approvals can never
both spend the same remainder.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.field import events
from shared.aggregate import Meta, SalesAggregate, refuse, require_role
from shared.contracts import Role
from shared.errors import Forbidden, InvalidState
from shared.field_contract import ExpenseCategory

EXPENSE_NAMESPACE = UUID("c7e2a9f4-03d6-4b5a-8e1f-2d9c6b4a7f30")
ZERO = Decimal("0.00")


class BudgetStatus(StrEnum):
    DRAFTED = "drafted"
    REVIEWED = "reviewed"  # by finance
    APPROVED = "approved"  # by the general manager


class ExpenseBudget(SalesAggregate):
    TOPIC = "field.ExpenseBudget"

    @staticmethod
    def create_id(region: str, year: int) -> UUID:
        return uuid.uuid5(EXPENSE_NAMESPACE, f"budget:{region}:{year}")

    @event(events.ExpenseBudgetDrafted)
    def __init__(self, region: str, year: int, amount: Decimal, meta: Meta) -> None:
        self.region = region
        self.year = year
        self.amount = amount
        self.status = BudgetStatus.DRAFTED

    @classmethod
    def draft(cls, region: str, year: int, amount: Decimal, meta: Meta) -> ExpenseBudget:
        require_role(meta, {Role.REGIONAL_MANAGER}, "S3", "draft a region's expense budget")
        return cls(region=region, year=year, amount=amount, meta=meta)

    def review(self, meta: Meta) -> None:
        require_role(meta, {Role.FINANCE}, "S3", "review an expense budget")
        self._require(BudgetStatus.DRAFTED, "reviewed by finance")
        self.trigger_event(events.ExpenseBudgetReviewed, region=self.region, year=self.year, meta=meta)

    @event(events.ExpenseBudgetReviewed)
    def _reviewed(self) -> None:
        self.status = BudgetStatus.REVIEWED

    def approve(self, meta: Meta) -> None:
        require_role(meta, {Role.GENERAL_MANAGER}, "S3", "approve an expense budget")
        self._require(BudgetStatus.REVIEWED, "approved by the general manager")
        self.trigger_event(
            events.ExpenseBudgetApproved, region=self.region, year=self.year, amount=self.amount, meta=meta
        )

    @event(events.ExpenseBudgetApproved)
    def _approved(self) -> None:
        self.status = BudgetStatus.APPROVED

    @property
    def approved_amount(self) -> Decimal:
        return self.amount if self.status is BudgetStatus.APPROVED else ZERO

    def _require(self, status: BudgetStatus, step: str) -> None:
        if self.status is not status:
            raise InvalidState(
                f"a budget is {step} only when {status.value}; this one is {self.status.value}",
                rule="S3",
                details={"status": self.status.value},
            )


class ClaimStatus(StrEnum):
    SUBMITTED = "submitted"
    SUPERVISOR_REVIEWED = "supervisor_reviewed"
    MANAGER_REVIEWED = "manager_reviewed"
    APPROVED = "approved"
    REJECTED = "rejected"


# The review chain: in each status, the role whose step is next and the status it leads to.
NEXT_STEP: dict[ClaimStatus, tuple[Role, ClaimStatus]] = {
    ClaimStatus.SUBMITTED: (Role.SALES_SUPERVISOR, ClaimStatus.SUPERVISOR_REVIEWED),
    ClaimStatus.SUPERVISOR_REVIEWED: (Role.REGIONAL_MANAGER, ClaimStatus.MANAGER_REVIEWED),
    ClaimStatus.MANAGER_REVIEWED: (Role.FINANCE, ClaimStatus.APPROVED),
}
CHAIN = frozenset(role for role, _ in NEXT_STEP.values()) | {Role.GENERAL_MANAGER}


class ExpenseClaim(SalesAggregate):
    TOPIC = "field.ExpenseClaim"

    @event(events.ExpenseClaimSubmitted)
    def __init__(
        self,
        salesperson_id: str,
        region: str,
        amount: Decimal,
        category: ExpenseCategory,
        spent_on: date,
        vouchers: list[str],
        description: str,
        meta: Meta,
    ) -> None:
        self.salesperson_id = salesperson_id
        self.region = region
        self.amount = amount
        self.category = ExpenseCategory(category)
        self.spent_on = spent_on
        self.vouchers = list(vouchers)
        self.description = description
        self.status = ClaimStatus.SUBMITTED
        self.over_budget_approved_by: str | None = None
        self.steps: list[dict[str, str]] = []

    @classmethod
    def submit(cls, meta: Meta, vouchers: list[str], **fields: Any) -> ExpenseClaim:
        require_role(meta, {Role.SALESPERSON}, "S3", "submit an expense claim")
        return cls(salesperson_id=meta.actor_id, vouchers=list(vouchers), meta=meta, **fields)

    def review(self, meta: Meta) -> None:
        """S3: the supervisor's review, then the regional manager's; any other order is refused."""
        role = self._step_of(meta, "review")
        if role is Role.FINANCE:
            raise InvalidState("finance approves the claim (approve_expense_claim)", rule="S3")
        self.trigger_event(events.ExpenseClaimReviewed, role=role.value, region=self.region, meta=meta)

    @event(events.ExpenseClaimReviewed)
    def _reviewed(self, role: str, meta: Meta) -> None:
        self.status = NEXT_STEP[self.status][1]
        self.steps.append({"step": f"reviewed_by_{role}", "by": meta.actor_id})

    def approve_over_budget(self, meta: Meta) -> None:
        """S3: the general manager lets a claim take its region over budget (after both reviews)."""
        require_role(meta, {Role.GENERAL_MANAGER}, "S3", "approve a claim over budget")
        if self.status is not ClaimStatus.MANAGER_REVIEWED or self.over_budget_approved_by:
            raise InvalidState(
                "the general manager approves a claim over budget after the regional manager's review, once",
                rule="S3",
                details={"status": self.status.value},
            )
        self.trigger_event(
            events.ExpenseClaimOverBudgetApproved, region=self.region, amount=self.amount, meta=meta
        )

    @event(events.ExpenseClaimOverBudgetApproved)
    def _over_budget_approved(self, meta: Meta) -> None:
        self.over_budget_approved_by = meta.actor_id
        self.steps.append({"step": "over_budget_approved_by_general_manager", "by": meta.actor_id})

    def approve(self, budget: Decimal, spent: Decimal, meta: Meta) -> None:
        """S3: finance's final approval; ``budget`` is the region's approved budget for the year and
        ``spent`` what approved claims took of it so far."""
        if self._step_of(meta, "approve") is not Role.FINANCE:
            raise InvalidState("a claim is approved by finance after both reviews", rule="S3")
        over = spent + self.amount > budget
        if over and not self.over_budget_approved_by:
            raise refuse(
                "S3",
                "this claim takes the region over its approved budget: the general manager approves it first",
                budget=str(budget),
                spent=str(spent),
                amount=str(self.amount),
            )
        self.trigger_event(
            events.ExpenseClaimApproved,
            salesperson_id=self.salesperson_id,
            region=self.region,
            amount=self.amount,
            category=self.category,
            spent_on=self.spent_on,
            over_budget=over,
            meta=meta,
        )

    @event(events.ExpenseClaimApproved)
    def _approved(self, meta: Meta) -> None:
        self.status = ClaimStatus.APPROVED
        self.steps.append({"step": "approved_by_finance", "by": meta.actor_id})

    def reject(self, reason: str, meta: Meta) -> None:
        """Whoever's step is next may refuse the claim instead."""
        self._step_of(meta, "reject")
        self.trigger_event(events.ExpenseClaimRejected, reason=reason, meta=meta)

    @event(events.ExpenseClaimRejected)
    def _rejected(self, reason: str, meta: Meta) -> None:
        self.status = ClaimStatus.REJECTED
        self.steps.append({"step": "rejected", "by": meta.actor_id, "reason": reason})

    def _step_of(self, meta: Meta, action: str) -> Role:
        """The acting role, if the next step of the chain is theirs; out of order is refused (S3)."""
        require_role(meta, CHAIN, "S3", f"{action} an expense claim")
        step = NEXT_STEP.get(self.status)
        if step is None:
            raise InvalidState(
                f"the claim is {self.status.value}", rule="S3", details={"status": self.status.value}
            )
        role = Role(meta.actor_role)
        if role is not step[0]:
            raise InvalidState(
                f"out of order: the claim is {self.status.value}, the next step is the {step[0].value}'s",
                rule="S3",
                details={"status": self.status.value, "next": step[0].value},
            )
        return role


class ExpenseLedger(SalesAggregate):
    """What approved claims have taken of a region's year."""

    TOPIC = "field.ExpenseLedger"

    @staticmethod
    def create_id(region: str, year: int) -> UUID:
        return uuid.uuid5(EXPENSE_NAMESPACE, f"ledger:{region}:{year}")

    @event(events.ExpenseLedgerOpened)
    def __init__(self, region: str, year: int, meta: Meta) -> None:
        self.region = region
        self.year = year
        self.spent = ZERO

    def charge(self, claim_id: str, amount: Decimal, meta: Meta) -> None:
        if meta.actor_role != Role.FINANCE:
            raise Forbidden("claims are charged by finance's approval", rule="S3")
        self.trigger_event(
            events.ClaimCharged, claim_id=claim_id, amount=amount, spent=self.spent + amount, meta=meta
        )

    @event(events.ClaimCharged)
    def _charged(self, spent: Decimal) -> None:
        self.spent = spent
