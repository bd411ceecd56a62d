"""The columns of the field and service pages (R11, R13, P8/P9), in the business's words."""

from __future__ import annotations

from services.reporting.dashboard.columns import REGION, of
from services.reporting.dashboard.grids import Column

SALESPERSON = Column("salesperson_id", "salesperson")
# R11: target, net sales, attainment % and the gap still missing to the target.
TARGET, NET_SALES, GAP = of("money", target="target", net_sales="net", gap="gap")
ATTAINMENT = (TARGET, NET_SALES, Column("attainment_pct", "attainment", "percent"), GAP)
TARGETS_COMPANY = (Column("unit", "unit", "word"), *ATTAINMENT)
TARGETS_REGIONS = (REGION, *ATTAINMENT)
TARGETS_SALESPEOPLE = (SALESPERSON, REGION, *ATTAINMENT)
# R13 (S2): visits planned, planned visits made, every visit, everything logged, completion %.
VISIT_FIGURES = (
    *of("count", planned="visits_planned", planned_made="visits_planned_made", visits="visits_made"),
    Column("logged", "visits_logged", "count"),
    Column("completion_pct", "completion", "percent"),
)
VISITS_SALESPEOPLE = (SALESPERSON, *VISIT_FIGURES)
VISITS_REGIONS = (REGION, *VISIT_FIGURES)
# R13 (S3): approved expenses against net sales per region.
EXPENSES = (
    REGION,
    Column("approved_expenses", "approved_expenses", "money"),
    *of("count", claims="claims", over_budget_claims="over_budget_claims"),
    NET_SALES,
    Column("expense_ratio", "expense_ratio", "share"),
    Column("annual_budget", "annual_budget", "money"),
)
# P8/P9 per region (counts by kind in one cell each) and per staff member.
FEEDBACK_OVERDUE = Column("feedback_overdue", "feedback_overdue_count", "count")
SERVICE_OVERDUE = Column("service_requests_overdue", "service_requests_overdue_count", "count")
SERVICE_REGIONS = (
    REGION,
    Column("feedback", "feedback", "count"),
    Column("feedback_by_kind", "by_kind", "tally"),
    Column("feedback_major", "feedback_major", "count"),
    FEEDBACK_OVERDUE,
    Column("service_requests", "service_requests", "count"),
    Column("service_requests_by_kind", "by_kind", "tally"),
    SERVICE_OVERDUE,
)
SERVICE_STAFF = (
    Column("staff_id", "staff_member"),
    *of("count", feedback_assigned="feedback_assigned"),
    FEEDBACK_OVERDUE,
    *of("count", service_requests_assigned="service_requests_assigned"),
    SERVICE_OVERDUE,
)
