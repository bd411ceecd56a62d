"""What each report answers, as typed models: the ``result`` of the bus replies (AsyncAPI) and of the HTTP
API (OpenAPI). The reports build plain dicts (formatted by SQL for speed); these models describe them and
a test checks every report's answer against its model. Rows allow extra keys: a column added to a report
is not a breaking change for readers, who ignore what they do not know.

Money and rates are decimal strings, never floats: money "1234.50" (net figures may be negative), rates
"0.2500" (0.25 = +25 %).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.reporting.periods import PeriodMode

MoneyText = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", examples=["1234.50"])]
RateText = Annotated[str, Field(pattern=r"^-?[0-9]+\.[0-9]{4}$", description="0.2500 = 25 %")]
QuantityText = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]
PeriodText = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (R1)")]
Moment = Annotated[str, Field(description="ISO 8601 moment with its UTC offset")]


class Row(BaseModel):
    model_config = ConfigDict(extra="allow")


class CustomerRow(Row):
    customer_id: str
    code: str | None = Field(description="customer code (C4); none before approval")
    company_name: str | None
    kind: str | None = Field(default=None, description="agent, dealer, branch or direct (C1)")


class PeriodReport(BaseModel):
    model_config = ConfigDict(extra="allow")

    period: PeriodText
    period_mode: PeriodMode
    starts_at: Moment
    ends_at: Moment
    as_of: Moment | None = Field(default=None, description="present when asked as of a past moment (R9)")


class DistributorRow(CustomerRow):
    region: str | None
    grade: str | None
    salesperson_id: str | None
    status: str | None
    orders: int
    orders_cancelled: int
    credit_notes: int
    quantity: int
    holds_made: int
    holds_converted: int
    holds_expired: int
    quality_complaints: int
    service_complaints: int
    ordered_amount: MoneyText = Field(description="net sales of the period (R2 rev 2)")
    cancelled_amount: MoneyText
    returned_amount: MoneyText
    shipped_amount: MoneyText
    paid_amount: MoneyText
    deposits: MoneyText
    fines: MoneyText
    previous_amount: MoneyText
    growth_vs_previous: RateText | None
    last_year_amount: MoneyText
    growth_vs_last_year: RateText | None
    rank: int


class DistributorMonthlyResult(PeriodReport):
    """R2."""

    rows: list[DistributorRow]


class BranchRow(CustomerRow):
    region: str | None
    orders: int
    ordered_amount: MoneyText
    orders_cancelled: int
    cancelled_amount: MoneyText
    credit_notes: int
    returned_amount: MoneyText
    shipped_amount: MoneyText
    paid_amount: MoneyText
    capital_occupied: MoneyText = Field(description="the O7 measure")
    capital_limit: MoneyText | None
    over_capital_limit: bool
    over_limit_approvals: int
    request_list_match_rate: RateText | None
    request_lists_matched: int
    reorder_alerts: int


class BranchMonthlyResult(PeriodReport):
    """R3."""

    rows: list[BranchRow]


class KeyCustomer(CustomerRow):
    region: str | None
    sales: MoneyText
    previous_amount: MoneyText
    growth_rate: RateText | None
    margin: RateText | None
    key_account_plan: dict[str, Any] | None = Field(
        default=None, description="an A customer's current key-account plan with its advice (C13)"
    )


class KeyCustomersResult(PeriodReport):
    """R4: the top N by sales, by growth rate and by profit margin."""

    by_sales: list[KeyCustomer]
    by_growth: list[KeyCustomer]
    by_margin: list[KeyCustomer]


class ProductQuantity(Row):
    product_code: str
    quantity: QuantityText
    amount: MoneyText


class RegionRow(Row):
    region: str
    customers_by_kind: dict[str, int]
    sales_amount: MoneyText
    orders: int
    products: list[ProductQuantity]


class RegionsResult(PeriodReport):
    """R5."""

    rows: list[RegionRow]


class AnnualRow(CustomerRow):
    orders: list[int] = Field(description="per period of the year, index 0 = YYYY-01")
    ordered_amounts: list[MoneyText]
    total_orders: int
    total_amount: MoneyText


class AnnualStatisticsResult(BaseModel):
    """R6."""

    model_config = ConfigDict(extra="allow")

    year: int
    period_mode: PeriodMode
    periods: list[PeriodText]
    rows: list[AnnualRow]
    as_of: Moment | None = None


class StaffRow(Row):
    staff_id: str
    customers_developed: int
    orders: int
    amount: MoneyText
    complaints: int
    penalties: int
    fines: MoneyText
    dismissal_recommendations: int
    target: MoneyText | None = Field(default=None, description="the month's target (S1, R11)")
    attainment_pct: str | None = Field(default=None, description="net sales / target in per cent (R11)")


class StaffResult(PeriodReport):
    """R7."""

    rows: list[StaffRow]


class ReviewFlag(CustomerRow):
    region: str | None
    grade: str | None
    rank: int
    ordered_amount: MoneyText
    flag: str = Field(description="reward or channel_optimisation")
    reason: str


class MonthlyReviewResult(PeriodReport):
    """R8."""

    reward_top: int
    decline_periods: int
    flags: list[ReviewFlag]
    staff_flags: list[dict[str, Any]] = Field(
        default_factory=list, description="salespeople at or above target (reward) or under it (R8, R11)"
    )


class AuditActor(BaseModel):
    id: str
    role: str | None


class AuditEntry(Row):
    at: Moment
    service: str
    position: int
    event_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    version: int
    actor: AuditActor | None
    reason: str | None
    correlation_id: str | None
    causation_id: str | None
    own: bool = Field(description="an event of the aggregate asked for (not of a related one)")
    data: dict[str, Any]


class AuditTrailResult(BaseModel):
    """R10: oldest first."""

    aggregate_id: str
    entries: list[AuditEntry]


class ReceivableRow(CustomerRow):
    region: str | None
    not_due: MoneyText
    overdue_1_30: MoneyText
    overdue_31_60: MoneyText
    overdue_61_90: MoneyText
    overdue_over_90: MoneyText
    receivable: MoneyText
    overdue: MoneyText
    credit_used: MoneyText = Field(description="the O6 exposure")
    credit_limit: MoneyText | None
    credit_used_share: RateText | None


class ReceivablesResult(BaseModel):
    """R12: ageing on a business day."""

    model_config = ConfigDict(extra="allow")

    on: str = Field(description="the business day (Asia/Shanghai) aged on, YYYY-MM-DD")
    rows: list[ReceivableRow]
    as_of: Moment | None = None


class Alert(Row):
    alert: str = Field(description="what is wrong, e.g. overdue_receivables, period_not_signed_off")
    rule: str = Field(description="the DOMAIN.md rule the alert is about")


class AlertsResult(BaseModel):
    """R12: the managers' alerts list."""

    at: Moment
    alerts: list[Alert]


