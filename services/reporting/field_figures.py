"""How the field service's events (S1–S3) change reporting's field tables (``field_tables.py``): the
``Projector`` registers these handlers, so the same code runs live, in a rebuild and in an as-of
snapshot (R9)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from services.reporting.periods import PeriodMode, label, period_of_day
from shared import field_contract

# (aggregate id, version, position, occurred at in microseconds, data), as ``Projector`` calls handlers.
Handler = Callable[[str, int, int, int, dict[str, Any]], None]
Versioned = dict[tuple[str, ...], tuple[int, dict[str, Any]]]
Counters = dict[tuple[str, ...], list[Decimal]]
ZERO, ONE = Decimal(0), Decimal(1)


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else ZERO
    except InvalidOperation:
        return ZERO


def _text(amount: Any) -> str:
    return str(_money(amount))


@dataclass
class FieldFigures:
    """What a run of field events adds to the field tables, by table and key, until ``rows`` is read."""

    mode: PeriodMode
    targets: Versioned = field(default_factory=dict)
    visit_plans: Versioned = field(default_factory=dict)
    budgets: Versioned = field(default_factory=dict)
    visits: Counters = field(default_factory=dict)
    expenses: Counters = field(default_factory=dict)

    def handlers(self) -> dict[tuple[str, str], Handler]:
        return {
            field_contract.CompanyTargetApproved.key(): self._company_target,
            field_contract.RegionPlanApproved.key(): self._region_plan,
            field_contract.SalespersonTargetsApproved.key(): self._salesperson_targets,
            field_contract.VisitsPlanned.key(): self._visits_planned,
            field_contract.VisitLogged.key(): self._visit_logged,
            field_contract.ExpenseBudgetApproved.key(): self._budget_approved,
            field_contract.ExpenseClaimApproved.key(): self._claim_approved,
        }

    @staticmethod
    def _newer(table: Versioned, key: tuple[str, ...], version: int, values: dict[str, Any]) -> None:
        current = table.get(key)
        if current is None or version > current[0]:
            table[key] = (version, values)

    @staticmethod
    def _count(table: Counters, key: tuple[str, ...], deltas: tuple[Decimal, ...]) -> None:
        row = table.get(key)
        if row is None:
            row = table[key] = [ZERO] * len(deltas)
        for i, delta in enumerate(deltas):
            row[i] += delta

    # ------------------------------------------------ S1 targets: each month of the year, by scope

    def _months(self, scope: str, unit: str, version: int, d: dict[str, Any]) -> None:
        year = int(d["year"])
        for month, amount in enumerate(d.get("months") or [], start=1):
            self._newer(self.targets, (scope, label(year, month)), version, {unit: _text(amount)})

    def _company_target(self, plan_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        self._months("company", "company", version, d)

    def _region_plan(self, plan_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        region = str(d["region"])
        self._months(f"region:{region}", region, version, d)

    def _salesperson_targets(
        self, plan_id: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        month = label(int(d["year"]), int(d["month"]))
        targets = {str(who): _text(amount) for who, amount in (d.get("targets") or {}).items()}
        self._newer(self.targets, (f"salespeople:{d['region']}", month), version, targets)

    # ------------------------------------------------ S2 visits

    def _visits_planned(self, month_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        planned = {str(c): int(n) for c, n in (d.get("planned") or {}).items()}
        self._newer(self.visit_plans, (str(d["salesperson_id"]), str(d["month"])), version, planned)

    def _visit_logged(self, month_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        key = (str(d["salesperson_id"]), str(d["month"]), str(d.get("customer_id") or ""))
        self._count(self.visits, key, (ONE, ONE if d.get("counted") else ZERO))

    # ------------------------------------------------ S3 expenses

    def _budget_approved(
        self, budget_id: str, version: int, position: int, at: int, d: dict[str, Any]
    ) -> None:
        key = (str(d["region"]), str(d["year"]))
        self._newer(self.budgets, key, version, {"amount": _text(d.get("amount"))})

    def _claim_approved(self, claim_id: str, version: int, position: int, at: int, d: dict[str, Any]) -> None:
        period = period_of_day(date.fromisoformat(str(d["spent_on"])), self.mode)
        over = ONE if d.get("over_budget") else ZERO
        self._count(self.expenses, (str(d["region"]), period), (_money(d.get("amount")), ONE, over))

    # ------------------------------------------------ rows of ``field_tables.FIELD_STATEMENT``

    def rows(self, only: frozenset[str] | None) -> list[tuple[str, dict[str, Any]]]:
        """What was aggregated, as (table, row) sorted by table and key (of the tables in ``only``)."""
        found: list[tuple[str, dict[str, Any]]] = []

        def wanted(table: str) -> bool:
            return only is None or table in only

        if wanted("field_targets"):
            found += [
                ("field_targets", {"scope": s, "month": m, "targets": t, "version": v})
                for (s, m), (v, t) in sorted(self.targets.items())
            ]
        if wanted("field_visit_plans"):
            found += [
                ("field_visit_plans", {"salesperson_id": sp, "month": m, "planned": p, "version": v})
                for (sp, m), (v, p) in sorted(self.visit_plans.items())
            ]
        if wanted("field_visits"):
            found += [
                (
                    "field_visits",
                    {"salesperson_id": sp, "month": m, "customer_id": c, "logged": str(n), "counted": str(k)},
                )
                for (sp, m, c), (n, k) in sorted(self.visits.items())
            ]
        if wanted("field_expenses"):
            found += [
                (
                    "field_expenses",
                    {
                        "region": r,
                        "period": p,
                        "approved_amount": str(a),
                        "claims": str(n),
                        "over_budget_claims": str(o),
                    },
                )
                for (r, p), (a, n, o) in sorted(self.expenses.items())
            ]
        if wanted("field_budgets"):
            found += [
                ("field_budgets", {"region": r, "year": y, "amount": b["amount"], "version": v})
                for (r, y), (v, b) in sorted(self.budgets.items())
            ]
        return found

    def reset(self) -> None:
        self.targets, self.visit_plans, self.budgets, self.visits, self.expenses = {}, {}, {}, {}, {}
