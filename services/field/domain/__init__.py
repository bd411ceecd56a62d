"""The field service's domain (S1–S4): pure aggregates and their events, one module per rule family."""

from services.field.domain.expenses import ExpenseBudget, ExpenseClaim, ExpenseLedger
from services.field.domain.intelligence import MarketReport
from services.field.domain.targets import AnnualPlan
from services.field.domain.visits import DevelopmentPlan, VisitMonth

AGGREGATES = (
    AnnualPlan,
    VisitMonth,
    DevelopmentPlan,
    ExpenseBudget,
    ExpenseClaim,
    ExpenseLedger,
    MarketReport,
)

__all__ = [
    "AGGREGATES",
    "AnnualPlan",
    "DevelopmentPlan",
    "ExpenseBudget",
    "ExpenseClaim",
    "ExpenseLedger",
    "MarketReport",
    "VisitMonth",
]