class Adjustment(Row):
    report: str
    field: str
    signed: Any
    current: Any
    difference: str | None


class SignedReportResult(BaseModel):
    """R1: the report as signed off, and what changed since."""

    period: PeriodText
    signed_at: Moment
    signed_by: str
    report: dict[str, Any] = Field(
        description="distributor_monthly, branch_monthly, regions, staff as signed"
    )
    adjustments: list[Adjustment]


class SignedOff(BaseModel):
    period: PeriodText
    signed_at: Moment
    signed_by: str


class HistoryImported(BaseModel):
    model_config = ConfigDict(extra="allow")

    sha256: str
    lines: int
    imported: int
    already_imported: bool


class SourcePosition(BaseModel):
    service: str
    position: int
    events: int
    updated_at: Moment


class LagResult(BaseModel):
    sources: list[SourcePosition]


class PersonalDataRead(BaseModel):
    seq: int
    read_at: Moment
    user: str
    roles: list[str]
    subject: str = Field(description="the id whose audit trail was read")
    what: str = Field(description="what was read: audit_trail")


class PersonalDataReadsResult(BaseModel):
    """#23: reads of personal data, the latest first."""

    reads: list[PersonalDataRead]


class ServiceRegionFigures(Row):
    region: str
    feedback_by_kind: dict[str, int]
    service_requests_by_kind: dict[str, int]


class ServiceStaffFigures(Row):
    staff_id: str


class ServiceFiguresResult(PeriodReport):
    """P8 feedback and P9 after-sales requests per region (the customer's region at the time) and per
    staff member: logged, escalated, assigned, overdue."""

    regions: list[ServiceRegionFigures]
    staff: list[ServiceStaffFigures]
