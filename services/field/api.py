"""Field routes: NATS subjects in, replies out (``<ns>.field.cmd.*`` / ``.query.*``)."""

from __future__ import annotations

from services.field import commands as c
from services.field import events
from services.field.application import FieldApplication
from services.field.domain.expenses import CHAIN
from services.field.domain.intelligence import READERS, REPORTERS
from services.field.domain.targets import APPROVERS
from services.field.domain.visits import PLANNERS, SALES_STAFF
from shared.bus import ServiceBus, in_thread
from shared.contracts import Role
from shared.events import declared_events

EVENTS = declared_events(events)

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


def register(bus: ServiceBus, app: FieldApplication) -> None:
    decided = app.commands.handler  # commands are decided in turn and saved in batches (shared/worker.py)
    # S1
    targets = c.TargetsResult
    bus.command(
        "propose_company_target", c.ProposeCompanyTarget, decided(app.propose_company_target), targets
    )
    bus.command(
        "approve_company_target", c.ApproveCompanyTarget, decided(app.approve_company_target), targets
    )
    bus.command("propose_region_plan", c.ProposeRegionPlan, decided(app.propose_region_plan), targets)
    bus.command("approve_region_plan", c.ApproveRegionPlan, decided(app.approve_region_plan), targets)
    bus.command(
        "propose_salesperson_targets",
        c.ProposeSalespersonTargets,
        decided(app.propose_salesperson_targets),
        targets,
    )
    bus.command(
        "approve_salesperson_targets",
        c.ApproveSalespersonTargets,
        decided(app.approve_salesperson_targets),
        targets,
    )
    bus.query("get_targets", c.GetTargets, in_thread(app.get_targets), targets)
    # S2
    bus.command("plan_month_visits", c.PlanMonthVisits, decided(app.plan_month_visits), c.VisitMonthResult)
    bus.command("log_visit", c.LogVisit, decided(app.log_visit), c.LoggedVisit)
    plan = c.DevelopmentPlanResult
    bus.command("open_development_plan", c.OpenDevelopmentPlan, decided(app.open_development_plan), plan)
    bus.command("close_development_plan", c.CloseDevelopmentPlan, decided(app.close_development_plan), plan)
    bus.query("get_visit_progress", c.GetVisitProgress, in_thread(app.get_visit_progress), c.VisitMonthResult)
    bus.query("get_development_plan", c.GetDevelopmentPlan, in_thread(app.get_development_plan), plan)
    # S3
    budget, claim = c.BudgetResult, c.ClaimResult
    bus.command("draft_expense_budget", c.DraftExpenseBudget, decided(app.draft_expense_budget), budget)
    bus.command("review_expense_budget", c.ReviewExpenseBudget, decided(app.review_expense_budget), budget)
    bus.command("approve_expense_budget", c.ApproveExpenseBudget, decided(app.approve_expense_budget), budget)
    bus.query("get_expense_budget", c.GetExpenseBudget, in_thread(app.get_expense_budget), budget)
    bus.command("submit_expense_claim", c.SubmitExpenseClaim, decided(app.submit_expense_claim), claim)
    bus.command("review_expense_claim", c.ReviewExpenseClaim, decided(app.review_expense_claim), claim)
    bus.command(
        "approve_claim_over_budget", c.ApproveClaimOverBudget, decided(app.approve_claim_over_budget), claim
    )
    bus.command("approve_expense_claim", c.ApproveExpenseClaim, decided(app.approve_expense_claim), claim)
    bus.command("reject_expense_claim", c.RejectExpenseClaim, decided(app.reject_expense_claim), claim)
    bus.query("get_expense_claim", c.GetExpenseClaim, in_thread(app.get_expense_claim), claim)
    # S4
    report = c.MarketReportResult
    bus.command(
        "report_market_intelligence",
        c.ReportMarketIntelligence,
        decided(app.report_market_intelligence),
        report,
    )
    bus.command(
        "acknowledge_market_report", c.AcknowledgeMarketReport, decided(app.acknowledge_market_report), report
    )
    bus.query("get_market_report", c.GetMarketReport, in_thread(app.get_market_report), report)
    bus.query(
        "list_market_reports", c.ListMarketReports, in_thread(app.list_market_reports), c.MarketReportList
    )
    bus.document_roles(ROLES)
    bus.document_events(EVENTS)
