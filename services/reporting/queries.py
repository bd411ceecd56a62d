"""The reports (R2–R8) as queries over a schema's projection tables and the event log.

Every report takes the schema it reads, so the same SQL answers from the live tables and from an
as-of snapshot (temporary tables built from the log up to a moment, ``rebuild.as_of_snapshot``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
from asyncpg import Connection

from services.reporting import periods, placement
from services.reporting.periods import PeriodMode
from services.reporting.tables import DISTRIBUTOR_KINDS, SCHEMA, WHOLE_ORDERS

CENTS = Decimal("0.01")
RATE = Decimal("0.0001")
# R8 (decision): the top 3 distributors by sales that also grew are flagged for reward; a distributor
# whose sales fell (or stayed at zero) in each of the last 3 periods is flagged for channel optimisation.
REWARD_TOP = 3
DECLINE_PERIODS = 3


def amount(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)).quantize(CENTS)}"


def count(value: Decimal | int | None) -> int:
    return int(value or 0)


def growth(current: Decimal | None, before: Decimal | None) -> str | None:
    """Growth rate vs an earlier amount (0.25 = +25 %); none when there is nothing to compare with."""
    if not before:
        return None
    return f"{((current or Decimal(0)) - before) / before:.4f}"


# The exposure (below): what is owed on an order that counts in it.
_OWED = "greatest(total_amount - paid, 0)"
_EXPOSED = "status IN ('accepted', 'shipped', 'opening')"


def exposure(schema: str, customer: str) -> str:
    """SQL: the one exposure measure (O6, O7, R3, R12 rev 2) of the customer in column ``customer``: every
    accepted order (accepted or shipped), not cancelled and not yet paid, less what was paid on it
    (payments, a converted hold's deposit, customer credit applied, credit notes taken off its receivable),
    plus the unpaid part of opening receivables (O11). Held orders are not accepted yet."""
    return (
        f"(SELECT coalesce(sum({_OWED}), 0) FROM {schema}.orders "
        f"WHERE customer_id = {customer} AND {_EXPOSED})"
    )


def exposures(schema: str) -> str:
    """SQL: ``exposure`` of every customer at once, as rows (customer_id, exposure): one pass over the
    orders where a report of many customers would ask once per customer."""
    return f"SELECT customer_id, sum({_OWED}) AS exposure FROM {schema}.orders WHERE {_EXPOSED} GROUP BY 1"


def period_info(period: str, mode: PeriodMode) -> dict[str, Any]:
    start, end = periods.bounds(period, mode)
    return {"period": period, "period_mode": mode, "starts_at": start.isoformat(), "ends_at": end.isoformat()}


# ---------------------------------------------------------------- R2


def _m(column: str) -> str:
    """SQL: money as a 2-place decimal string, formatted by PostgreSQL (no per-row Python work)."""
    return f"coalesce({column}, 0)::numeric(18,2)::text"


def _figures(counts: Iterable[str], moneys: Iterable[str], source: str = "") -> list[str]:
    """SQL select items of ``source``'s columns under their own names: counts as integers, money as
    ``_m`` text (a missing row's as 0)."""
    return [f"coalesce({source}{c}, 0)::int AS {c}" for c in counts] + [
        f"{_m(source + c)} AS {c}" for c in moneys
    ]


def _g(current: str, before: str) -> str:
    return f"CASE WHEN {before} > 0 THEN round((coalesce({current}, 0) - {before}) / {before}, 4)::text END"


# R2's figures of a distributor in the period as the report carries them: counts, then amounts (net sales).
DISTRIBUTOR_COUNTS = (
    "orders",
    "orders_cancelled",
    "credit_notes",
    "quantity",
    "holds_made",
    "holds_converted",
    "holds_expired",
    "quality_complaints",
    "service_complaints",
)
DISTRIBUTOR_MONEYS = (
    "ordered_amount",
    "cancelled_amount",
    "returned_amount",
    "shipped_amount",
    "paid_amount",
    "deposits",
    "fines",
)


async def distributor_monthly(
    conn: Connection, period: str, mode: PeriodMode, customer_id: str | None = None, schema: str = SCHEMA
) -> dict[str, Any]:
    _, end = periods.bounds(period, mode)
    columns = ", ".join(
        [
            "customer_id, code, company_name, kind, region, grade, salesperson_id, status",
            *_figures(DISTRIBUTOR_COUNTS, DISTRIBUTOR_MONEYS),
            f"{_m('previous_amount')} AS previous_amount",
            f"{_g('ordered_amount', 'previous_amount')} AS growth_vs_previous",
            f"{_m('last_year_amount')} AS last_year_amount",
            f"{_g('ordered_amount', 'last_year_amount')} AS growth_vs_last_year",
            "rank::int AS rank",
        ]
    )
    rows = await conn.fetch(
        f"""
        WITH cur AS (
            SELECT d.customer_id, d.code, d.company_name, d.kind, d.region, d.grade, d.salesperson_id,
                   d.status, cp.orders, cp.orders_cancelled, cp.quantity, cp.ordered_amount,
                   cp.cancelled_amount, cp.credit_notes, cp.returned_amount, cp.shipped_amount,
                   cp.paid_amount, cp.deposits,
                   cp.holds_made, cp.holds_converted, cp.holds_expired, cp.quality_complaints,
                   cp.service_complaints, cp.fines,
                   prev.ordered_amount AS previous_amount, ly.ordered_amount AS last_year_amount
            FROM {schema}.customers d
            LEFT JOIN {schema}.customer_period cp ON cp.customer_id = d.customer_id AND cp.period = $1
            LEFT JOIN {schema}.customer_period prev ON prev.customer_id = d.customer_id AND prev.period = $2
            LEFT JOIN {schema}.customer_period ly ON ly.customer_id = d.customer_id AND ly.period = $3
            WHERE d.kind = ANY($4::text[])
              AND (cp.customer_id IS NOT NULL
                   OR (d.status IN ('approved', 'suspended') AND d.approved_at < $5))
        ), ranked AS (
            SELECT *, rank() OVER (ORDER BY coalesce(ordered_amount, 0) DESC) AS rank FROM cur
        )
        SELECT {columns} FROM ranked WHERE $6::text IS NULL OR customer_id = $6
        ORDER BY rank, code NULLS LAST, customer_id
        """,
        period,
        periods.previous(period),
        periods.same_period_last_year(period),
        list(DISTRIBUTOR_KINDS),
        end,
        customer_id,
    )
    return {**period_info(period, mode), "rows": [dict(r) for r in rows]}


# ---------------------------------------------------------------- R3


# R3's figures of a branch in the period (beside its capital occupied and request-list match rate).
BRANCH_COUNTS = ("orders", "orders_cancelled", "credit_notes", "over_limit_approvals", "reorder_alerts")
BRANCH_MONEYS = ("ordered_amount", "cancelled_amount", "returned_amount", "shipped_amount", "paid_amount")


async def branch_monthly(
    conn: Connection, period: str, mode: PeriodMode, customer_id: str | None = None, schema: str = SCHEMA
) -> dict[str, Any]:
    rows = await conn.fetch(
        f"""
        SELECT d.customer_id, d.code, d.company_name, d.region, d.capital_limit,
               {", ".join(_figures(BRANCH_COUNTS, BRANCH_MONEYS, "cp."))},
               cp.match_rate_sum, cp.match_rate_count,
               {exposure(schema, "d.customer_id")} AS capital_occupied
        FROM {schema}.customers d
        LEFT JOIN {schema}.customer_period cp ON cp.customer_id = d.customer_id AND cp.period = $1
        WHERE d.kind = 'branch' AND ($2::text IS NULL OR d.customer_id = $2)
          AND (cp.customer_id IS NOT NULL OR d.status IN ('approved', 'suspended'))
        ORDER BY d.code NULLS LAST, d.customer_id
        """,
        period,
        customer_id,
    )
    result = []
    for r in rows:
        figures = dict(r)
        occupied: Decimal = figures.pop("capital_occupied")
        limit: Decimal | None = figures.pop("capital_limit")
        matched = count(figures.pop("match_rate_count"))
        rate_sum = figures.pop("match_rate_sum")
        result.append(
            {
                **figures,
                "capital_occupied": amount(occupied),
                "capital_limit": amount(limit) if limit is not None else None,
                "over_capital_limit": limit is not None and occupied > limit,
                "request_list_match_rate": f"{rate_sum / matched:.4f}" if matched else None,
                "request_lists_matched": matched,
            }
        )
    return {**period_info(period, mode), "rows": result}


# ---------------------------------------------------------------- R4


async def key_customers(
    conn: asyncpg.Connection, period: str, mode: PeriodMode, limit: int = 10, schema: str = SCHEMA
) -> dict[str, Any]:
    rows = await conn.fetch(
        f"""
        SELECT cp.customer_id, d.code, d.company_name, d.kind, d.region, cp.ordered_amount AS sales,
               prev.ordered_amount AS previous_amount,
               (SELECT sum(s.quantity * pr.standard_cost) FROM {schema}.customer_product_period s
                  JOIN {schema}.products pr ON pr.product_code = s.product_code
                 WHERE s.customer_id = cp.customer_id AND s.period = cp.period) AS cost,
               (SELECT sum(s.amount) FROM {schema}.customer_product_period s
                  JOIN {schema}.products pr ON pr.product_code = s.product_code
                 WHERE s.customer_id = cp.customer_id AND s.period = cp.period) AS costed_sales
        FROM {schema}.customer_period cp
        LEFT JOIN {schema}.customers d ON d.customer_id = cp.customer_id
        LEFT JOIN {schema}.customer_period prev ON prev.customer_id = cp.customer_id AND prev.period = $2
        WHERE cp.period = $1 AND cp.ordered_amount > 0
        """,
        period,
        periods.previous(period),
    )
    entries = []
    for r in rows:
        costed: Decimal | None = r["costed_sales"]
        margin = ((costed - r["cost"]) / costed).quantize(RATE, ROUND_HALF_UP) if costed else None
        before: Decimal | None = r["previous_amount"]
        # As R2's growth: only against positive sales before (net sales can be negative), rounded alike.
        rate = (
            ((r["sales"] - before) / before).quantize(RATE, ROUND_HALF_UP) if before and before > 0 else None
        )
        entries.append((r, margin, rate))

    def entry(r: asyncpg.Record, margin: Decimal | None, rate: Decimal | None) -> dict[str, Any]:
        return {
            "customer_id": r["customer_id"],
            "code": r["code"],
            "company_name": r["company_name"],
            "kind": r["kind"],
            "region": r["region"],
            "sales": amount(r["sales"]),
            "previous_amount": amount(r["previous_amount"]),
            "growth_rate": str(rate) if rate is not None else None,
            "margin": str(margin) if margin is not None else None,
        }

    def top(key: int) -> list[dict[str, Any]]:
        chosen = [e for e in entries if e[key] is not None] if key else entries
        chosen.sort(key=lambda e: (-(e[key] if key else e[0]["sales"]), e[0]["customer_id"]))  # type: ignore[operator]
        return [entry(*e) for e in chosen[:limit]]

    return {**period_info(period, mode), "by_sales": top(0), "by_growth": top(2), "by_margin": top(1)}


# ---------------------------------------------------------------- R5


async def regions(
    conn: asyncpg.Connection, period: str, mode: PeriodMode, schema: str = SCHEMA
) -> dict[str, Any]:
    _, end = periods.bounds(period, mode)
    # C10 rev 2: a customer counts in the region it was in at the period's end; sales in the region they
    # were placed in (``region_period``, see ``placement.py``).
    kinds = await conn.fetch(
        f"SELECT r.region, d.kind, count(*) AS n FROM {schema}.customers d "
        f"JOIN ({placement.regions_at(schema, '$1')}) r USING (customer_id) "
        "WHERE r.region IS NOT NULL AND d.kind IS NOT NULL "
        "AND d.status IN ('approved', 'suspended') AND d.approved_at < $1 "
        "GROUP BY r.region, d.kind",
        end,
    )
    sold = await conn.fetch(
        f"SELECT region, product_code, orders, amount, quantity FROM {schema}.region_period "
        "WHERE period = $1 ORDER BY region, product_code",
        period,
    )
    sales = [r for r in sold if r["product_code"] == WHOLE_ORDERS]
    quantities = [r for r in sold if r["product_code"] != WHOLE_ORDERS]
    out: dict[str, dict[str, Any]] = {}

    def region(name: str) -> dict[str, Any]:
        return out.setdefault(
            name,
            {"region": name, "customers_by_kind": {}, "sales_amount": "0.00", "orders": 0, "products": []},
        )

    for r in kinds:
        region(r["region"])["customers_by_kind"][r["kind"]] = r["n"]
    for r in sales:
        region(r["region"]).update(sales_amount=amount(r["amount"]), orders=count(r["orders"]))
    for r in quantities:
        region(r["region"])["products"].append(
            {
                "product_code": r["product_code"],
                "quantity": f"{r['quantity'].normalize():f}",
                "amount": amount(r["amount"]),
            }
        )
    return {**period_info(period, mode), "rows": [out[k] for k in sorted(out)]}


# ---------------------------------------------------------------- R6


async def annual(
    conn: Connection, year: int, mode: PeriodMode, customer_id: str | None = None, schema: str = SCHEMA
) -> dict[str, Any]:
    labels = periods.year_periods(year)
    # One row per customer, its twelve months as arrays (index 0 = period YYYY-01), formatted by SQL.
    rows = await conn.fetch(
        f"""
        SELECT cp.customer_id, d.code, d.company_name, d.kind,
               array_agg(cp.orders::int ORDER BY cp.period) AS n,
               array_agg({_m("cp.ordered_amount")} ORDER BY cp.period) AS amounts,
               array_agg(cp.period ORDER BY cp.period) AS at,
               sum(cp.orders)::int AS total_orders, {_m("sum(cp.ordered_amount)")} AS total_amount
        FROM {schema}.customer_period cp
        LEFT JOIN {schema}.customers d USING (customer_id)
        WHERE cp.period = ANY($1::text[]) AND ($2::text IS NULL OR cp.customer_id = $2)
          AND (cp.orders > 0 OR cp.ordered_amount <> 0)
        GROUP BY cp.customer_id, d.code, d.company_name, d.kind
        ORDER BY d.code NULLS LAST, cp.customer_id
        """,
        labels,
        customer_id,
    )
    index = {label: i for i, label in enumerate(labels)}
    result = []
    for r in rows:
        orders, amounts = [0] * 12, ["0.00"] * 12
        for label, n, value in zip(r["at"], r["n"], r["amounts"], strict=True):
            orders[index[label]], amounts[index[label]] = n, value
        result.append(
            {
                "customer_id": r["customer_id"],
                "code": r["code"],
                "company_name": r["company_name"],
                "kind": r["kind"],
                "orders": orders,
                "ordered_amounts": amounts,
                "total_orders": r["total_orders"],
                "total_amount": r["total_amount"],
            }
        )
    return {"year": year, "period_mode": mode, "periods": labels, "rows": result}


# ---------------------------------------------------------------- R7


async def staff(conn: Connection, period: str, mode: PeriodMode, schema: str = SCHEMA) -> dict[str, Any]:
    start, end = periods.bounds(period, mode)
    rows = await conn.fetch(
        f"""
        WITH developed AS (
            SELECT salesperson_id AS staff_id, count(*) AS developed FROM {schema}.customers
            WHERE approved_at >= $2 AND approved_at < $3 AND salesperson_id IS NOT NULL
            GROUP BY salesperson_id
        )
        SELECT coalesce(s.staff_id, dv.staff_id) AS staff_id,
               coalesce(dv.developed, 0)::int AS customers_developed,
               {", ".join(_figures(("orders", "complaints", "penalties"), ("amount", "fines"), "s."))},
               coalesce(s.dismissals, 0)::int AS dismissal_recommendations
        FROM (SELECT * FROM {schema}.staff_period WHERE period = $1) s
        FULL JOIN developed dv ON dv.staff_id = s.staff_id
        ORDER BY 1
        """,
        period,
        start,
        end,
    )
    return {**period_info(period, mode), "rows": [dict(r) for r in rows]}


# ---------------------------------------------------------------- R8


async def monthly_review(
    conn: asyncpg.Connection,
    period: str,
    mode: PeriodMode,
    schema: str = SCHEMA,
    reward_top: int = REWARD_TOP,
    decline_periods: int = DECLINE_PERIODS,
) -> dict[str, Any]:
    report = await distributor_monthly(conn, period, mode, schema=schema)
    window = [period]
    for _ in range(decline_periods):
        window.append(periods.previous(window[-1]))  # period, P-1, ..., P-n
    history = await conn.fetch(
        f"SELECT customer_id, period, ordered_amount FROM {schema}.customer_period "
        "WHERE period = ANY($1::text[])",
        window,
    )
    sales: dict[str, dict[str, Decimal]] = {}
    for r in history:
        sales.setdefault(r["customer_id"], {})[r["period"]] = r["ordered_amount"]
    flags = []
    for row in report["rows"]:
        cid = row["customer_id"]
        series = [sales.get(cid, {}).get(p, Decimal(0)) for p in window]  # newest first
        grew = row["growth_vs_previous"] is None or Decimal(row["growth_vs_previous"]) > 0
        if row["rank"] <= reward_top and Decimal(row["ordered_amount"]) > 0 and grew:
            flags.append(
                {
                    **_flag(row),
                    "flag": "reward",
                    "reason": f"rank {row['rank']} with sales {row['ordered_amount']} and growth "
                    f"{row['growth_vs_previous'] or 'n/a (first period)'}",
                }
            )
        # Under-performer: in each of the last n periods sales fell, or stayed at zero.
        declining = all(series[i] < series[i + 1] or series[i] == 0 for i in range(decline_periods))
        if declining:
            flags.append(
                {
                    **_flag(row),
                    "flag": "channel_optimisation",
                    "reason": f"sales fell or were zero in each of the last {decline_periods} periods: "
                    + ", ".join(amount(s) for s in reversed(series)),
                }
            )
    return {
        **period_info(period, mode),
        "reward_top": reward_top,
        "decline_periods": decline_periods,
        "flags": flags,
    }


def _flag(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("customer_id", "code", "company_name", "kind", "region", "grade", "rank", "ordered_amount")
    return {k: row[k] for k in keys}


# ---------------------------------------------------------------- operations


async def lag(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT service, position, events, updated_at FROM {SCHEMA}.source_position "
        "WHERE service NOT LIKE '\\_%' ORDER BY 1"
    )
    return [
        {
            "service": r["service"],
            "position": r["position"],
            "events": r["events"],
            "updated_at": r["updated_at"].isoformat(),
        }
        for r in rows
    ]
