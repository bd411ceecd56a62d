"""Customer events kept by a service's own view of customers (orders' and the customer directory of
``shared.customer_directory``): keyed by (customer id, version), so a redelivered event inserts nothing
and a customer's row is folded again from its kept events in version order, whatever the delivery order.
A view folds them as the contract's typed events (``in_order``)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import asyncpg

from shared.contracts import Envelope
from shared.customer_contract import CustomerEvent, decode_data

KeptEvent = tuple[int, str, dict[str, Any]]  # (version, event type, data)


def in_order(events: Iterable[KeptEvent]) -> list[tuple[int, CustomerEvent | None]]:
    """The kept events as the contract's typed events, in version order; an event of a type this release
    does not know is None (it changes nothing but the version seen). A kept row has no schema version:
    ``decode_data`` reads it so."""
    decoded = ((version, decode_data(event_type, data)) for version, event_type, data in events)
    return sorted(decoded, key=lambda e: e[0])


def customer_events_table(schema: str) -> str:
    return (
        f'CREATE TABLE IF NOT EXISTS "{schema}".customer_events ('
        "customer_id text NOT NULL, version integer NOT NULL, event_type text NOT NULL, "
        "data jsonb NOT NULL, PRIMARY KEY (customer_id, version))"
    )


def _wanted(envelope: Envelope, folded: Collection[str] | None) -> bool:
    return envelope.aggregate_type == CustomerEvent.AGGREGATE and (
        folded is None or envelope.event_type in folded
    )


async def keep_events(
    conn: asyncpg.Connection,
    schema: str,
    envelopes: Sequence[Envelope],
    folded: Collection[str] | None = None,
) -> list[str]:
    """Keep the customer events of ``envelopes`` (those of ``folded`` types, or all); the ids of the
    customers they are about, to fold again."""
    kept = [e for e in envelopes if _wanted(e, folded)]
    if not kept:
        return []
    await conn.executemany(
        f'INSERT INTO "{schema}".customer_events (customer_id, version, event_type, data) '
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [(e.aggregate_id, e.aggregate_version, e.event_type, json.dumps(e.data)) for e in kept],
    )
    return sorted({e.aggregate_id for e in kept})


async def kept_events(conn: asyncpg.Connection, schema: str, customer_id: str) -> list[KeptEvent]:
    rows = await conn.fetch(
        f'SELECT version, event_type, data FROM "{schema}".customer_events WHERE customer_id = $1',
        customer_id,
    )
    return [(r["version"], r["event_type"], json.loads(r["data"])) for r in rows]


class KeptEvents:
    """The same in memory (unit tests)."""

    def __init__(self, folded: Collection[str] | None = None) -> None:
        self.folded = folded
        self.events: dict[str, dict[int, KeptEvent]] = {}

    def apply(self, envelope: Envelope) -> None:
        if _wanted(envelope, self.folded):
            kept = self.events.setdefault(envelope.aggregate_id, {})
            kept.setdefault(
                envelope.aggregate_version, (envelope.aggregate_version, envelope.event_type, envelope.data)
            )

    def of(self, customer_id: str) -> Iterable[KeptEvent]:
        return self.events.get(customer_id, {}).values()

    def customers(self) -> list[str]:
        return sorted(self.events)
