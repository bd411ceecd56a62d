"""The columns of the field and service pages (R11, R13, P8/P9), in the business's words."""

from __future__ import annotations

from services.reporting.dashboard.columns import REGION, tally
from services.reporting.dashboard.grids import Column

SALESPERSON = Column("salesperson_id", "salesperson")
# R11: target, net sales, attainment % and the gap still missing to the target.
ATTAINMENT = (
    Column("target", "target", "money"),
    Column("net_sales", "net", "money"),
    Column("attainment_pct", "attainment", "percent"),
    Column("gap", "gap", "money"),
)
TARGETS_COMPANY = (Column("unit", "unit", "word"), *ATTAINMENT)
TARGETS_REGIONS = (REGION, *ATTAINMENT)
TARGETS_SALESPEOPLE = (SALESPERSON, REGION, *ATTAINMENT)
# R13 (S2): visits planned, planned visits made, every visit, everything logged, completion %.
VISIT_FIGURES = (
    Column("planned", "visits_planned", "count"),
    Column("planned_made", "visits_planned_made", "count"),
    Column("visits", "visits_made", "count"),
    Column("logged", "visits_logged", "count"),
    Column("completion_pct", "completion", "percent"),
)
VISITS_SALESPEOPLE = (SALESPERSON, *VISIT_FIGURES)
VISITS_REGIONS = (REGION, *VISIT_FIGURES)
# R13 (S3): approved expenses against net sales per region.
EXPENSES = (
    REGION,
    Column("approved_expenses", "approved_expenses", "money"),
    Column("claims", "claims", "count"),
    Column("over_budget_claims", "over_budget_claims", "count"),
    Column("net_sales", "net", "money"),
    Column("expense_ratio", "expense_ratio", "share"),
    Column("annual_budget", "annual_budget", "money"),
)
# P8/P9 per region and per staff member.
SERVICE_REGIONS = (
    REGION,
    Column("feedback", "feedback", "count"),
    Column("feedback_by_kind", "by_kind", value=tally("feedback_by_kind")),
    Column("feedback_major", "feedback_major", "count"),
    Column("feedback_overdue", "feedback_overdue_count", "count"),
    Column("service_requests", "service_requests", "count"),
    Column("service_requests_by_kind", "by_kind", value=tally("service_requests_by_kind")),
    Column("service_requests_overdue", "service_requests_overdue_count", "count"),
)
SERVICE_STAFF = (
    Column("staff_id", "staff_member"),
    Column("feedback_assigned", "feedback_assigned", "count"),
    Column("feedback_overdue", "feedback_overdue_count", "count"),
    Column("service_requests_assigned", "service_requests_assigned", "count"),
    Column("service_requests_overdue", "service_requests_overdue_count", "count"),
)
