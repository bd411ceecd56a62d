"""Reporting's event log and how a batch of events is logged and applied (asyncpg, schema ``reporting``).

The event log (``event_log``) keeps every consumed envelope, append-only, keyed by (service, position):
a redelivered envelope is not inserted again, and only inserted ones are applied, so the effect is
exactly once. Projections are counters per (customer, period) and friends, plus a customer dimension
whose fields carry the version of the event that set them: applying events in any order gives the same
rows, which is what lets a rebuild (reading the log in its own order) equal the live tables row for row.

The projection tables are created per schema, so the same code fills the live tables (``reporting``),
a rebuild (``reporting_build``) and an as-of snapshot (``pg_temp``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from services.reporting import personal_reads
from services.reporting.bulk import (
    CALL_BATCH,
    INSERT_NEW_TO_LOG,
    LOG_INSERT,
    LOG_LOCK,
    POSITIONS,
    STATEMENTS,
    UPSERTS,
    batch_function_ddl,
)
from services.reporting.field_tables import FIELD_COLUMNS
from services.reporting.lifecycle import named
from services.reporting.periods import PeriodMode
from services.reporting.projector import LoggedEvent, Projector, from_envelope
from services.reporting.tables import BUILD_SCHEMA, EXTRA_INDEXES, PROJECTIONS, SCHEMA
from shared.complaints_contract import ComplaintClosed, ComplaintLogged

if TYPE_CHECKING:  # only annotations: importing it would load pydantic into a rebuild
    from shared.contracts import Envelope

# The services whose event streams reporting consumes; its own events (R1, R14) it logs itself.
SOURCES = ("customers", "orders", "complaints", "field")
OWN = "reporting"
# Each projection's columns, as its writer writes them (a table with others is stale: ``ensure_schema``).
COLUMNS = {**{name: list(upsert.columns) for name, upsert in UPSERTS.items()}, **FIELD_COLUMNS}

LOG_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.event_log (
    service text NOT NULL,
    position bigint NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id text NOT NULL,
    event_type text NOT NULL,
    schema_version int NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    aggregate_version int NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor_id text,
    actor_role text,
    correlation_id text,
    causation_id text,
    data jsonb NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service, position)
);
CREATE INDEX IF NOT EXISTS event_log_aggregate ON {SCHEMA}.event_log (aggregate_id);
CREATE INDEX IF NOT EXISTS event_log_customer ON {SCHEMA}.event_log ((data->>'customer_id'));
CREATE INDEX IF NOT EXISTS event_log_occurred ON {SCHEMA}.event_log (occurred_at);
CREATE INDEX IF NOT EXISTS event_log_complaint_ends ON {SCHEMA}.event_log (occurred_at)
    WHERE event_type IN ({named(ComplaintLogged)}, {named(ComplaintClosed)});
CREATE TABLE IF NOT EXISTS {SCHEMA}.source_position (
    service text PRIMARY KEY,
    position bigint NOT NULL,
    events bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE SCHEMA IF NOT EXISTS {BUILD_SCHEMA};
"""
# Rebuilds, as-of reports and audit trails (R9, R10) read the log: nothing may update or delete its rows.
APPEND_ONLY_DDL = f"""
CREATE OR REPLACE FUNCTION {SCHEMA}.event_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'reporting.event_log is append-only'; END $$;
DROP TRIGGER IF EXISTS event_log_append_only ON {SCHEMA}.event_log;
CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.event_log
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.event_log_append_only();
"""


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb as Python objects (orjson), on every connection of a pool."""
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )


async def ensure_schema(conn: asyncpg.Connection) -> list[str]:
    """Create the log and the live projection tables if missing (idempotent). Returns the projections
    whose live table has other columns than this code writes (made by an older version), or is new beside
    a log that already holds events: they must be rebuilt from the log before consuming (``main.open_pool``
    does it)."""
    stale = []
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({LOG_LOCK} + 1)")  # two processes starting at once
        await conn.execute(LOG_DDL)
        await conn.execute(APPEND_ONLY_DDL)
        await conn.execute(batch_function_ddl())
        await conn.execute(personal_reads.DDL)
        for name in PROJECTIONS:
            exists = await conn.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.{name}")
            if exists is None:
                await create_projection(conn, SCHEMA, name)
                if await conn.fetchval(f"SELECT EXISTS (SELECT FROM {SCHEMA}.event_log)"):
                    stale.append(name)
            elif await table_columns(conn, SCHEMA, name) != COLUMNS[name]:
                stale.append(name)
    return stale


async def table_columns(conn: asyncpg.Connection, schema: str, name: str) -> list[str]:
    return [
        r["attname"]
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            f"{schema}.{name}",
        )
    ]


REBUILDS = "_rebuilds"  # a reserved source_position row: each swap counts one, so the version moves


async def projections_version(conn: asyncpg.Connection) -> int:
    """A number that grows with every committed change of the projections: each batch adds its event
    count to ``source_position.events`` in its own transaction, and each rebuild swap adds one. Two
    snapshots with the same number therefore see the same projections (a report cache key)."""
    return int(await conn.fetchval(f"SELECT coalesce(sum(events), 0) FROM {SCHEMA}.source_position"))


async def bump_version(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"INSERT INTO {SCHEMA}.source_position (service, position, events) VALUES ($1, 0, 1) "
        "ON CONFLICT (service) DO UPDATE SET events = source_position.events + 1, updated_at = now()",
        REBUILDS,
    )


async def analyze(conn: asyncpg.Connection, schema: str = SCHEMA) -> None:
    """Refresh the planner's statistics of the projection tables."""
    await conn.execute("ANALYZE " + ", ".join(f"{schema}.{name}" for name in PROJECTIONS))


