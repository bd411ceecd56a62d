"""The field service's published events (S1–S4): each event's fields, typed, declared once.

The aggregates apply them (``@event(EventClass)`` on the method that changes their state, which takes only
the fields it needs; where it needs most of them, a subclass of the event whose ``apply`` reads them), the
relay publishes them as ``data`` of the envelope, and the AsyncAPI document
(``docs/asyncapi/field.json``) is written from them. Each topic is pinned: stored events load whichever
module a class lives in. A field's place is its place in the stored JSON: append, never reorder.

The values an event carries (visit kinds, expense categories, intelligence kinds) are defined here too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from shared.aggregate import CreatedEvent, Meta, SalesAggregate
from shared.contracts import Role


class VisitKind(StrEnum):
    VISIT = "visit"  # 拜访
    PHONE = "phone"  # 电话记录
    RETURN_VISIT = "return_visit"  # 回访


class ExpenseCategory(StrEnum):
    TRAVEL = "travel"  # 差旅
    ENTERTAINMENT = "entertainment"  # 招待
    TRANSPORT = "transport"  # 交通
    COMMUNICATION = "communication"  # 通讯
    PROMOTION = "promotion"  # 促销
    OTHER = "other"


class IntelligenceKind(StrEnum):
    COMPETITOR_PRICE = "competitor_price"
    COMPETITOR_PRODUCT = "competitor_product"
    COMPETITOR_PROMOTION = "competitor_promotion"
    MARKET_CHANGE = "market_change"


# AnnualPlan (S1): the company's target, each region's plan, each region's month per salesperson ----------
class AnnualPlanOpened(CreatedEvent):
    TOPIC = "field.AnnualPlan.AnnualPlanOpened"
    year: int
    meta: Meta


class CompanyTargetProposed(SalesAggregate.Event):
    TOPIC = "field.AnnualPlan.CompanyTargetProposed"
    year: int
    amount: Decimal
    months: list[Decimal]
    meta: Meta


class CompanyTargetApproved(SalesAggregate.Event):
    TOPIC = "field.AnnualPlan.CompanyTargetApproved"
    year: int
    amount: Decimal
    months: list[Decimal]
    quarters: list[Decimal]
    previous: Decimal | None
    meta: Meta


class RegionPlanProposed(SalesAggregate.Event):
    TOPIC = "field.AnnualPlan.RegionPlanProposed"
    year: int
    region: str
    amount: Decimal
    months: list[Decimal]
    channels: list[str]
    key_customers: list[str]
    meta: Meta


class RegionPlanApproved(SalesAggregate.Event):
    TOPIC = "field.AnnualPlan.RegionPlanApproved"
    year: int
    region: str
    amount: Decimal
    months: list[Decimal]
    quarters: list[Decimal]
    channels: list[str]
    key_customers: list[str]
    meta: Meta


class SalespersonTargets(SalesAggregate.Event):
    """A region's month per salesperson, as proposed and as approved (no topic: not an event itself)."""

    year: int
    region: str
    month: int
    targets: dict[str, Decimal]
    meta: Meta


class SalespersonTargetsProposed(SalespersonTargets):
    TOPIC = "field.AnnualPlan.SalespersonTargetsProposed"


class SalespersonTargetsApproved(SalespersonTargets):
    TOPIC = "field.AnnualPlan.SalespersonTargetsApproved"


# VisitMonth and DevelopmentPlan (S2) ------------------------------------------------------------------
class VisitMonthOpened(CreatedEvent):
    TOPIC = "field.VisitMonth.VisitMonthOpened"
    salesperson_id: str
    month: str
    meta: Meta


class VisitsPlanned(SalesAggregate.Event):
    TOPIC = "field.VisitMonth.VisitsPlanned"
    salesperson_id: str
    month: str
    planned: dict[str, int]
    required: dict[str, int]
    meta: Meta


