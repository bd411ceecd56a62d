"""The field's figures in the projector (R11, R13): what each event adds, and the same rows whatever the
order the events are applied in (what lets a rebuild equal the live tables, R9)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from services.reporting.projector import LoggedEvent, Projector

AT = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)
PLAN = "plan-2027"


def field_event(event_type: str, aggregate_id: str, version: int, position: int, **data: Any) -> LoggedEvent:
    return LoggedEvent("field", position, event_type, aggregate_id, version, AT, data)


EVENTS = [
    field_event("CompanyTargetApproved", PLAN, 2, 1, year=2027, amount="1200.00", months=["100.00"] * 12),
    # a change approved later replaces the whole year
    field_event("CompanyTargetApproved", PLAN, 9, 7, year=2027, amount="2400.00", months=["200.00"] * 12),
    field_event(
        "SalespersonTargetsApproved",
        PLAN,
        5,
        3,
        year=2027,
        region="EAST",
        month=3,
        targets={"a": "60", "b": "40"},
    ),
    # the month's targets approved again without "b": "b" has no target any more
    field_event(
        "SalespersonTargetsApproved", PLAN, 11, 9, year=2027, region="EAST", month=3, targets={"a": "100"}
    ),
    field_event("VisitsPlanned", "vm-a", 2, 4, salesperson_id="a", month="2027-03", planned={"c1": 2}),
    field_event(
        "VisitLogged", "vm-a", 3, 5, salesperson_id="a", month="2027-03", customer_id="c1", counted=True
    ),
    field_event(
        "VisitLogged", "vm-a", 4, 6, salesperson_id="a", month="2027-03", customer_id="c1", counted=False
    ),
    field_event(
        "ExpenseClaimApproved",
        "claim-1",
        4,
        8,
        region="EAST",
        amount="150.00",
        spent_on="2027-03-09",
        over_budget=True,
    ),
    field_event("ExpenseBudgetApproved", "budget-east", 3, 2, region="EAST", year=2027, amount="1000.00"),
]


def field_rows(events: list[LoggedEvent]) -> list[tuple[Any, ...]]:
    projector = Projector("calendar")
    projector.apply_all(events)
    return projector.rows("field")


def keyed(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Each row by its table and its key: the first two columns (three for visits)."""
    width = {"field_visits": 3}
    return {(table, *list(row.values())[: width.get(table, 2)]): row for table, row in rows}


def test_r11_r13_field_rows_hold_the_latest_approvals_and_the_counted_visits_and_expenses() -> None:
    rows = keyed(field_rows(EVENTS))
    assert rows["field_targets", "company", "2027-03"] == {
        "scope": "company",
        "month": "2027-03",
        "targets": {"company": "200.00"},
        "version": 9,
    }
    assert rows["field_targets", "salespeople:EAST", "2027-03"]["targets"] == {"a": "100"}
    assert rows["field_visit_plans", "a", "2027-03"]["planned"] == {"c1": 2}
    visits = rows["field_visits", "a", "2027-03", "c1"]
    assert (visits["logged"], visits["counted"]) == ("2", "1")  # a phone call is logged, not counted
    expenses = rows["field_expenses", "EAST", "2027-03"]
    assert (expenses["approved_amount"], expenses["claims"], expenses["over_budget_claims"]) == (
        "150.00",
        "1",
        "1",
    )
    assert rows["field_budgets", "EAST", "2027"]["amount"] == "1000.00"


def test_r9_field_rows_are_the_same_in_any_order_of_the_events() -> None:
    expected = field_rows(EVENTS)
    for order in itertools.islice(itertools.permutations(EVENTS), 0, None, 997):
        assert field_rows(list(order)) == expected
    assert field_rows(list(reversed(EVENTS))) == expected
