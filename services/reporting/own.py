"""Reporting's own events (R1 sign-off, R14 history import): logged in its event log beside the consumed
ones (service ``reporting``), and applied by the same projector, so rebuild, as-of and audit include them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.reporting.bulk import LOG_LOCK
from services.reporting.periods import PeriodMode
from services.reporting.projections import OWN, record
from services.reporting.tables import SCHEMA
from shared.contracts import Actor, Envelope
from shared.envelope import event_id

OWN_LOCK = LOG_LOCK + 3  # one writer of reporting's own positions at a time


@dataclass(frozen=True)
class OwnEvent:
    aggregate_type: str
    aggregate_id: str
    event_type: str
    data: dict[str, Any]


async def append(
    conn: asyncpg.Connection, events: Sequence[OwnEvent], actor: Actor, at: datetime, mode: PeriodMode
) -> int:
    """Log and apply ``events`` (the caller holds a transaction), numbered after reporting's last own
    position and each aggregate's last version. Returns how many were logged."""
    position = await last_position(conn)
    versions: dict[str, int] = {}
    # What every event of the call shares: one correlation, one actor, one moment.
    shared: dict[str, Any] = {
        "schema_version": 1,
        "service": OWN,
        "occurred_at": at,
        "actor": actor,
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
    }
    envelopes = []
    for event in events:
        if event.aggregate_id not in versions:
            versions[event.aggregate_id] = await last_version(conn, event.aggregate_id)
        position += 1
        version = versions[event.aggregate_id] = versions[event.aggregate_id] + 1
        identity: dict[str, Any] = {
            "event_id": event_id(event.aggregate_id, version),
            "aggregate_version": version,
        }
        envelopes.append(Envelope(**shared, **vars(event), **identity, position=position))
    return await record(conn, envelopes, mode)


async def last_position(conn: asyncpg.Connection) -> int:
    """Reporting's last own position, after taking ``OWN_LOCK`` until the transaction ends: the events
    logged next are numbered after it, by one writer at a time."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", OWN_LOCK)
    position: int = await conn.fetchval(
        f"SELECT coalesce(max(position), 0) FROM {SCHEMA}.event_log WHERE service = $1", OWN
    )
    return position


async def last_version(conn: asyncpg.Connection, aggregate_id: str) -> int:
    """The last version of one of reporting's own aggregates (0: none logged yet)."""
    version: int = await conn.fetchval(
        f"SELECT coalesce(max(aggregate_version), 0) FROM {SCHEMA}.event_log "
        "WHERE service = $1 AND aggregate_id = $2",
        OWN,
        aggregate_id,
    )
    return version
