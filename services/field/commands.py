"""The field service's bus contract: commands, queries and their results (S1–S4)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field

from shared.contracts import Command, Identifier, Money, Query
from shared.field_contract import ExpenseCategory, IntelligenceKind, VisitKind

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Notes = Annotated[str, Field(max_length=2000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Year = Annotated[int, Field(strict=True, ge=2000, le=2100)]
MonthNumber = Annotated[int, Field(strict=True, ge=1, le=12)]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Months = Annotated[list[Money], Field(min_length=12, max_length=12, description="January to December")]
PositiveMoney = Annotated[Money, Field(gt=0)]
Visits = Annotated[int, Field(strict=True, ge=0, le=100)]


# S1 targets ----------------------------------------------------------------------------------------
class ProposeCompanyTarget(Command):
    """S1: the marketing director proposes the company's annual target (or a change of it), broken
    down into months that add up to it; it takes effect on the general manager's approval."""

    year: Year
    amount: Money
    months: Months


class ApproveCompanyTarget(Command):
    """S1: the general manager approves the proposed company target."""

    year: Year


class ProposeRegionPlan(Command):
    """S1: a regional manager proposes the region's annual plan (target by month, channels, key customers)."""

    year: Year
    region: Identifier
    amount: Money
    months: Months
    channels: Annotated[list[ShortText], Field(max_length=20, default_factory=list)]
    key_customers: Annotated[list[Identifier], Field(max_length=200, default_factory=list)]


class ApproveRegionPlan(Command):
    """S1: the general manager approves a region's plan; refused unless the region targets add up to the
    company's approved target."""

    year: Year
    region: Identifier


class ProposeSalespersonTargets(Command):
    """S1: a regional manager proposes the month's target per salesperson, adding up to the region's month."""

    year: Year
    region: Identifier
    month: MonthNumber
    targets: Annotated[dict[Identifier, Money], Field(min_length=1, max_length=500)]


class ApproveSalespersonTargets(Command):
    """S1: the general manager approves a region's monthly targets per salesperson."""

    year: Year
    region: Identifier
    month: MonthNumber


class GetTargets(Query):
    """S1: the year's approved targets (company, regions, salespeople), what waits for approval, history."""

    year: Year


class TargetFigures(BaseModel):
    amount: Money
    months: list[Money]
    quarters: list[Money]
    channels: list[str] = []
    key_customers: list[str] = []


class TargetChange(BaseModel):
    target: str  # company | region:<region> | salespeople:<region>:<month>
    action: str  # proposed | approved
    figures: dict[str, Any]
    by: str
    at: datetime


class TargetsResult(BaseModel):
    year: int
    company: TargetFigures | None
    regions: dict[str, TargetFigures]
    salespeople: dict[str, dict[str, dict[str, Money]]]  # region → month (1–12) → salesperson → target
    pending: list[str]
    history: list[TargetChange]
    version: int


# S2 visits -----------------------------------------------------------------------------------------
class PlanMonthVisits(Command):
    """S2: a salesperson's visit plan for a month. Each of their customers gets the visits its grade
    requires (a setting) unless ``visits`` gives more; fewer is refused. ``visits`` may add others."""

    salesperson_id: Identifier
    month: Month
    visits: Annotated[dict[Identifier, Visits], Field(max_length=500, default_factory=dict)]


class LogVisit(Command):
    """S2: a visit, phone call or return visit made by the acting salesperson, to a customer or to a
    prospect under a development plan."""

    customer_id: Identifier | None = None
    development_plan_id: Identifier | None = None
    visited_on: date
    kind: VisitKind
    purpose: Text
    outcome: Text
    next_step: Notes = ""


class OpenDevelopmentPlan(Command):
    """S2: a development plan for a prospect not registered yet (新客户开发计划)."""

    prospect_name: ShortText
    region: Identifier
    goal: Text
    planned_visits: Annotated[int, Field(strict=True, ge=1, le=100)]


class CloseDevelopmentPlan(Command):
    """S2: the prospect was registered (``customer_id``) or given up."""

    development_plan_id: Identifier
    customer_id: Identifier | None = None
    outcome: Text