class VisitLogged(SalesAggregate.Event):
    TOPIC = "field.VisitMonth.VisitLogged"
    visit_id: str
    salesperson_id: str
    month: str
    customer_id: str | None
    development_plan_id: str | None
    visited_on: date
    kind: VisitKind
    purpose: str
    outcome: str
    next_step: str
    counted: bool
    meta: Meta


class DevelopmentPlanOpened(CreatedEvent):
    TOPIC = "field.DevelopmentPlan.DevelopmentPlanOpened"
    salesperson_id: str
    prospect_name: str
    region: str
    goal: str
    planned_visits: int
    meta: Meta


class ProspectVisited(SalesAggregate.Event):
    TOPIC = "field.DevelopmentPlan.ProspectVisited"
    visit_id: str
    visited_on: date
    meta: Meta


class DevelopmentPlanClosed(SalesAggregate.Event):
    TOPIC = "field.DevelopmentPlan.DevelopmentPlanClosed"
    customer_id: str | None
    outcome: str
    visits: int
    meta: Meta


# ExpenseBudget, ExpenseClaim and ExpenseLedger (S3) ---------------------------------------------------
class ExpenseBudgetDrafted(CreatedEvent):
    TOPIC = "field.ExpenseBudget.ExpenseBudgetDrafted"
    region: str
    year: int
    amount: Decimal
    meta: Meta


class ExpenseBudgetReviewed(SalesAggregate.Event):
    TOPIC = "field.ExpenseBudget.ExpenseBudgetReviewed"
    region: str
    year: int
    meta: Meta


class ExpenseBudgetApproved(SalesAggregate.Event):
    TOPIC = "field.ExpenseBudget.ExpenseBudgetApproved"
    region: str
    year: int
    amount: Decimal
    meta: Meta


class ExpenseClaimSubmitted(CreatedEvent):
    TOPIC = "field.ExpenseClaim.ExpenseClaimSubmitted"
    salesperson_id: str
    region: str
    amount: Decimal
    category: ExpenseCategory
    spent_on: date
    vouchers: list[str]
    description: str
    meta: Meta


class ExpenseClaimReviewed(SalesAggregate.Event):
    TOPIC = "field.ExpenseClaim.ExpenseClaimReviewed"
    role: Role
    region: str
    meta: Meta


class ExpenseClaimOverBudgetApproved(SalesAggregate.Event):
    TOPIC = "field.ExpenseClaim.ExpenseClaimOverBudgetApproved"
    region: str
    amount: Decimal
    meta: Meta


class ExpenseClaimApproved(SalesAggregate.Event):
    TOPIC = "field.ExpenseClaim.ExpenseClaimApproved"
    salesperson_id: str
    region: str
    amount: Decimal
    category: ExpenseCategory
    spent_on: date
    over_budget: bool
    meta: Meta


class ExpenseClaimRejected(SalesAggregate.Event):
    TOPIC = "field.ExpenseClaim.ExpenseClaimRejected"
    reason: str
    meta: Meta


class ExpenseLedgerOpened(CreatedEvent):
    TOPIC = "field.ExpenseLedger.ExpenseLedgerOpened"
    region: str
    year: int
    meta: Meta


class ClaimCharged(SalesAggregate.Event):
    TOPIC = "field.ExpenseLedger.ClaimCharged"
    claim_id: str
    amount: Decimal
    spent: Decimal
    meta: Meta


# MarketReport (S4) -------------------------------------------------------------------------------------
class MarketReportFiled(CreatedEvent):
    TOPIC = "field.MarketReport.MarketReportFiled"
    kind: IntelligenceKind
    region: str
    subject: str
    content: str
    urgent: bool
    month: str
    acknowledge_by: datetime | None
    meta: Meta


class MarketReportAcknowledged(SalesAggregate.Event):
    TOPIC = "field.MarketReport.MarketReportAcknowledged"
    urgent: bool
    meta: Meta


class MarketReportOverdue(SalesAggregate.Event):
    TOPIC = "field.MarketReport.MarketReportOverdue"
    deadline: datetime
    region: str
    reported_by: str
    meta: Meta
