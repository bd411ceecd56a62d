"""R10: the audit trail of a customer, order, hold or complaint, from reporting's own event log."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.reporting.tables import SCHEMA


async def audit_trail(conn: asyncpg.Connection, aggregate_id: str, related: bool = True) -> dict[str, Any]:
    """The ordered history of one customer, order, hold or complaint from reporting's own event log; for a
    customer (``related``) also the events of other aggregates that name it (its orders, holds,
    complaints)."""
    rows = await conn.fetch(
        f"""
        SELECT service, position, event_id, event_type, aggregate_type, aggregate_id, aggregate_version,
               occurred_at, actor_id, actor_role, correlation_id, causation_id, data
        FROM {SCHEMA}.event_log
        WHERE aggregate_id = $1 OR ($2 AND data->>'customer_id' = $1)
           OR ($2 AND data->>'order_id' = $1) OR ($2 AND data->>'complaint_id' = $1)
        ORDER BY occurred_at, service, position
        """,
        aggregate_id,
        related,
    )
    return {
        "aggregate_id": aggregate_id,
        "entries": [
            {
                "at": r["occurred_at"].isoformat(),
                "service": r["service"],
                "position": r["position"],
                "event_id": r["event_id"],
                "event_type": r["event_type"],
                "aggregate_type": r["aggregate_type"],
                "aggregate_id": r["aggregate_id"],
                "version": r["aggregate_version"],
                "actor": {"id": r["actor_id"], "role": r["actor_role"]} if r["actor_id"] else None,
                "reason": _reason(r["data"]),
                "correlation_id": r["correlation_id"],
                "causation_id": r["causation_id"],
                "own": r["aggregate_id"] == aggregate_id,
                "data": r["data"],
            }
            for r in rows
        ],
    }


def _reason(data: dict[str, Any]) -> str | None:
    for key in ("reason", "notes", "rule", "message"):
        if data.get(key):
            return str(data[key])
    holds = data.get("holds")
    if holds:
        return "; ".join(f"{h.get('rule')}: {h.get('message')}" for h in holds if isinstance(h, dict))
    return None