class GetVisitProgress(Query):
    """S2: plan vs actual of a salesperson's month (访问计划完成表)."""

    salesperson_id: Identifier
    month: Month


class GetDevelopmentPlan(Query):
    development_plan_id: Identifier


class VisitProgress(BaseModel):
    customer_id: str
    planned: int
    actual: int


class VisitMonthResult(BaseModel):
    salesperson_id: str
    month: str
    customers: list[VisitProgress]
    planned: int
    actual: int
    planned_made: int
    completion_pct: Decimal | None
    visits: list[dict[str, Any]]
    version: int


class LoggedVisit(BaseModel):
    visit_id: str
    salesperson_id: str
    month: str
    counted: bool


class DevelopmentPlanResult(BaseModel):
    development_plan_id: str
    salesperson_id: str
    prospect_name: str
    region: str
    goal: str
    planned_visits: int
    visits: int
    customer_id: str | None
    closed: bool
    version: int


# S3 expenses ---------------------------------------------------------------------------------------
class DraftExpenseBudget(Command):
    """S3: the regional manager drafts the region's annual expense budget."""

    region: Identifier
    year: Year
    amount: Money


class BudgetCommand(Command):
    region: Identifier
    year: Year


class ReviewExpenseBudget(BudgetCommand):
    """S3: finance reviews a drafted budget."""


class ApproveExpenseBudget(BudgetCommand):
    """S3: the general manager approves a budget finance reviewed."""


class GetExpenseBudget(Query):
    region: Identifier
    year: Year


class BudgetResult(BaseModel):
    region: str
    year: int
    amount: Money
    status: str
    approved: Money
    spent: Money
    version: int


class SubmitExpenseClaim(Command):
    """S3: a salesperson's expense claim, charged to the region's budget of the year it was spent in."""

    region: Identifier
    amount: PositiveMoney
    category: ExpenseCategory
    spent_on: date
    vouchers: Annotated[list[ShortText], Field(min_length=1, max_length=50)]
    description: Notes = ""


class ClaimCommand(Command):
    claim_id: Identifier


class ReviewExpenseClaim(ClaimCommand):
    """S3: the sales supervisor's review, then the regional manager's, in that order."""


class ApproveClaimOverBudget(ClaimCommand):
    """S3: the general manager lets a claim take its region over the approved budget."""


class ApproveExpenseClaim(ClaimCommand):
    """S3: finance's final approval; over budget it needs the general manager's approval first."""


class RejectExpenseClaim(ClaimCommand):
    """S3: whoever's step is next refuses the claim."""

    reason: Text


class GetExpenseClaim(Query):
    claim_id: Identifier


class ClaimResult(BaseModel):
    claim_id: str
    salesperson_id: str
    region: str
    amount: Money
    category: ExpenseCategory
    spent_on: date
    vouchers: list[str]
    status: str
    over_budget_approved_by: str | None
    steps: list[dict[str, str]]
    version: int


# S4 market intelligence ----------------------------------------------------------------------------
class ReportMarketIntelligence(Command):
    """S4: competitor prices, products, promotions or market changes; an urgent one goes to the sales
    manager at once and is acknowledged within a day."""

    kind: IntelligenceKind
    region: Identifier
    subject: ShortText
    content: Text
    urgent: Annotated[bool, Field(strict=True)] = False


class AcknowledgeMarketReport(Command):
    """S4: the sales manager acknowledges a report."""

    report_id: Identifier


class RaiseReportOverdue(Command):
    """S4 (internal, the deadline scheduler): an urgent report not acknowledged in time."""

    report_id: Identifier


class GetMarketReport(Query):
    report_id: Identifier


class ListMarketReports(Query):
    """S4: the month's reports, for the sales manager."""

    month: Month


class MarketReportResult(BaseModel):
    report_id: str
    kind: IntelligenceKind
    region: str
    subject: str
    content: str
    urgent: bool
    month: str
    reported_by: str
    reported_at: datetime
    acknowledge_by: datetime | None
    acknowledged_by: str | None
    overdue: bool
    version: int


class MarketReportList(BaseModel):
    month: str
    reports: list[MarketReportResult]
