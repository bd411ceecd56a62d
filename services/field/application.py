"""Field application: the commands of S1–S4 on stored state, the S4 deadline scan, and the queries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from services.field import commands as c
from services.field import events, scopes
from services.field.customer_view import CustomerDirectory
from services.field.domain.expenses import ZERO, ExpenseBudget, ExpenseClaim, ExpenseLedger
from services.field.domain.intelligence import MarketReport
from services.field.domain.targets import AnnualPlan, quarters_of
from services.field.domain.visits import DevelopmentPlan, VisitMonth, month_of, required_visits
from shared.aggregate import Meta, SalesAggregate
from shared.clock import BUSINESS_TZ
from shared.contracts import Actor, Role
from shared.errors import DomainError, InvalidState, NotFound
from shared.identity.scope import require_scope
from shared.repository import Changes, Watchlist, WithCustomers, find
from shared.results import result_of
from shared.store import Outcome

SYSTEM = Actor(id="field-deadlines", role=Role.SYSTEM)
A = TypeVar("A", bound=SalesAggregate)


def targets_result(plan: AnnualPlan) -> dict[str, Any]:
    regions: dict[str, c.TargetFigures] = {}
    salespeople: dict[str, dict[str, dict[str, Any]]] = {}
    company = None
    for key, figures in plan.current.items():
        kind, _, rest = key.partition(":")
        if kind == "salespeople":
            region, _, month = rest.rpartition(":")
            salespeople.setdefault(region, {})[month] = figures["targets"]
            continue
        target = c.TargetFigures(quarters=quarters_of(figures["months"]), **figures)
        if kind == "company":
            company = target
        else:
            regions[rest] = target
    return c.TargetsResult(
        year=plan.year,
        company=company,
        regions=regions,
        salespeople=salespeople,
        pending=sorted(plan.pending),
        history=[c.TargetChange(**entry) for entry in plan.history],
        version=plan.version,
    ).model_dump(mode="json")


def visit_month_result(month: VisitMonth) -> dict[str, Any]:
    return result_of(c.VisitMonthResult, month, **month.progress())


def development_plan_result(plan: DevelopmentPlan) -> dict[str, Any]:
    return result_of(c.DevelopmentPlanResult, plan, development_plan_id=str(plan.id), visits=len(plan.visits))


def budget_result(budget: ExpenseBudget, ledger: ExpenseLedger | None) -> dict[str, Any]:
    spent = ledger.spent if ledger else ZERO
    return result_of(c.BudgetResult, budget, approved=budget.approved_amount, spent=spent)


def claim_result(claim: ExpenseClaim) -> dict[str, Any]:
    return result_of(c.ClaimResult, claim, claim_id=str(claim.id))


def report_result(report: MarketReport) -> dict[str, Any]:
    return result_of(
        c.MarketReportResult, report, report_id=str(report.id), overdue=report.overdue_at is not None
    )


class FieldApplication(WithCustomers[CustomerDirectory]):
    service = "field"

    def set_up(self) -> None:
        # The S4 scan's memory of filed reports, rebuilt from the store after a restart.
        self._filed = Watchlist(self.recorder, [events.MarketReportFiled.TOPIC])
        self._by_month: dict[str, list[UUID]] = {}

    def _plan(self, cmd: Any, change: Callable[[AnnualPlan, Meta], None]) -> dict[str, Any]:
        """A change to the year's targets: a region's (``cmd.region``) by a user of that region, the
        company's by a company-wide one."""
        year, region = cmd.year, getattr(cmd, "region", None)

        def decide(meta: Meta) -> Outcome:
            plan = self._find(AnnualPlan, AnnualPlan.create_id(year)) or AnnualPlan(year=year, meta=meta)
            change(plan, meta)  # the rule's role check first: a role not allowed at all hears its rule
            if region is None:
                scopes.company_target()
            else:
                scopes.region(region, "the targets")
            return Outcome(targets_result(plan), [plan])

        return self.execute(cmd, decide)

    def _budget(self, cmd: c.BudgetCommand, change: Callable[[ExpenseBudget, Meta], None]) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            budget = self._existing_budget(cmd.region, cmd.year)
            change(budget, meta)
            scopes.region(cmd.region, "the expense budget")
            ledger = self._find(ExpenseLedger, ExpenseLedger.create_id(cmd.region, cmd.year))
            return Outcome(budget_result(budget, ledger), [budget])

        return self.execute(cmd, decide)

    def _claim(self, cmd: c.ClaimCommand, change: Callable[[ExpenseClaim, Meta], None]) -> dict[str, Any]:
        return self.change(cmd, ExpenseClaim, cmd.claim_id, change, claim_result)

    def _report(
        self,
        cmd: c.AcknowledgeMarketReport | c.RaiseReportOverdue,
        change: Callable[[MarketReport, Meta], None],
    ) -> dict[str, Any]:
        return self.change(cmd, MarketReport, cmd.report_id, change, report_result)

    # The commands that change the year's targets (S1), a budget (S3), a claim (S3) or a report (S4): what it
    # decides with each command's fields; checked against the acting user's scope, it answers its result.
    plan_change = Changes(_plan)
    propose_company_target = plan_change(
        c.ProposeCompanyTarget, lambda x, cmd, meta: x.propose_company_target(cmd.amount, cmd.months, meta)
    )
    approve_company_target = plan_change(
        c.ApproveCompanyTarget, lambda x, cmd, meta: x.approve_company_target(meta)
    )
    propose_region_plan = plan_change(
        c.ProposeRegionPlan,
        lambda x, cmd, meta: x.propose_region_plan(
            cmd.region, cmd.amount, cmd.months, cmd.channels, cmd.key_customers, meta
        ),
    )
    approve_region_plan = plan_change(
        c.ApproveRegionPlan, lambda x, cmd, meta: x.approve_region_plan(cmd.region, meta)
    )
    propose_salesperson_targets = plan_change(
        c.ProposeSalespersonTargets,
        lambda x, cmd, meta: x.propose_salesperson_targets(cmd.region, cmd.month, cmd.targets, meta),
    )
    approve_salesperson_targets = plan_change(
        c.ApproveSalespersonTargets,
        lambda x, cmd, meta: x.approve_salesperson_targets(cmd.region, cmd.month, meta),
    )
    budget_change = Changes(_budget)
    review_expense_budget = budget_change(c.ReviewExpenseBudget, lambda x, cmd, meta: x.review(meta))
    approve_expense_budget = budget_change(c.ApproveExpenseBudget, lambda x, cmd, meta: x.approve(meta))
    claim_change = Changes(_claim)
    review_expense_claim = claim_change(c.ReviewExpenseClaim, lambda x, cmd, meta: x.review(meta))
    approve_claim_over_budget = claim_change(
        c.ApproveClaimOverBudget, lambda x, cmd, meta: x.approve_over_budget(meta)
    )
    reject_expense_claim = claim_change(c.RejectExpenseClaim, lambda x, cmd, meta: x.reject(cmd.reason, meta))
    report_change = Changes(_report)
    acknowledge_market_report = report_change(
        c.AcknowledgeMarketReport, lambda x, cmd, meta: x.acknowledge(meta)
    )
    raise_report_overdue = report_change(c.RaiseReportOverdue, lambda x, cmd, meta: x.mark_overdue(meta))

    # S1 ---------------------------------------------------------------------------------------
    def get_targets(self, query: c.GetTargets) -> dict[str, Any]:
        plan = self._find(AnnualPlan, AnnualPlan.create_id(query.year))
        if plan is None:
            raise NotFound(f"no targets for {query.year}", details={"year": query.year})
        return targets_result(plan)

    # S2 ---------------------------------------------------------------------------------------
    def plan_month_visits(self, cmd: c.PlanMonthVisits) -> dict[str, Any]:
        """S2: the grade of each of the salesperson's customers (the field's customer view) sets the
        visits required this month; the plan gives at least those."""
        month_number = int(cmd.month[5:])
        frequency = self.settings.visit_frequency

        def decide(meta: Meta) -> Outcome:
            required = {
                customer.customer_id: n
                for customer in self.customers.of_salesperson(cmd.salesperson_id)
                if customer.grade and (n := required_visits(customer.grade, month_number, frequency))
            }
            month = self._visit_month(cmd.salesperson_id, cmd.month, meta)
            month.plan(required | dict(cmd.visits), required, meta)
            scopes.salesperson_month(self.customers, cmd.salesperson_id, f"the visits of {cmd.month}")
            scopes.customers(self.customers, sorted(cmd.visits))
            return Outcome(visit_month_result(month), [month])

        return self.execute(cmd, decide)

    def log_visit(self, cmd: c.LogVisit) -> dict[str, Any]:
        if (cmd.customer_id is None) == (cmd.development_plan_id is None):
            raise DomainError(
                "a visit is to a customer, or to a prospect under a development plan: name one of them",
                rule="S2",
                details={"field": "customer_id"},
            )

        def decide(meta: Meta) -> Outcome:
            if cmd.customer_id is not None and self.customers.get(cmd.customer_id) is None:
                raise DomainError(
                    f"no customer {cmd.customer_id}; a prospect not registered yet is visited under a "
                    "development plan",
                    rule="S2",
                    details={"field": "customer_id"},
                )
            visit_id = str(uuid.uuid4())
            month = self._visit_month(meta.actor_id, month_of(cmd.visited_on), meta)
            month.log(
                visit_id,
                cmd.customer_id,
                cmd.development_plan_id,
                cmd.visited_on,
                cmd.kind,
                cmd.purpose,
                cmd.outcome,
                cmd.next_step,
                meta,
            )
            aggregates: list[SalesAggregate] = [month]
            if cmd.customer_id is not None:
                scopes.customers(self.customers, [cmd.customer_id])
            if cmd.development_plan_id is not None:
                plan = self.get(DevelopmentPlan, cmd.development_plan_id)
                plan.count_visit(visit_id, cmd.visited_on, meta)
                self.in_scope(plan)
                aggregates.append(plan)
            logged = c.LoggedVisit(
                visit_id=visit_id,
                salesperson_id=month.salesperson_id,
                month=month.month,
                counted=month.visits[-1]["counted"],
            )
            return Outcome(logged.model_dump(mode="json"), aggregates)

        return self.execute(cmd, decide)

    def open_development_plan(self, cmd: c.OpenDevelopmentPlan) -> dict[str, Any]:
        fields = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id"})
        return self.decide_one(
            cmd, lambda meta: DevelopmentPlan.open(meta, **fields), development_plan_result
        )

    def close_development_plan(self, cmd: c.CloseDevelopmentPlan) -> dict[str, Any]:
        return self.change(
            cmd,
            DevelopmentPlan,
            cmd.development_plan_id,
            lambda plan, meta: plan.close(cmd.customer_id, cmd.outcome, meta),
            development_plan_result,
        )

    def get_visit_progress(self, query: c.GetVisitProgress) -> dict[str, Any]:
        scopes.salesperson_month(self.customers, query.salesperson_id, f"the visits of {query.month}")
        month = self._find(VisitMonth, VisitMonth.create_id(query.salesperson_id, query.month))
        if month is None:
            raise NotFound(
                f"no visits planned or logged by {query.salesperson_id} in {query.month}",
                details={"salesperson_id": query.salesperson_id, "month": query.month},
            )
        return visit_month_result(month)

    def get_development_plan(self, query: c.GetDevelopmentPlan) -> dict[str, Any]:
        plan = self.get(DevelopmentPlan, query.development_plan_id)
        self.in_scope(plan)
        return development_plan_result(plan)

    def _visit_month(self, salesperson_id: str, month: str, meta: Meta) -> VisitMonth:
        found = self._find(VisitMonth, VisitMonth.create_id(salesperson_id, month))
        return found or VisitMonth(salesperson_id=salesperson_id, month=month, meta=meta)

    # S3 ---------------------------------------------------------------------------------------
    def draft_expense_budget(self, cmd: c.DraftExpenseBudget) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            if self._find(ExpenseBudget, ExpenseBudget.create_id(cmd.region, cmd.year)) is not None:
                raise InvalidState(
                    f"region {cmd.region}'s budget for {cmd.year} is drafted already", rule="S3"
                )
            budget = ExpenseBudget.draft(cmd.region, cmd.year, cmd.amount, meta)
            scopes.region(cmd.region, "the expense budget")
            return Outcome(budget_result(budget, None), [budget])

        return self.execute(cmd, decide)

    def get_expense_budget(self, query: c.GetExpenseBudget) -> dict[str, Any]:
        budget = self._existing_budget(query.region, query.year)
        scopes.region(query.region, "the expense budget")
        return budget_result(
            budget, self._find(ExpenseLedger, ExpenseLedger.create_id(query.region, query.year))
        )

    def submit_expense_claim(self, cmd: c.SubmitExpenseClaim) -> dict[str, Any]:
        fields = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id", "vouchers"})
        return self.decide_one(
            cmd, lambda meta: ExpenseClaim.submit(meta, list(cmd.vouchers), **fields), claim_result
        )

    def approve_expense_claim(self, cmd: c.ApproveExpenseClaim) -> dict[str, Any]:
        """S3: finance approves; the claim is charged to its region's year in the same save, so two
        approvals never both spend the budget's remainder (the budget read is checked unchanged too)."""

        def decide(meta: Meta) -> Outcome:
            claim = self.get(ExpenseClaim, cmd.claim_id)
            region, year = claim.region, claim.spent_on.year
            budget = self._find(ExpenseBudget, ExpenseBudget.create_id(region, year))
            ledger = self._find(ExpenseLedger, ExpenseLedger.create_id(region, year))
            ledger = ledger or ExpenseLedger(region=region, year=year, meta=meta)
            claim.approve(budget.approved_amount if budget else ZERO, ledger.spent, meta)
            self.in_scope(claim)
            ledger.charge(str(claim.id), claim.amount, meta)
            return Outcome(claim_result(claim), [claim, ledger])

        return self.execute(cmd, decide)

    def get_expense_claim(self, query: c.GetExpenseClaim) -> dict[str, Any]:
        claim = self.get(ExpenseClaim, query.claim_id)
        self.in_scope(claim)
        return claim_result(claim)

    def _existing_budget(self, region: str, year: int) -> ExpenseBudget:
        budget = self._find(ExpenseBudget, ExpenseBudget.create_id(region, year))
        if budget is None:
            raise NotFound(
                f"no expense budget of {region} for {year}", details={"region": region, "year": year}
            )
        return budget

    # S4 ---------------------------------------------------------------------------------------
    def report_market_intelligence(self, cmd: c.ReportMarketIntelligence) -> dict[str, Any]:
        fields = cmd.model_dump(exclude={"actor", "idempotency_key", "correlation_id"})
        ack_days = self.settings.intelligence_ack_days

        def filed(meta: Meta) -> MarketReport:
            return MarketReport.file(
                meta, ack_days, meta.at.astimezone(BUSINESS_TZ).strftime("%Y-%m"), **fields
            )

        return self.decide_one(cmd, filed, report_result)

    def scan_overdue(self) -> int:
        """Raise every urgent report past its deadline once; returns how many were raised. Safe to run
        again at any time, in any process: what is due is decided from stored state, and the report
        refuses to be raised twice (complaints P7 works the same way)."""
        with self._filed.lock:
            self._follow_log()
            now = self.clock.now()
            raised = 0
            for report_id in sorted(self._filed.open):
                report = self.get(MarketReport, str(report_id))
                if report.due(now):
                    try:
                        self.raise_report_overdue(
                            c.RaiseReportOverdue(actor=SYSTEM, report_id=str(report_id))
                        )
                        raised += 1
                    except InvalidState:  # another scanner got there first
                        pass
                    report = self.get(MarketReport, str(report_id))
                if report.settled:
                    self._filed.open.discard(report_id)
            return raised

    def list_market_reports(self, query: c.ListMarketReports) -> dict[str, Any]:
        with self._filed.lock:
            self._follow_log()
            found = list(self._by_month.get(query.month, ()))
        found_reports = [self.get(MarketReport, str(report_id)) for report_id in found]
        # the month's reports this user may read: their region's (a salesperson: their own)
        reports = [report_result(r) for r in found_reports if scopes.visible(r.region, r.reported_by)]
        return c.MarketReportList.model_validate({"month": query.month, "reports": reports}).model_dump(
            mode="json"
        )

    def get_market_report(self, query: c.GetMarketReport) -> dict[str, Any]:
        report = self.get(MarketReport, query.report_id)
        self.in_scope(report)
        return report_result(report)

    def _follow_log(self) -> None:
        for report_id in self._filed.new():
            report = self.get(MarketReport, str(report_id))
            self._by_month.setdefault(report.month, []).append(report_id)
            if not report.settled:
                self._filed.open.add(report_id)

    def in_scope(self, aggregate: SalesAggregate) -> None:
        """A development plan, expense claim or market report: by a user whose role covers its region (a
        salesperson: their own). Asked after the rule's role check."""
        assert isinstance(aggregate, DevelopmentPlan | ExpenseClaim | MarketReport)
        person = aggregate.reported_by if isinstance(aggregate, MarketReport) else aggregate.salesperson_id
        require_scope(aggregate.region, person, f"{self.name_of(type(aggregate))[0]} {aggregate.id}")

    # ------------------------------------------------------------------------------------------
    def _find(self, kind: type[A], aggregate_id: UUID) -> A | None:
        return find(self.repository, kind, aggregate_id)
