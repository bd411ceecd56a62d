"""The customer lifecycle in reporting (C11, C12, C13 rev 2): securities and contracts about to expire and
customers whose orders are held, for the managers' alerts (R12); key-account plans beside R4's figures.

Read from reporting's event log, the customers' own events (the log's key starts with the service, so
only the customers' events are scanned): these facts are few per customer, a report reads them whole,
and reading the log keeps R9 true by construction (no projection to rebuild).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.reporting.queries import amount
from services.reporting.tables import SCHEMA
from shared.customer_contract import (
    SOURCE,
    ContractSigned,
    ContractTerminated,
    CustomerEvent,
    CustomerOrdersHeld,
    CustomerOrdersReleased,
    KeyAccountAdviceGiven,
    KeyAccountPlanWritten,
    SecurityRecorded,
    SecurityReleased,
)
from shared.events import EventContract

# C11/C12 (rev 2): a security or a contract expiring within this many days is on the alerts list.
EXPIRY_ALERT_DAYS = 30


def named(event: type[EventContract]) -> str:
    """SQL: the event's type, as the log keeps it (the contract's name for it; written into the SQL, as a
    contract's names are identifiers, never input)."""
    return f"'{event.__name__}'"


CUSTOMERS = f"'{SOURCE}'"


def _latest(*events: type[CustomerEvent]) -> str:
    """SQL: per customer, the newest of its ``events`` (by the customer's version)."""
    return (
        f"SELECT DISTINCT ON (aggregate_id) aggregate_id AS customer_id, event_type, data "
        f"FROM {SCHEMA}.event_log WHERE service = {CUSTOMERS} "
        f"AND event_type IN ({', '.join(named(event) for event in events)}) "
        "ORDER BY aggregate_id, aggregate_version DESC"
    )


# A security is held from its SecurityRecorded until its SecurityReleased (C11).
SECURITIES_HELD = f"""
SELECT r.aggregate_id AS customer_id, r.data->>'security_id' AS security_id,
       r.data->>'security_kind' AS security_kind, (r.data->>'value')::numeric AS value,
       r.data->>'holder' AS holder, (r.data->>'expires_on')::date AS expires_on
FROM {SCHEMA}.event_log r
WHERE r.service = {CUSTOMERS} AND r.event_type = {named(SecurityRecorded)}
  AND NOT EXISTS (
      SELECT FROM {SCHEMA}.event_log x
      WHERE x.service = {CUSTOMERS} AND x.event_type = {named(SecurityReleased)}
        AND x.aggregate_id = r.aggregate_id AND x.data->>'security_id' = r.data->>'security_id'
        AND x.aggregate_version > r.aggregate_version)
"""
# The contract in force: the newest signing, unless a termination came after it (C6, C12).
CONTRACTS_IN_FORCE = f"""
SELECT customer_id, data->>'contract_number' AS contract_number, (data->>'valid_to')::date AS valid_to
FROM ({_latest(ContractSigned, ContractTerminated)}) c WHERE event_type = {named(ContractSigned)}
"""
# Orders held after a poor rating until the sales manager lifts the hold (C11).
ORDERS_HELD = f"""
SELECT customer_id, data->>'reason' AS reason, data->>'rule' AS rule
FROM ({_latest(CustomerOrdersHeld, CustomerOrdersReleased)}) h
WHERE event_type = {named(CustomerOrdersHeld)}
"""


def customer_join(schema: str) -> str:
    """SQL: the customer's code, name and kind from the customer dimension."""
    return f"LEFT JOIN {schema}.customers d USING (customer_id)"


