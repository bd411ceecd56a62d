"""Reconciliation: does reporting hold exactly what the services stored? And sending again what the bus lost.

``python -m deploy.ops.reconcile [--services SERVICE ...] [--repair] [--wait S] [--json]`` (default: the four
write services, customers orders complaints field)

For each write service it reads the service's event store (the truth; command receipts excluded, as the
relay skips them) and reporting's event log, and compares them per service and month (the event's
``occurred_at`` in business time, ``YYYY-MM``): counts and a checksum over (position, aggregate id,
aggregate version). It lists the positions missing from reporting and any that reporting has but the
store has not. With ``--repair`` it publishes the missing events again from the store, as the relay
would, under new ``Nats-Msg-Id`` values (the originals may still sit in JetStream's duplicate window);
reporting is idempotent per (service, position), so sending one too many changes nothing. ``--wait S``
then waits up to S seconds for reporting to catch up and compares again. Exit status 0 when equal.

The write services' stores are read through their own ``make_app`` (imported by name, at run time),
because only a service knows how to decode its events.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import asyncpg
import nats
import orjson
from eventsourcing.persistence import StoredEvent
from nats.aio.client import Client as NATS

from shared.bus import nats_options
from shared.clock import BUSINESS_TZ
from shared.envelope import to_envelope
from shared.outbox import RECEIPT_TOPIC
from shared.retry import poll
from shared.settings import Settings
from shared.store import ServiceApplication
from shared.streams import ensure_event_stream
from shared.subjects import event_subject

WRITE_SERVICES = ("customers", "orders", "complaints", "field")
RESEND_BATCH = 500


def period(moment: datetime) -> str:
    return moment.astimezone(BUSINESS_TZ).strftime("%Y-%m")


@dataclass
class PeriodFigures:
    stored: int = 0
    consumed: int = 0
    stored_sum: str = ""
    consumed_sum: str = ""

    @property
    def equal(self) -> bool:
        return self.stored == self.consumed and self.stored_sum == self.consumed_sum


@dataclass
class ServiceReport:
    service: str
    stored: int
    consumed: int
    periods: dict[str, PeriodFigures]
    missing: list[int]  # positions stored but not in reporting
    unknown: list[int]  # positions in reporting that the store does not have
    resent: int = 0

    @property
    def equal(self) -> bool:
        return not self.missing and not self.unknown and all(p.equal for p in self.periods.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "stored": self.stored,
            "consumed": self.consumed,
            "missing": len(self.missing),
            "missing_positions": self.missing[:50],
            "unknown": len(self.unknown),
            "unknown_positions": self.unknown[:50],
            "resent": self.resent,
            "equal": self.equal,
            "periods": {
                name: {
                    "stored": f.stored,
                    "consumed": f.consumed,
                    "stored_checksum": f.stored_sum,
                    "consumed_checksum": f.consumed_sum,
                    "equal": f.equal,
                }
                for name, f in sorted(self.periods.items())
            },
        }


@dataclass
class Key:
    position: int
    aggregate_id: str
    version: int
    period: str


def checksum(keys: Iterable[Key]) -> str:
    digest = hashlib.sha256()
    for key in sorted(keys, key=lambda k: k.position):
        digest.update(f"{key.position}:{key.aggregate_id}:{key.version};".encode())
    return digest.hexdigest()[:16]


def compare(service: str, stored: dict[int, Key], consumed: dict[int, Key]) -> ServiceReport:
    by_period: dict[str, tuple[list[Key], list[Key]]] = {}
    for key in stored.values():
        by_period.setdefault(key.period, ([], []))[0].append(key)
    for key in consumed.values():
        by_period.setdefault(key.period, ([], []))[1].append(key)
    periods = {
        name: PeriodFigures(len(s), len(c), checksum(s), checksum(c)) for name, (s, c) in by_period.items()
    }
    return ServiceReport(
        service=service,
        stored=len(stored),
        consumed=len(consumed),
        periods=periods,
        missing=sorted(set(stored) - set(consumed)),
        unknown=sorted(set(consumed) - set(stored)),
    )


def load_app(service: str, settings: Settings) -> ServiceApplication:
    """The service's own application, for decoding its stored events. In-memory persistence: the mapper
    (topics, transcodings) is the same, and no connection pool is opened just to decode."""
    module = importlib.import_module(f"services.{service}.main")
    app: ServiceApplication = module.make_app(
        settings.model_copy(update={"persistence_module": "eventsourcing.popo"})
    )
    return app


@dataclass
class StoreReader:
    app: ServiceApplication
    rows: dict[int, asyncpg.Record] = field(default_factory=dict)

    @property
    def table(self) -> str:
        # Where eventsourcing.postgres keeps the service's events: schema = service (shared.store), table
        # named after the application, as eventsourcing names it.
        return f'"{self.app.service}"."{self.app.name.lower()}_events"'

    def decode(self, row: asyncpg.Record) -> Any:
        return self.app.mapper.to_domain_event(
            StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
        )

    async def keys(self, conn: asyncpg.Connection) -> dict[int, Key]:
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {self.table} WHERE topic <> $1 ORDER BY notification_id",
            RECEIPT_TOPIC,
        )
        keys = {}
        for row in rows:
            self.rows[row["notification_id"]] = row
            event = self.decode(row)
            position = row["notification_id"]
            keys[position] = Key(
                position, str(row["originator_id"]), row["originator_version"], period(event.timestamp)
            )
        return keys


async def consumed_keys(conn: asyncpg.Connection, service: str) -> dict[int, Key]:
    if await conn.fetchval("SELECT to_regclass('reporting.event_log')") is None:
        return {}
    rows = await conn.fetch(
        "SELECT position, aggregate_id, aggregate_version, occurred_at FROM reporting.event_log "
        "WHERE service = $1",
        service,
    )
    return {
        r["position"]: Key(r["position"], r["aggregate_id"], r["aggregate_version"], period(r["occurred_at"]))
        for r in rows
    }


async def resend(nc: NATS, settings: Settings, reader: StoreReader, positions: Sequence[int]) -> int:
    """Publish stored events again, as the relay does, under fresh msg ids; returns how many."""
    service = reader.app.service
    js = nc.jetstream(timeout=5.0)
    await ensure_event_stream(js, settings, service)
    token = f"{time.time_ns():x}"
    sent = 0
    for start in range(0, len(positions), RESEND_BATCH):
        acks = []
        for position in positions[start : start + RESEND_BATCH]:
            envelope = to_envelope(reader.decode(reader.rows[position]), service, position)
            acks.append(
                await js.publish_async(
                    event_subject(settings.namespace, service, envelope.event_type),
                    orjson.dumps(envelope.model_dump(mode="json")),
                    headers={"Nats-Msg-Id": f"{service}-{position}-resent-{token}"},
                )
            )
        await asyncio.wait_for(asyncio.gather(*acks), 30)
        sent += len(acks)
    return sent


async def reconcile(
    settings: Settings,
    services: Sequence[str] = WRITE_SERVICES,
    *,
    repair: bool = False,
    wait: float = 0.0,
) -> list[ServiceReport]:
    """Compare every service's store with reporting's log; with ``repair``, re-send what is missing and
    (with ``wait``) compare again once reporting caught up or the time is up."""
    readers = {service: StoreReader(load_app(service, settings)) for service in services}
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        stored = {s: await r.keys(conn) for s, r in readers.items()}
        reports = [compare(s, stored[s], await consumed_keys(conn, s)) for s in services]
        if not repair or all(r.equal for r in reports):
            return reports
        nc = await nats.connect(name="reconcile", **nats_options(settings))
        try:
            resent = {r.service: await resend(nc, settings, readers[r.service], r.missing) for r in reports}
        finally:
            await nc.drain()

        async def compared() -> list[ServiceReport]:
            return [compare(s, stored[s], await consumed_keys(conn, s)) for s in services]

        reports = await poll(compared, lambda now: all(not r.missing for r in now), timeout=wait, every=0.2)
        for report in reports:
            report.resent = resent[report.service]
        return reports
    finally:
        await conn.close()
        for reader in readers.values():
            reader.app.close()


def print_reports(reports: list[ServiceReport], out: TextIO) -> None:
    for r in reports:
        state = "equal" if r.equal else "DIFFERENT"
        out.write(
            f"{r.service}: stored {r.stored}, consumed by reporting {r.consumed}, missing {len(r.missing)}, "
            f"unknown {len(r.unknown)}, re-sent {r.resent}  {state}\n"
        )
        for name, f in sorted(r.periods.items()):
            mark = "" if f.equal else "  <-- differs"
            out.write(
                f"  {name}  stored {f.stored:>7} {f.stored_sum}  "
                f"consumed {f.consumed:>7} {f.consumed_sum}{mark}\n"
            )
        if r.missing:
            out.write(f"  missing positions: {r.missing[:20]}{' ...' if len(r.missing) > 20 else ''}\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deploy.ops.reconcile", description=__doc__.splitlines()[0])
    p.add_argument("--services", nargs="+", default=list(WRITE_SERVICES), choices=WRITE_SERVICES)
    p.add_argument("--repair", action="store_true", help="re-send from the store what reporting lacks")
    p.add_argument("--wait", type=float, default=30.0, help="with --repair: seconds to wait for reporting")
    p.add_argument("--json", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    reports = asyncio.run(reconcile(Settings(), args.services, repair=args.repair, wait=args.wait))
    if args.json:
        print(json.dumps([r.to_json() for r in reports], indent=2))
    else:
        print_reports(reports, sys.stdout)
    return 0 if all(r.equal for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
