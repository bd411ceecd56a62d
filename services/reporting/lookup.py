"""Queries behind the dashboard: the net-sales trend over periods, what is live now (holds, open
complaints), a customer found by id, code or name, and a customer's orders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from asyncpg import Connection

from services.reporting import periods
from services.reporting.lifecycle import named
from services.reporting.periods import PeriodMode
from services.reporting.queries import amount, count, period_info
from services.reporting.tables import SCHEMA
from shared.complaints_contract import ComplaintClosed, ComplaintLogged

TREND_PERIODS = 13
FOUND_AT_MOST = 20
CUSTOMER_FIELDS = (
    "customer_id, code, company_name, kind, region, grade, salesperson_id, status, credit_limit, "
    "capital_limit, approved_at"
)


def trend_periods(period: str, n: int = TREND_PERIODS) -> list[str]:
    """The ``n`` periods ending with ``period``, oldest first."""
    chosen = [period]
    while len(chosen) < n:
        chosen.append(periods.previous(chosen[-1]))
    return chosen[::-1]


async def sales_trend(
    conn: Connection, period: str, mode: PeriodMode, customer_id: str | None = None, schema: str = SCHEMA
) -> dict[str, Any]:
    """Net sales and orders of the 13 periods ending with ``period`` and of the same period last year
    (R2's net figures, all customers or one)."""
    wanted = trend_periods(period)
    last_year = periods.same_period_last_year(period)
    rows = await conn.fetch(
        f"SELECT period, sum(ordered_amount) AS sales, sum(orders) AS orders, sum(shipped_amount) AS shipped,"
        f" sum(paid_amount) AS paid FROM {schema}.customer_period"
        " WHERE period = ANY($1::text[]) AND ($2::text IS NULL OR customer_id = $2) GROUP BY period",
        [*wanted, last_year],
        customer_id,
    )
    found = {r["period"]: r for r in rows}

    def figures(label: str) -> dict[str, Any]:
        r = found.get(label)
        return {
            "period": label,
            "net_sales": amount(r["sales"] if r else None),
            "orders": count(r["orders"] if r else None),
            "shipped": amount(r["shipped"] if r else None),
            "paid": amount(r["paid"] if r else None),
        }

    return {
        **period_info(period, mode),
        "periods": [figures(p) for p in wanted],
        "same_period_last_year": figures(last_year),
    }


async def live_counts(conn: asyncpg.Connection, at: datetime | None, schema: str = SCHEMA) -> dict[str, int]:
    """Holds (O9) made and neither converted nor expired, from the projection's counters; complaints logged
    and not closed by ``at`` (now when not given), from the log's complaint ends (a partial index)."""
    holds = await conn.fetchval(
        f"SELECT sum(holds_made - holds_converted - holds_expired) FROM {schema}.customer_period"
    )
    logged, closed = named(ComplaintLogged), named(ComplaintClosed)
    complaints = await conn.fetchval(
        f"SELECT count(*) FILTER (WHERE event_type = {logged})"
        f" - count(*) FILTER (WHERE event_type = {closed}) FROM {SCHEMA}.event_log"
        f" WHERE event_type IN ({logged}, {closed})"
        " AND ($1::timestamptz IS NULL OR occurred_at <= $1)",
        at,
    )
    return {"holds_live": count(holds), "complaints_open": count(complaints)}


async def find_customers(conn: asyncpg.Connection, text: str) -> list[dict[str, Any]]:
    """Customers whose id or code is ``text`` (any case), else whose name contains it."""
    exact = await conn.fetch(
        f"SELECT {CUSTOMER_FIELDS} FROM {SCHEMA}.customers WHERE customer_id = $1 OR lower(code) = lower($1) "
        "ORDER BY code NULLS LAST, customer_id",
        text,
    )
    rows = exact or await conn.fetch(
        f"SELECT {CUSTOMER_FIELDS} FROM {SCHEMA}.customers "
        "WHERE strpos(lower(company_name), lower($1)) > 0 ORDER BY code NULLS LAST, customer_id LIMIT $2",
        text,
        FOUND_AT_MOST,
    )
    return [_customer(r) for r in rows]


def _customer(r: asyncpg.Record) -> dict[str, Any]:
    return {
        **{k: r[k] for k in ("customer_id", "code", "company_name", "kind", "region", "grade", "status")},
        "salesperson_id": r["salesperson_id"],
        "credit_limit": amount(r["credit_limit"]) if r["credit_limit"] is not None else None,
        "capital_limit": amount(r["capital_limit"]) if r["capital_limit"] is not None else None,
        "approved_at": r["approved_at"].isoformat() if r["approved_at"] else None,
    }


async def customer_dimension(conn: asyncpg.Connection, schema: str = SCHEMA) -> dict[str, Any]:
    """Every customer's kind, region, grade and salesperson: what the dashboard filters every table by."""
    rows = await conn.fetch(
        f"SELECT customer_id, kind, region, grade, salesperson_id FROM {schema}.customers "
        "ORDER BY customer_id"
    )
    return {"customers": [dict(r) for r in rows]}


async def customer_orders(conn: asyncpg.Connection, customer_id: str, schema: str = SCHEMA) -> dict[str, Any]:
    """A customer's orders as reporting knows them: total, status, shipped and paid (opening receivables,
    O11, included); newest first by when they were placed."""
    rows = await conn.fetch(
        f"""
        SELECT o.order_id, o.status, o.total_amount, o.shipped, o.paid, placed.at
        FROM {schema}.orders o
        LEFT JOIN LATERAL (SELECT min(occurred_at) AS at FROM {SCHEMA}.event_log e
                           WHERE e.aggregate_id = o.order_id) placed ON true
        WHERE o.customer_id = $1
        ORDER BY placed.at DESC NULLS LAST, o.order_id
        """,
        customer_id,
    )
    return {
        "customer_id": customer_id,
        "rows": [
            {
                "order_id": r["order_id"],
                "placed_at": r["at"].isoformat() if r["at"] else None,
                "status": r["status"],
                "total_amount": amount(r["total_amount"]),
                "shipped": amount(r["shipped"]),
                "paid": amount(r["paid"]),
            }
            for r in rows
        ],
    }
