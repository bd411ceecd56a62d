"""The field reports' bus queries (R11, R13): their query and result models and their routes.

``field_targets`` (R11) and ``field_expenses`` (R13) cover a month, a quarter or a year of the plan;
``field_visits`` (R13) one month. Each can be asked as of a past moment (R9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from services.reporting import field_queries
from services.reporting.field_queries import Span
from shared.bus import ServiceBus
from shared.contracts import Query

if TYPE_CHECKING:  # api.py registers these routes
    from services.reporting.api import Reports

MonthLabel = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="month YYYY-MM")]
Money = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", description="yuan, 2 decimals")]
Percent = Annotated[str, Field(pattern=r"^-?\d+\.\d$", description="per cent, 1 decimal")]
AsOf = Annotated[AwareDatetime | None, Field(default=None, description="as it stood at this moment (R9)")]


class SpanQuery(Query):
    """A year of the plan, or one quarter or month of it (not both)."""

    year: Annotated[int, Field(ge=2000, le=2100)]
    quarter: Annotated[int | None, Field(ge=1, le=4)] = None
    month: Annotated[int | None, Field(ge=1, le=12)] = None
    as_of: AsOf = None

    @model_validator(mode="after")
    def one_span(self) -> Self:
        if self.quarter is not None and self.month is not None:
            raise ValueError("give a quarter or a month, not both")
        return self

    @property
    def span(self) -> Span:
        return Span(self.year, self.quarter, self.month)


class FieldTargets(SpanQuery):
    """R11: targets (S1) vs net sales (R2) with attainment % and gap, per company, region, salesperson."""


class FieldExpenses(SpanQuery):
    """R13: approved expenses (S3), net sales and the expense ratio per region, with the annual budget."""


class FieldVisits(Query):
    """R13: visit plan vs actual (S2) per salesperson and region for a month."""

    month: MonthLabel
    as_of: AsOf = None


class SpanInfo(BaseModel):
    year: int
    quarter: int | None
    month: int | None
    span: Literal["month", "quarter", "year"]
    period_mode: str
    months: list[str]
    as_of: str | None = None


class Attainment(BaseModel):
    """R11's figures; ``gap`` = target − net sales (negative when the target is exceeded)."""

    target: Money | None
    net_sales: Money
    attainment_pct: Percent | None
    gap: Money | None


class RegionAttainment(Attainment):
    region: str


class SalespersonAttainment(Attainment):
    salesperson_id: str
    region: str | None = Field(description="the region whose plan set the salesperson's target")


class TargetsResult(SpanInfo):
    company: Attainment
    regions: list[RegionAttainment]
    salespeople: list[SalespersonAttainment]


class VisitFigures(BaseModel):
    planned: int
    planned_made: int = Field(description="planned visits made: a customer's visits count up to its plan")
    visits: int = Field(description="visits and return visits made (prospects included)")
    logged: int = Field(description="everything logged, phone calls included")
    completion_pct: Percent | None


class SalespersonVisits(VisitFigures):
    salesperson_id: str


class RegionVisits(VisitFigures):
    region: str


class VisitsResult(BaseModel):
    month: str
    salespeople: list[SalespersonVisits]
    regions: list[RegionVisits]
    as_of: str | None = None


class RegionExpenses(BaseModel):
    region: str
    approved_expenses: Money
    claims: int
    over_budget_claims: int
    net_sales: Money
    expense_ratio: str | None = Field(description="approved expenses / net sales, 4 decimals")
    annual_budget: Money | None


class ExpensesResult(SpanInfo):
    rows: list[RegionExpenses]


class FieldReports:
    """The field reports, answered through ``Reports``' cache and as-of snapshots."""

    def __init__(self, reports: Reports) -> None:
        self.reports = reports
        self.mode = reports.mode

    async def targets(self, q: FieldTargets) -> dict[str, Any]:
        return await self.reports._run(
            q, lambda c, s: field_queries.targets_vs_actual(c, q.span, self.mode, s)
        )

    async def expenses(self, q: FieldExpenses) -> dict[str, Any]:
        return await self.reports._run(q, lambda c, s: field_queries.expenses(c, q.span, self.mode, s))

    async def visits(self, q: FieldVisits) -> dict[str, Any]:
        return await self.reports._run(q, lambda c, s: field_queries.visit_plan_vs_actual(c, q.month, s))


def register_field(bus: ServiceBus, reports: Reports) -> None:
    field = FieldReports(reports)
    bus.query("field_targets", FieldTargets, field.targets, TargetsResult)
    bus.query("field_visits", FieldVisits, field.visits, VisitsResult)
    bus.query("field_expenses", FieldExpenses, field.expenses, ExpensesResult)