async def lifecycle_alerts(
    conn: asyncpg.Connection, today: date, schema: str = SCHEMA
) -> list[dict[str, Any]]:
    """R12 alerts of the customer lifecycle on business day ``today``: securities (C11) and contracts (C12)
    expiring within ``EXPIRY_ALERT_DAYS`` days (or expired and still held), customers with orders held."""
    until = today + timedelta(days=EXPIRY_ALERT_DAYS)
    alerts: list[dict[str, Any]] = []
    for r in await conn.fetch(
        f"SELECT s.*, d.code, d.company_name, d.kind FROM ({SECURITIES_HELD}) s {customer_join(schema)} "
        "WHERE s.expires_on <= $1 ORDER BY s.expires_on, s.customer_id, s.security_id",
        until,
    ):
        alerts.append(
            {
                **customer_of(r),
                "alert": "security_expiring",
                "rule": "C11",
                "security_id": r["security_id"],
                "security_kind": r["security_kind"],
                "holder": r["holder"],
                "amount": amount(r["value"]),
                "expires_on": r["expires_on"].isoformat(),
                "days_left": (r["expires_on"] - today).days,
            }
        )
    for r in await conn.fetch(
        f"SELECT c.*, d.code, d.company_name, d.kind FROM ({CONTRACTS_IN_FORCE}) c {customer_join(schema)} "
        "WHERE c.valid_to <= $1 ORDER BY c.valid_to, c.customer_id",
        until,
    ):
        alerts.append(
            {
                **customer_of(r),
                "alert": "contract_expiring",
                "rule": "C12",
                "contract_number": r["contract_number"],
                "expires_on": r["valid_to"].isoformat(),
                "days_left": (r["valid_to"] - today).days,
            }
        )
    for r in await conn.fetch(
        f"SELECT h.*, d.code, d.company_name, d.kind FROM ({ORDERS_HELD}) h {customer_join(schema)} "
        "ORDER BY h.customer_id"
    ):
        alerts.append(
            {**customer_of(r), "alert": "orders_held", "rule": r["rule"] or "C11", "reason": r["reason"]}
        )
    return alerts


def customer_of(r: asyncpg.Record) -> dict[str, Any]:
    return {k: r[k] for k in ("customer_id", "code", "company_name", "kind")}


async def key_account_plans(
    conn: asyncpg.Connection, customer_ids: list[str], as_of: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """C13: the key-account plan (as it stood at ``as_of``) of each of ``customer_ids`` that has one, with
    the advisers' parts given since it was written (a new plan starts its advice afresh)."""
    rows = await conn.fetch(
        f"""
        WITH plan AS (
            SELECT DISTINCT ON (aggregate_id) aggregate_id AS customer_id, aggregate_version, data,
                   occurred_at, actor_id
            FROM {SCHEMA}.event_log
            WHERE service = {CUSTOMERS} AND event_type = {named(KeyAccountPlanWritten)}
              AND aggregate_id = ANY($1::text[]) AND ($2::timestamptz IS NULL OR occurred_at <= $2)
            ORDER BY aggregate_id, aggregate_version DESC
        )
        SELECT p.customer_id, p.data, p.occurred_at, p.actor_id,
               coalesce(jsonb_object_agg(a.data->>'adviser_role', jsonb_build_object(
                   'advice', a.data->>'advice', 'by', a.actor_id, 'at', a.occurred_at))
                   FILTER (WHERE a.aggregate_id IS NOT NULL), '{{}}'::jsonb) AS advice
        FROM plan p
        LEFT JOIN {SCHEMA}.event_log a
             ON a.service = {CUSTOMERS} AND a.event_type = {named(KeyAccountAdviceGiven)}
             AND a.aggregate_id = p.customer_id AND a.aggregate_version > p.aggregate_version
             AND ($2::timestamptz IS NULL OR a.occurred_at <= $2)
        GROUP BY p.customer_id, p.data, p.occurred_at, p.actor_id
        """,
        customer_ids,
        as_of,
    )
    return {
        r["customer_id"]: {
            "year": r["data"].get("year"),
            "sales_target": amount(Decimal(str(r["data"].get("sales_target") or 0))),
            "why_key": r["data"].get("why_key"),
            "actions": r["data"].get("actions") or [],
            "written_by": r["actor_id"],
            "written_at": r["occurred_at"].isoformat(),
            "advice": r["advice"],
        }
        for r in rows
    }


async def with_key_account_plans(
    conn: asyncpg.Connection, report: dict[str, Any], as_of: datetime | None = None
) -> dict[str, Any]:
    """R4 (C13 rev 2): each entry of the key-customers report with its key-account plan (None without)."""
    lists = ("by_sales", "by_growth", "by_margin")
    ids = sorted({e["customer_id"] for name in lists for e in report[name]})
    plans = await key_account_plans(conn, ids, as_of)
    return {
        **report,
        **{
            name: [{**e, "key_account_plan": plans.get(e["customer_id"])} for e in report[name]]
            for name in lists
        },
    }
