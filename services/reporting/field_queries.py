"""The field reports: R11 targets vs net sales with attainment, R13 visit plan vs actual and expenses with
the expense ratio, and attainment in the staff report (R7) and the monthly review (R8).

Targets are set per calendar month of the plan's year (S1); a month's net sales are those of the reporting
period with its label (R1), so "2027-03" compares March's target with the sales of period 2027-03.
Every report takes the schema it reads: the live tables or an as-of snapshot (R9).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from services.reporting import periods, queries
from services.reporting.periods import PeriodMode
from services.reporting.tables import SCHEMA

ZERO = Decimal(0)
PERCENT = Decimal("0.1")
# R8 (decision): a salesperson at or above the target of the period is flagged for reward; one below it in
# each of the last ``decline_periods`` periods that had a target, as a persistent under-performer.
FULL_ATTAINMENT = Decimal(100)


@dataclass(frozen=True)
class Span:
    """A month, a quarter or a year of the plan: the period labels it covers."""

    year: int
    quarter: int | None = None
    month: int | None = None

    @property
    def months(self) -> list[str]:
        if self.month is not None:
            return [periods.label(self.year, self.month)]
        if self.quarter is not None:
            return [periods.label(self.year, m) for m in range(self.quarter * 3 - 2, self.quarter * 3 + 1)]
        return periods.year_periods(self.year)

    def info(self) -> dict[str, Any]:
        kind = "month" if self.month is not None else "quarter" if self.quarter is not None else "year"
        return {"year": self.year, "quarter": self.quarter, "month": self.month, "span": kind}


def attainment(net_sales: Decimal, target: Decimal | None) -> str | None:
    """Net sales as a percentage of the target (one decimal); none without a positive target."""
    if not target or target <= 0:
        return None
    return f"{(net_sales / target * 100).quantize(PERCENT)}"


def _figures(target: Decimal | None, net_sales: Decimal) -> dict[str, Any]:
    """R11's columns: target, net sales, attainment and the gap (what is still missing to the target;
    negative when the target is exceeded)."""
    return {
        "target": None if target is None else queries.amount(target),
        "net_sales": queries.amount(net_sales),
        "attainment_pct": attainment(net_sales, target),
        "gap": None if target is None else queries.amount(target - net_sales),
    }


async def _targets(conn: asyncpg.Connection, schema: str, months: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT scope, t.key AS unit, sum(t.value::numeric) AS amount "
        f"FROM {schema}.field_targets, jsonb_each_text(targets) t WHERE month = ANY($1::text[]) "
        "GROUP BY 1, 2",
        months,
    )


async def salesperson_targets(
    conn: asyncpg.Connection, schema: str, months: list[str]
) -> dict[str, tuple[str, Decimal]]:
    """Each salesperson's target over ``months``, with the region it was set in (the last by name when
    targets were set in several regions)."""
    found: dict[str, tuple[str, Decimal]] = {}
    for r in sorted(await _targets(conn, schema, months), key=lambda r: (r["scope"], r["unit"])):
        if r["scope"].startswith("salespeople:"):
            region = r["scope"].removeprefix("salespeople:")
            before = found.get(r["unit"], ("", ZERO))[1]
            found[r["unit"]] = (region, before + r["amount"])
    return found


async def staff_net_sales(conn: asyncpg.Connection, schema: str, months: list[str]) -> dict[str, Decimal]:
    rows = await conn.fetch(
        f"SELECT staff_id, sum(amount) AS amount FROM {schema}.staff_period "
        "WHERE period = ANY($1::text[]) GROUP BY 1",
        months,
    )
    return {r["staff_id"]: r["amount"] for r in rows}


async def targets_vs_actual(
    conn: asyncpg.Connection, span: Span, mode: PeriodMode, schema: str = SCHEMA
) -> dict[str, Any]:
    """R11: per company, region and salesperson over the span: target, net sales, attainment, gap."""
    months = span.months
    targets = await _targets(conn, schema, months)
    company_target = next((r["amount"] for r in targets if r["scope"] == "company"), None)
    region_targets = {r["unit"]: r["amount"] for r in targets if r["scope"].startswith("region:")}
    sales = await conn.fetch(
        f"SELECT c.region, sum(p.ordered_amount) AS amount FROM {schema}.customer_period p "
        f"LEFT JOIN {schema}.customers c USING (customer_id) WHERE p.period = ANY($1::text[]) GROUP BY 1",
        months,
    )
    region_sales = {r["region"]: r["amount"] for r in sales if r["region"] is not None}
    company_sales = sum((r["amount"] for r in sales), ZERO)
    people = await salesperson_targets(conn, schema, months)
    people_sales = await staff_net_sales(conn, schema, months)
    return {
        **span.info(),
        "period_mode": mode,
        "months": months,
        "company": _figures(company_target, company_sales),
        "regions": [
            {"region": region, **_figures(region_targets.get(region), region_sales.get(region, ZERO))}
            for region in sorted(set(region_targets) | set(region_sales))
        ],
        "salespeople": [
            {
                "salesperson_id": who,
                "region": people.get(who, (None, None))[0],
                **_figures(people.get(who, (None, None))[1], people_sales.get(who, ZERO)),
            }
            for who in sorted(set(people) | set(people_sales))
        ],
    }


# ---------------------------------------------------------------- R13 visits


def _completion(planned: int, made: int) -> str | None:
    return f"{(Decimal(made) / planned * 100).quantize(PERCENT)}" if planned else None


def _visit_row(planned: int, made: int, counted: int, logged: int) -> dict[str, Any]:
    return {
        "planned": planned,
        "planned_made": made,
        "visits": counted,
        "logged": logged,
        "completion_pct": _completion(planned, made),
    }


async def visit_plan_vs_actual(conn: asyncpg.Connection, month: str, schema: str = SCHEMA) -> dict[str, Any]:
    """R13 (S2): per salesperson and per region (the visited customer's), the visits planned in the
    month, the planned visits made (a customer's visits count up to its plan), every visit counted
    (visits and return visits, prospects included) and everything logged (phone calls too)."""
    plans = await conn.fetch(
        f"SELECT salesperson_id, p.key AS customer_id, p.value::int AS planned "
        f"FROM {schema}.field_visit_plans, jsonb_each_text(planned) p WHERE month = $1",
        month,
    )
    visits = await conn.fetch(
        f"SELECT salesperson_id, customer_id, logged, counted FROM {schema}.field_visits WHERE month = $1",
        month,
    )
    customers = {r["customer_id"] for r in plans} | {r["customer_id"] for r in visits if r["customer_id"]}
    regions = {
        r["customer_id"]: r["region"]
        for r in await conn.fetch(
            f"SELECT customer_id, region FROM {schema}.customers WHERE customer_id = ANY($1::text[])",
            sorted(customers),
        )
    }
    made = {(r["salesperson_id"], r["customer_id"]): int(r["counted"]) for r in visits}
    # [planned, planned made, counted, logged] per salesperson and per region
    people: dict[str, list[int]] = {}
    by_region: dict[str, list[int]] = {}
    for r in plans:
        done = min(made.get((r["salesperson_id"], r["customer_id"]), 0), r["planned"])
        for table, key in ((people, r["salesperson_id"]), (by_region, regions.get(r["customer_id"]))):
            if key is not None:
                row = table.setdefault(key, [0, 0, 0, 0])
                row[0] += r["planned"]
                row[1] += done
    for r in visits:
        region = regions.get(r["customer_id"])
        for table, key in ((people, r["salesperson_id"]), (by_region, region)):
            if key is not None:
                row = table.setdefault(key, [0, 0, 0, 0])
                row[2] += int(r["counted"])
                row[3] += int(r["logged"])
    return {
        "month": month,
        "salespeople": [{"salesperson_id": k, **_visit_row(*v)} for k, v in sorted(people.items())],
        "regions": [{"region": k, **_visit_row(*v)} for k, v in sorted(by_region.items())],
    }


# ---------------------------------------------------------------- R13 expenses


async def expenses(
    conn: asyncpg.Connection, span: Span, mode: PeriodMode, schema: str = SCHEMA
) -> dict[str, Any]:
    """R13 (S3): per region over the span: approved expenses, net sales and the expense ratio (approved
    expenses / net sales), with the region's approved budget for the year."""
    months = span.months
    spent = await conn.fetch(
        f"SELECT region, sum(approved_amount) AS amount, sum(claims) AS claims, "
        f"sum(over_budget_claims) AS over_budget FROM {schema}.field_expenses "
        "WHERE period = ANY($1::text[]) GROUP BY 1",
        months,
    )
    sales = await conn.fetch(
        f"SELECT c.region, sum(p.ordered_amount) AS amount FROM {schema}.customer_period p "
        f"JOIN {schema}.customers c USING (customer_id) WHERE p.period = ANY($1::text[]) GROUP BY 1",
        months,
    )
    budgets = await conn.fetch(
        f"SELECT region, amount FROM {schema}.field_budgets WHERE year = $1", str(span.year)
    )
    spent_by = {r["region"]: r for r in spent}
    sales_by = {r["region"]: r["amount"] for r in sales}
    budget_by = {r["region"]: r["amount"] for r in budgets}
    rows = []
    for region in sorted(set(spent_by) | set(budget_by)):
        expense = spent_by[region]["amount"] if region in spent_by else ZERO
        net = sales_by.get(region, ZERO)
        rows.append(
            {
                "region": region,
                "approved_expenses": queries.amount(expense),
                "claims": queries.count(spent_by[region]["claims"] if region in spent_by else 0),
                "over_budget_claims": queries.count(
                    spent_by[region]["over_budget"] if region in spent_by else 0
                ),
                "net_sales": queries.amount(net),
                "expense_ratio": f"{(expense / net).quantize(queries.RATE)}" if net > 0 else None,
                "annual_budget": None if region not in budget_by else queries.amount(budget_by[region]),
            }
        )
    return {**span.info(), "period_mode": mode, "months": months, "rows": rows}


# ---------------------------------------------------------------- R7, R8


async def staff_with_attainment(
    conn: asyncpg.Connection, period: str, mode: PeriodMode, schema: str = SCHEMA
) -> dict[str, Any]:
    """R7 with R11's attainment: each salesperson's target for the period and net sales as its share."""
    report = await queries.staff(conn, period, mode, schema)
    targets = await salesperson_targets(conn, schema, [period])
    listed = {row["staff_id"] for row in report["rows"]}
    rows = report["rows"] + [_staff_without_activity(who) for who in sorted(set(targets) - listed)]
    for row in rows:
        target = targets.get(row["staff_id"], (None, None))[1]
        row["target"] = None if target is None else queries.amount(target)
        row["attainment_pct"] = attainment(Decimal(row["amount"]), target)
    return {**report, "rows": sorted(rows, key=lambda row: row["staff_id"])}


def _staff_without_activity(staff_id: str) -> dict[str, Any]:
    """A salesperson with a target but nothing else in the period: R7's row of zeros."""
    return {
        "staff_id": staff_id,
        "customers_developed": 0,
        "orders": 0,
        "amount": queries.amount(ZERO),
        "complaints": 0,
        "penalties": 0,
        "fines": queries.amount(ZERO),
        "dismissal_recommendations": 0,
    }


async def review_with_attainment(
    conn: asyncpg.Connection,
    period: str,
    mode: PeriodMode,
    schema: str = SCHEMA,
    reward_top: int = queries.REWARD_TOP,
    decline_periods: int = queries.DECLINE_PERIODS,
) -> dict[str, Any]:
    """R8 with attainment: besides the distributors' flags, salespeople at or above their target in the
    period (reward) and those below it in each of the last ``decline_periods`` periods with a target."""
    report = await queries.monthly_review(conn, period, mode, schema, reward_top, decline_periods)
    window = [period]
    for _ in range(decline_periods - 1):
        window.append(periods.previous(window[-1]))
    rates = {p: await _attainments(conn, schema, p) for p in window}
    flags = []
    for who, (target, sales) in sorted(rates[period].items()):
        pct = attainment(sales, target)
        if pct is not None and Decimal(pct) >= FULL_ATTAINMENT:
            flags.append(
                _staff_flag(who, "reward", pct, f"attainment {pct} % of target {queries.amount(target)}")
            )
        history = [rates[p].get(who) for p in window]
        below = [attainment(s, t) for t, s in (h for h in history if h is not None)]
        if len(below) == decline_periods and all(
            b is not None and Decimal(b) < FULL_ATTAINMENT for b in below
        ):
            reason = f"below target in each of the last {decline_periods} periods: " + ", ".join(
                f"{b} %" for b in reversed(below)
            )
            flags.append(_staff_flag(who, "under_target", pct, reason))
    return {**report, "staff_flags": flags}


async def _attainments(
    conn: asyncpg.Connection, schema: str, period: str
) -> dict[str, tuple[Decimal, Decimal]]:
    """Per salesperson with a target in the period: (target, net sales)."""
    targets = await salesperson_targets(conn, schema, [period])
    sales = await staff_net_sales(conn, schema, [period])
    return {who: (target, sales.get(who, ZERO)) for who, (_, target) in targets.items()}


def _staff_flag(staff_id: str, flag: str, pct: str | None, reason: str) -> dict[str, Any]:
    return {"staff_id": staff_id, "flag": flag, "attainment_pct": pct, "reason": reason}
