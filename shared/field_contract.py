"""The field service's published event contract (S1–S4): one model per event, declared once.

The aggregates store the classes made from these models (``services/field/events.py``), the relay
publishes them as ``data`` of the envelope, the AsyncAPI document (``docs/asyncapi/field.json``) is written
from them, and the services that read the field stream refer to them. Each topic is pinned
(``<service>.<aggregate>.<event>``): stored events load whichever module a class lives in. A field's place
is its place in the stored JSON: append, never reorder.

The values an event carries (visit kinds, expense categories, intelligence kinds) are defined here too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from shared.contracts import DecimalText, Role
from shared.events import EventContract


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


class FieldEvent(EventContract, family=True):
    """An event of the field stream."""

    SERVICE: ClassVar[str] = "field"


# AnnualPlan (S1): the company's target, each region's plan, each region's month per salesperson ----------
class AnnualPlanEvent(FieldEvent, aggregate="AnnualPlan"):
    """S1: a year's plan: the company's target, each region's, each region's month per salesperson."""


class AnnualPlanOpened(AnnualPlanEvent):
    CREATED = True
    year: int


class CompanyTargetProposed(AnnualPlanEvent):
    year: int
    amount: DecimalText
    months: list[Decimal]


class CompanyTargetApproved(AnnualPlanEvent):
    year: int
    amount: DecimalText
    months: list[Decimal]
    quarters: list[Decimal]
    previous: DecimalText | None


class RegionPlanProposed(AnnualPlanEvent):
    year: int
    region: str
    amount: DecimalText
    months: list[Decimal]
    channels: list[str]
    key_customers: list[str]


class RegionPlanApproved(AnnualPlanEvent):
    year: int
    region: str
    amount: DecimalText
    months: list[Decimal]
    quarters: list[Decimal]
    channels: list[str]
    key_customers: list[str]


class SalespersonTargets(AnnualPlanEvent, family=True):
    """A region's month per salesperson, as proposed and as approved."""

    year: int
    region: str
    month: int
    targets: dict[str, Decimal]


class SalespersonTargetsProposed(SalespersonTargets):
    """S1: a region's month per salesperson, proposed."""


class SalespersonTargetsApproved(SalespersonTargets):
    """S1: a region's month per salesperson, approved."""


# VisitMonth and DevelopmentPlan (S2) ------------------------------------------------------------------
class VisitMonthEvent(FieldEvent, aggregate="VisitMonth"):
    """S2: a salesperson's month of visits."""


class VisitMonthOpened(VisitMonthEvent):
    CREATED = True
    salesperson_id: str
    month: str


class VisitsPlanned(VisitMonthEvent):
    salesperson_id: str
    month: str
    planned: dict[str, int]
    required: dict[str, int]


class VisitLogged(VisitMonthEvent):
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


class DevelopmentPlanEvent(FieldEvent, aggregate="DevelopmentPlan"):
    """S2: a salesperson's plan to develop a prospect."""


class DevelopmentPlanOpened(DevelopmentPlanEvent):
    CREATED = True
    salesperson_id: str
    prospect_name: str
    region: str
    goal: str
    planned_visits: int


class ProspectVisited(DevelopmentPlanEvent):
    visit_id: str
    visited_on: date


class DevelopmentPlanClosed(DevelopmentPlanEvent):
    customer_id: str | None
    outcome: str
    visits: int


# ExpenseBudget, ExpenseClaim and ExpenseLedger (S3) ---------------------------------------------------
class ExpenseBudgetEvent(FieldEvent, aggregate="ExpenseBudget"):
    """S3: a region's expense budget for a year."""


class ExpenseBudgetDrafted(ExpenseBudgetEvent):
    CREATED = True
    region: str
    year: int
    amount: DecimalText


class ExpenseBudgetReviewed(ExpenseBudgetEvent):
    region: str
    year: int


class ExpenseBudgetApproved(ExpenseBudgetEvent):
    region: str
    year: int
    amount: DecimalText


class ExpenseClaimEvent(FieldEvent, aggregate="ExpenseClaim"):
    """S3: a salesperson's expense claim."""


class ExpenseClaimSubmitted(ExpenseClaimEvent):
    CREATED = True
    salesperson_id: str
    region: str
    amount: DecimalText
    category: ExpenseCategory
    spent_on: date
    vouchers: list[str]
    description: str


class ExpenseClaimReviewed(ExpenseClaimEvent):
    role: Role
    region: str


class ExpenseClaimOverBudgetApproved(ExpenseClaimEvent):
    region: str
    amount: DecimalText


class ExpenseClaimApproved(ExpenseClaimEvent):
    salesperson_id: str
    region: str
    amount: DecimalText
    category: ExpenseCategory
    spent_on: date
    over_budget: bool


class ExpenseClaimRejected(ExpenseClaimEvent):
    reason: str


class ExpenseLedgerEvent(FieldEvent, aggregate="ExpenseLedger"):
    """S3: what a region's approved claims have spent of its year's budget."""


class ExpenseLedgerOpened(ExpenseLedgerEvent):
    CREATED = True
    region: str
    year: int


class ClaimCharged(ExpenseLedgerEvent):
    claim_id: str
    amount: DecimalText
    spent: DecimalText


# MarketReport (S4) -------------------------------------------------------------------------------------
class MarketReportEvent(FieldEvent, aggregate="MarketReport"):
    """S4: a report of market intelligence."""


class MarketReportFiled(MarketReportEvent):
    CREATED = True
    kind: IntelligenceKind
    region: str
    subject: str
    content: str
    urgent: bool
    month: str
    acknowledge_by: datetime | None


class MarketReportAcknowledged(MarketReportEvent):
    urgent: bool


class MarketReportOverdue(MarketReportEvent):
    deadline: datetime
    region: str
    reported_by: str
