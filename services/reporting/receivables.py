"""R12 rev 2: receivables by age and credit used vs limit per customer, and the managers' alerts list.

A shipment raises a receivable due on its ``due_on`` (O11); what is paid on an order (payments, a converted
hold's deposit, customer credit) settles its oldest shipments first, so what is left unpaid is the newest
part of its shipments, as the orders service counts it for O5. That unpaid part is kept, per receivable, in
``unpaid_receivables`` (``bulk.UnpaidReceivables``): ageing sums it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from services.reporting.queries import amount, exposures
from services.reporting.tables import SCHEMA

# Age buckets: (name, first day overdue, last day overdue); "not_due" is due today or later.
BUCKETS = (("overdue_1_30", 1, 30), ("overdue_31_60", 31, 60), ("overdue_61_90", 61, 90))
OVER_90 = "overdue_over_90"
AGES = ("not_due", *(name for name, _, _ in BUCKETS), OVER_90)
# R12 (decision): a customer using more than this share of its credit limit is on the alerts list.
CREDIT_ALERT_SHARE = Decimal("0.90")


def _ageing_sql(schema: str) -> str:
    buckets = ",\n".join(
        f"sum(unpaid) FILTER (WHERE $1::date - due_on BETWEEN {low} AND {high}) AS {name}"
        for name, low, high in BUCKETS
    )
    return f"""
    WITH aged AS (
        SELECT customer_id,
               sum(unpaid) FILTER (WHERE due_on IS NULL OR due_on >= $1::date) AS not_due,
               {buckets},
               sum(unpaid) FILTER (WHERE $1::date - due_on > 90) AS {OVER_90}
        FROM {schema}.unpaid_receivables WHERE $2::text IS NULL OR customer_id = $2 GROUP BY customer_id
    )
    SELECT d.customer_id, d.code, d.company_name, d.kind, d.region, d.credit_limit, d.capital_limit,
           {", ".join(f"a.{name}" for name in AGES)}, coalesce(e.exposure, 0) AS credit_used
    FROM {schema}.customers d LEFT JOIN aged a USING (customer_id)
    LEFT JOIN ({exposures(schema)}) e USING (customer_id)
    WHERE ($2::text IS NULL OR d.customer_id = $2)
      AND (a.customer_id IS NOT NULL
           OR EXISTS (SELECT FROM {schema}.orders o WHERE o.customer_id = d.customer_id))
    ORDER BY d.code NULLS LAST, d.customer_id
    """


async def receivables(
    conn: asyncpg.Connection, on: date, customer_id: str | None = None, schema: str = SCHEMA
) -> dict[str, Any]:
    """Per customer: unpaid receivables by age on day ``on`` (business date) and credit used vs limit; a
    branch's limit is its capital limit (O7), any other customer's its credit limit (O6)."""
    rows = await conn.fetch(_ageing_sql(schema), on, customer_id)
    result = []
    for r in rows:
        ages = {name: r[name] or Decimal(0) for name in AGES}
        limit: Decimal | None = r["capital_limit"] if r["kind"] == "branch" else r["credit_limit"]
        used: Decimal = r["credit_used"]
        result.append(
            {
                "customer_id": r["customer_id"],
                "code": r["code"],
                "company_name": r["company_name"],
                "kind": r["kind"],
                "region": r["region"],
                **{name: amount(value) for name, value in ages.items()},
                "receivable": amount(sum(ages.values(), Decimal(0))),
                "overdue": amount(sum(ages.values(), Decimal(0)) - ages["not_due"]),
                "credit_used": amount(used),
                "credit_limit": amount(limit) if limit is not None else None,
                "credit_used_share": f"{used / limit:.4f}" if limit else None,
            }
        )
    return {"on": on.isoformat(), "rows": result}


async def overdue(conn: asyncpg.Connection, on: date, schema: str = SCHEMA) -> dict[str, Any]:
    """What is overdue on day ``on`` of every customer's receivables together (the dashboard's overview):
    the sum of the overdue column over all rows of ``receivables``, from the unpaid receivables alone."""
    total = await conn.fetchval(
        f"SELECT sum(u.unpaid) FROM {schema}.unpaid_receivables u "
        f"JOIN {schema}.customers d USING (customer_id) WHERE u.due_on < $1",
        on,
    )
    return {"on": on.isoformat(), "overdue": amount(total)}


def customer_alerts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """R12 alerts from a receivables report: overdue receivables, credit used over 90 % of the limit, a
    branch over its capital limit."""
    alerts = []
    for row in rows:
        who = {k: row[k] for k in ("customer_id", "code", "company_name", "kind")}
        if Decimal(row["overdue"]) > 0:
            alerts.append({**who, "alert": "overdue_receivables", "rule": "O11", "amount": row["overdue"]})
        share = row["credit_used_share"]
        if share is None:
            continue
        if row["kind"] == "branch" and Decimal(share) > 1:
            alerts.append({**who, "alert": "over_capital_limit", "rule": "O7", "amount": row["credit_used"]})
        elif row["kind"] != "branch" and Decimal(share) > CREDIT_ALERT_SHARE:
            alerts.append(
                {**who, "alert": "credit_limit_nearly_used", "rule": "R12", "amount": row["credit_used"]}
            )
    return alerts
