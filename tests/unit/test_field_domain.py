"""Field domain and application on the in-memory (POPO) store: S1–S4, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.field import commands as c
from services.field.application import FieldApplication
from services.field.customer_view import InMemoryCustomerDirectory, fold
from services.field.domain.expenses import ExpenseClaim
from services.field.domain.intelligence import MarketReport
from services.field.domain.targets import AnnualPlan, quarters_of
from services.field.domain.visits import required_visits
from shared.aggregate import Meta
from shared.clock import FixedClock
from shared.errors import DomainError, Forbidden, InvalidState
from shared.field_contract import ExpenseCategory, IntelligenceKind
from shared.settings import Settings
from tests.builders import FINANCE, GM, MARKETING, REGIONAL, SALES, SUPERVISOR, kept_event

T0 = datetime(2027, 1, 12, 2, 0, tzinfo=UTC)
POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
FREQUENCY = Settings().visit_frequency


def meta(actor: dict[str, str], at: datetime = T0) -> Meta:
    return Meta(actor_id=actor["id"], actor_role=actor["role"], correlation_id="c", causation_id="c", at=at)


def twelve(amount: str) -> list[Decimal]:
    return [Decimal(amount)] * 12


@pytest.fixture
def app() -> Iterator[FieldApplication]:
    application = FieldApplication(Settings(), FixedClock(T0), InMemoryCustomerDirectory(), env=POPO)
    yield application
    application.close()


def field_flow(app: FieldApplication) -> None:
    """One of everything the service does (also used to check every stored event's envelope)."""
    year = {"year": 2027}
    app.propose_company_target(
        c.ProposeCompanyTarget.model_validate(
            {"actor": MARKETING, **year, "amount": "1200", "months": ["100"] * 12}
        )
    )
    app.approve_company_target(c.ApproveCompanyTarget.model_validate({"actor": GM, **year}))
    region = {**year, "region": "EAST"}
    app.propose_region_plan(
        c.ProposeRegionPlan.model_validate(
            {"actor": REGIONAL, **region, "amount": "1200", "months": ["100"] * 12, "channels": ["dealers"]}
        )
    )
    app.approve_region_plan(c.ApproveRegionPlan.model_validate({"actor": GM, **region}))
    month = {**region, "month": 1}
    app.propose_salesperson_targets(
        c.ProposeSalespersonTargets.model_validate(
            {"actor": REGIONAL, **month, "targets": {"sp-1": "60", "sp-2": "40"}}
        )
    )
    app.approve_salesperson_targets(c.ApproveSalespersonTargets.model_validate({"actor": GM, **month}))
    app.plan_month_visits(
        c.PlanMonthVisits.model_validate(
            {"actor": SALES, "salesperson_id": "sp-1", "month": "2027-01", "visits": {"c-1": 3}}
        )
    )
    plan = app.open_development_plan(
        c.OpenDevelopmentPlan.model_validate(
            {"actor": SALES, "prospect_name": "P", "region": "EAST", "goal": "g", "planned_visits": 2}
        )
    )
    visit = {
        "actor": SALES,
        "development_plan_id": plan["development_plan_id"],
        "visited_on": "2027-01-10",
        "kind": "phone",
        "purpose": "p",
        "outcome": "o",
    }
    app.log_visit(c.LogVisit.model_validate(visit))
    app.close_development_plan(
        c.CloseDevelopmentPlan.model_validate(
            {"actor": SALES, "development_plan_id": plan["development_plan_id"], "outcome": "given up"}
        )
    )
    budget = {"region": "EAST", "year": 2027}
    app.draft_expense_budget(
        c.DraftExpenseBudget.model_validate({"actor": REGIONAL, **budget, "amount": "100"})
    )
    app.review_expense_budget(c.ReviewExpenseBudget.model_validate({"actor": FINANCE, **budget}))
    app.approve_expense_budget(c.ApproveExpenseBudget.model_validate({"actor": GM, **budget}))
    claim = app.submit_expense_claim(expense_claim("150", "travel", "2027-01-05", "V-1"))
    step = {"claim_id": claim["claim_id"]}
    for actor in (SUPERVISOR, REGIONAL):
        app.review_expense_claim(c.ReviewExpenseClaim.model_validate({"actor": actor, **step}))
    app.approve_claim_over_budget(c.ApproveClaimOverBudget.model_validate({"actor": GM, **step}))
    app.approve_expense_claim(c.ApproveExpenseClaim.model_validate({"actor": FINANCE, **step}))
    rejected = app.submit_expense_claim(expense_claim("5", "other", "2027-01-06", "V-2"))
    app.reject_expense_claim(
        c.RejectExpenseClaim.model_validate(
            {"actor": SUPERVISOR, "claim_id": rejected["claim_id"], "reason": "no voucher"}
        )
    )
    report = {
        "actor": SALES,
        "kind": "competitor_promotion",
        "region": "EAST",
        "subject": "s",
        "content": "c",
        "urgent": True,
    }
    filed = app.report_market_intelligence(c.ReportMarketIntelligence.model_validate(report))
    app.acknowledge_market_report(
        c.AcknowledgeMarketReport.model_validate(
            {"actor": {"id": "sm-1", "role": "sales_manager"}, "report_id": filed["report_id"]}
        )
    )
    app.report_market_intelligence(c.ReportMarketIntelligence.model_validate(report))
    assert isinstance(app.clock, FixedClock)
    app.clock.advance(timedelta(days=2))
    assert app.scan_overdue() == 1


def test_field_flow_runs_end_to_end_in_memory(app: FieldApplication) -> None:
    field_flow(app)
    targets = app.get_targets(c.GetTargets(year=2027))
    assert targets["salespeople"] == {"EAST": {"1": {"sp-1": "60.00", "sp-2": "40.00"}}}


def test_s1_months_add_up_to_the_annual_target() -> None:
    plan = AnnualPlan(year=2027, meta=meta(MARKETING))
    with pytest.raises(DomainError) as error:
        plan.propose_company_target(Decimal("1200"), [*twelve("100")[:11], Decimal("99")], meta(MARKETING))
    assert error.value.rule == "S1" and error.value.details["sum"] == "1199.00"
    with pytest.raises(DomainError):
        plan.propose_company_target(Decimal("1100"), twelve("100")[:11], meta(MARKETING))
    assert quarters_of([Decimal(n) for n in range(1, 13)]) == [6, 15, 24, 33]


def test_s1_a_change_takes_effect_on_approval_and_the_history_is_kept() -> None:
    plan = AnnualPlan(year=2027, meta=meta(MARKETING))
    plan.propose_company_target(Decimal("1200"), twelve("100"), meta(MARKETING))
    plan.approve_company_target(meta(GM))
    plan.propose_company_target(Decimal("2400"), twelve("200"), meta(MARKETING))
    assert plan.current["company"]["amount"] == Decimal("1200")  # the change waits for approval
    with pytest.raises(Forbidden):
        plan.approve_company_target(meta(MARKETING))
    plan.approve_company_target(meta(GM))
    assert plan.current["company"]["amount"] == Decimal("2400")
    assert [(h["action"], h["figures"]["amount"]) for h in plan.history] == [
        ("proposed", 1200),
        ("approved", 1200),
        ("proposed", 2400),
        ("approved", 2400),
    ]
    with pytest.raises(InvalidState) as error:
        plan.approve_company_target(meta(GM))  # nothing pending
    assert error.value.rule == "S1"


def test_s1_region_targets_add_up_to_the_company_target_before_approval() -> None:
    plan = AnnualPlan(year=2027, meta=meta(MARKETING))
    plan.propose_company_target(Decimal("1200"), twelve("100"), meta(MARKETING))
    plan.approve_company_target(meta(GM))
    plan.propose_region_plan("EAST", Decimal("600"), twelve("50"), [], [], meta(REGIONAL))
    with pytest.raises(DomainError) as error:
        plan.approve_region_plan("EAST", meta(GM))
    assert error.value.rule == "S1" and error.value.details["regions"] == {"EAST": "600"}
    plan.propose_region_plan("WEST", Decimal("600"), twelve("50"), [], [], meta(REGIONAL))
    plan.approve_region_plan("EAST", meta(GM))
    assert plan.region_targets() == {"EAST": Decimal("600"), "WEST": Decimal("600")}


@pytest.mark.parametrize(
    ("grade", "month", "visits"),
    [("A", 1, 4), ("A", 2, 4), ("B", 5, 2), ("C", 12, 1), ("D", 1, 1), ("D", 2, 0), ("D", 3, 0), ("D", 4, 1)],
)
def test_s2_visits_required_by_grade(grade: str, month: int, visits: int) -> None:
    assert required_visits(grade, month, FREQUENCY) == visits


def test_s2_the_customer_view_folds_registration_grade_and_status() -> None:
    events = [
        kept_event(3, "CustomerGraded", {"grade": "A"}),
        kept_event(1, "CustomerRegistered", {"region": "EAST", "salesperson_id": "sp-1"}),
        kept_event(2, "CustomerApproved", {"code": "EAST-D0001"}),
    ]
    customer = fold("c-1", events)
    assert customer is not None
    assert (customer.region, customer.salesperson_id, customer.status, customer.grade) == (
        "EAST",
        "sp-1",
        "approved",
        "A",
    )
    assert fold("c-2", [kept_event(2, "CustomerGraded", {"grade": "B"})]) is None  # not registered yet


def claim() -> ExpenseClaim:
    fields: dict[str, Any] = {"region": "EAST", "amount": Decimal("100"), "category": ExpenseCategory.TRAVEL}
    return ExpenseClaim.submit(meta(SALES), ["V-1"], spent_on=T0.date(), description="", **fields)


def test_s3_claims_follow_the_chain_in_order() -> None:
    expense = claim()
    with pytest.raises(InvalidState) as early_review:
        expense.review(meta(REGIONAL))
    with pytest.raises(InvalidState) as early_approval:
        expense.approve(Decimal("1000"), Decimal("0"), meta(FINANCE))
    assert early_review.value.rule == early_approval.value.rule == "S3"
    with pytest.raises(Forbidden):
        expense.review(meta(SALES))
    expense.review(meta(SUPERVISOR))
    expense.review(meta(REGIONAL))
    expense.approve(Decimal("1000"), Decimal("0"), meta(FINANCE))
    assert expense.status == "approved"


def test_s3_a_claim_over_budget_needs_the_general_manager_first() -> None:
    expense = claim()
    expense.review(meta(SUPERVISOR))
    expense.review(meta(REGIONAL))
    with pytest.raises(DomainError) as error:
        expense.approve(Decimal("1000"), Decimal("950"), meta(FINANCE))
    assert error.value.rule == "S3"
    expense.approve_over_budget(meta(GM))
    expense.approve(Decimal("1000"), Decimal("950"), meta(FINANCE))
    assert expense.over_budget_approved_by == GM["id"]


def test_s4_only_an_unacknowledged_urgent_report_falls_due() -> None:
    fields: dict[str, Any] = {
        "kind": IntelligenceKind.MARKET_CHANGE,
        "region": "EAST",
        "subject": "s",
        "content": "c",
    }
    urgent = MarketReport.file(meta(SALES), 1, "2027-01", urgent=True, **fields)
    plain = MarketReport.file(meta(SALES), 1, "2027-01", urgent=False, **fields)
    later = T0 + timedelta(days=1, seconds=1)
    assert urgent.due(later) and not urgent.due(T0 + timedelta(hours=23)) and not plain.due(later)
    urgent.acknowledge(meta({"id": "sm-1", "role": "sales_manager"}))
    assert not urgent.due(later) and urgent.settled


def expense_claim(amount: str, category: str, spent_on: str, voucher: str) -> c.SubmitExpenseClaim:
    """A salesperson's expense claim (S3) in EAST with one voucher."""
    body = {"actor": SALES, "region": "EAST", "amount": amount, "category": category, "spent_on": spent_on}
    return c.SubmitExpenseClaim.model_validate(body | {"vouchers": [voucher]})


def test_s4_a_report_the_scan_could_not_read_is_read_again_next_scan(
    app: FieldApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {"actor": SALES, "kind": "market_change", "region": "EAST", "subject": "s", "content": "c"}
    app.report_market_intelligence(c.ReportMarketIntelligence.model_validate(report | {"urgent": True}))
    stored = app.repository.get

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the store is away")

    monkeypatch.setattr(app.repository, "get", unreachable)
    with pytest.raises(ConnectionError):
        app.scan_overdue()
    monkeypatch.setattr(app.repository, "get", stored)
    assert isinstance(app.clock, FixedClock)
    app.clock.advance(timedelta(days=2))
    assert app.scan_overdue() == 1  # not lost: the scan still watches it, and raises it once due
