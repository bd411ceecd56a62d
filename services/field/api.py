"""Field routes: NATS subjects in, replies out (``<ns>.field.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.field import commands as c
from services.field.application import FieldApplication
from services.field.domain.expenses import CHAIN
from services.field.domain.intelligence import READERS, REPORTERS
from services.field.domain.targets import APPROVERS
from services.field.domain.visits import PLANNERS, SALES_STAFF
from shared import field_contract
from shared.bus import ServiceBus
from shared.contracts import Role
from shared.events import declared_events
from shared.routes import Table, register_routes

EVENTS = declared_events(field_contract)

# Who may send each command, published in the contract (x-roles); the domain's checks decide.
ROLES: dict[str, frozenset[Role]] = {
    "propose_company_target": frozenset({Role.MARKETING_DIRECTOR}),
    "approve_company_target": APPROVERS,
    "propose_region_plan": frozenset({Role.REGIONAL_MANAGER}),
    "approve_region_plan": APPROVERS,
    "propose_salesperson_targets": frozenset({Role.REGIONAL_MANAGER}),
    "approve_salesperson_targets": APPROVERS,
    "plan_month_visits": SALES_STAFF | PLANNERS,  # the salesperson's own month, or a planner
    "log_visit": SALES_STAFF,
    "open_development_plan": SALES_STAFF,
    "close_development_plan": SALES_STAFF | PLANNERS,
    "draft_expense_budget": frozenset({Role.REGIONAL_MANAGER}),
    "review_expense_budget": frozenset({Role.FINANCE}),
    "approve_expense_budget": frozenset({Role.GENERAL_MANAGER}),
    "submit_expense_claim": frozenset({Role.SALESPERSON}),
    # each step of the chain by its own role, in order (S3): the claim's state narrows it
    "review_expense_claim": CHAIN,
    "approve_claim_over_budget": frozenset({Role.GENERAL_MANAGER}),
    "approve_expense_claim": CHAIN,
    "reject_expense_claim": CHAIN,
    "report_market_intelligence": REPORTERS,
    "acknowledge_market_report": READERS,
}


# The routes by their reply (shared/routes.py: each served by the application's method of its name).
ROUTES: Table = {
    c.TargetsResult: "propose_company_target approve_company_target propose_region_plan approve_region_plan"
    " propose_salesperson_targets approve_salesperson_targets get_targets",  # S1
    c.VisitMonthResult: "plan_month_visits get_visit_progress",  # S2
    c.LoggedVisit: "log_visit",
    c.DevelopmentPlanResult: "open_development_plan close_development_plan get_development_plan",
    # S3
    c.BudgetResult: "draft_expense_budget review_expense_budget approve_expense_budget get_expense_budget",
    c.ClaimResult: "submit_expense_claim review_expense_claim approve_claim_over_budget approve_expense_claim"
    " reject_expense_claim get_expense_claim",
    c.MarketReportResult: "report_market_intelligence acknowledge_market_report get_market_report",  # S4
    c.MarketReportList: "list_market_reports",
}


def register(bus: ServiceBus, app: FieldApplication) -> None:
    register_routes(bus, app, c, ROUTES)
    bus.document_roles(ROLES)
    bus.document_events(EVENTS)
