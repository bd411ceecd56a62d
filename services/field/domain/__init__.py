"""The field service's domain (S1–S4): pure aggregates, one module per rule family; their events are
declared in ``shared/field_contract.py`` (the published contract)."""

from services.field.domain.expenses import ExpenseBudget, ExpenseClaim, ExpenseLedger
from services.field.domain.intelligence import MarketReport
from services.field.domain.targets import AnnualPlan
from services.field.domain.visits import DevelopmentPlan, VisitMonth

__all__ = [
    "AnnualPlan",
    "DevelopmentPlan",
    "ExpenseBudget",
    "ExpenseClaim",
    "ExpenseLedger",
    "MarketReport",
    "VisitMonth",
]