async def create_projection(
    conn: asyncpg.Connection, schema: str, name: str, temporary: bool = False
) -> None:
    ddl = PROJECTIONS[name].format(s=schema)
    if temporary:
        ddl = ddl.replace(f"CREATE TABLE {schema}.", "CREATE TEMP TABLE ", 1) + " ON COMMIT DROP"
    await conn.execute(ddl)
    target = "" if temporary else f"{schema}."
    for index in EXTRA_INDEXES.get(name, []):
        await conn.execute(index.replace("{s}.", target))


def _log_rows(envelopes: Iterable[Envelope]) -> list[tuple[Any, ...]]:
    return [
        (
            e.service,
            e.position,
            e.event_id,
            e.event_type,
            e.schema_version,
            e.aggregate_type,
            e.aggregate_id,
            e.aggregate_version,
            e.occurred_at,
            e.actor.id if e.actor else None,
            e.actor.role.value if e.actor else None,
            e.correlation_id,
            e.causation_id,
            e.data,
        )
        for e in envelopes
    ]


def _position_rows(events: Iterable[Envelope | LoggedEvent]) -> list[tuple[str, int, int]]:
    """Per source service: the highest position and how many events."""
    highest: dict[str, tuple[int, int]] = {}
    for event in events:
        top, count = highest.get(event.service, (0, 0))
        highest[event.service] = (max(top, event.position), count + 1)
    return [(service, top, count) for service, (top, count) in sorted(highest.items())]


async def record(conn: asyncpg.Connection, envelopes: Sequence[Envelope], mode: PeriodMode) -> int:
    """Log a batch and apply the envelopes not logged before, all or nothing, outside a transaction.
    Returns how many were new (a redelivered envelope is already in the log and changes nothing).

    Usually all are new: then the batch is ONE statement (``apply_batch``), one round trip where a
    transaction took eight, each waiting for a CPU on a busy machine. When some were logged before (a
    redelivery after a crash or a timeout), that statement fails on the log's key and changes nothing;
    a transaction then logs the batch, learns which envelopes are new and applies only those."""
    keys: set[tuple[str, int]] = set()
    unique = []
    for envelope in envelopes:  # the same envelope twice in one batch applies once
        if (envelope.service, envelope.position) not in keys:
            keys.add((envelope.service, envelope.position))
            unique.append(envelope)
    projector = Projector(mode)
    projector.apply_all(from_envelope(e) for e in unique)
    arguments = LOG_INSERT.arrays(_log_rows(unique))
    for name, statement in STATEMENTS.items():
        arguments += statement.arrays(projector.rows(name))
    arguments += POSITIONS.arrays(_position_rows(unique))
    try:
        await conn.execute(CALL_BATCH, *arguments)
        return len(unique)
    except asyncpg.UniqueViolationError as error:
        if error.table_name != "event_log":
            raise
    async with conn.transaction():
        return await _record_new(conn, unique, mode)


async def _record_new(conn: asyncpg.Connection, envelopes: Sequence[Envelope], mode: PeriodMode) -> int:
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", LOG_LOCK)
    logged = await conn.fetch(INSERT_NEW_TO_LOG, *LOG_INSERT.arrays(_log_rows(envelopes)))
    inserted = {(r["service"], r["position"]) for r in logged}
    fresh = [from_envelope(e) for e in envelopes if (e.service, e.position) in inserted]
    if fresh:
        projector = Projector(mode)
        projector.apply_all(fresh)
        await projector.flush(conn, SCHEMA)
        await conn.execute(POSITIONS.sql(SCHEMA), *POSITIONS.arrays(_position_rows(fresh)))
    return len(fresh)
