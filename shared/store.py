"""Store plumbing: the eventsourcing Application every write service extends.

It owns the things every command needs once: the PostgreSQL settings (a schema per service), the
transcodings, the acting user and clock in ``Meta``, optimistic-concurrency retries, and
idempotency keys (a ``CommandReceipt`` saved atomically with the command's own events).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate, event
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoder
from psycopg import sql

from shared.aggregate import DateAsISO, Meta, MetaAsDict, SalesAggregate
from shared.clock import Clock
from shared.contracts import Command
from shared.errors import Conflict
from shared.settings import Settings

RECEIPT_NAMESPACE = UUID("6f1d4c1e-8a53-4d0e-9b59-6b7c2f3a9e10")
MAX_ATTEMPTS = 5


def persistence_env(settings: Settings, schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": settings.persistence_module,
        "POSTGRES_DBNAME": settings.postgres_db,
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password,
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y",
    }


def ensure_database(settings: Settings, schemas: Sequence[str] = ()) -> None:
    """Create the database and the given schemas when missing (idempotent)."""
    admin = psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password or None,
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_db,)
        ).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.postgres_db)))
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


class CommandReceipt(SalesAggregate):
    """The first reply to a command sent with an idempotency key; its id derives from the key."""

    TOPIC = "shared.CommandReceipt"

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid.uuid5(RECEIPT_NAMESPACE, key)

    @event("Recorded", topic="shared.CommandReceipt.Recorded")
    def __init__(self, key: str, reply: dict[str, Any], meta: Meta) -> None:
        self.key = key
        self.reply = dict(reply)


@dataclass
class Outcome:
    """What a command decided: the reply's result and the aggregates to save together."""

    result: dict[str, Any]
    aggregates: Sequence[BaseAggregate[UUID]] = field(default_factory=tuple)


class ServiceApplication(Application[UUID]):
    service: ClassVar[str]

    def __init__(self, settings: Settings, clock: Clock, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        super().__init__({**persistence_env(settings, self.service), **(env or {})})

    def construct_transcoder(self) -> Transcoder:
        transcoder = super().construct_transcoder()
        assert isinstance(transcoder, JSONTranscoder)
        transcoder.register(MetaAsDict())
        transcoder.register(DateAsISO())
        return transcoder

    def execute(
        self,
        command: Command,
        decide: Callable[[Meta], Outcome],
        *,
        causation_id: str | None = None,
    ) -> dict[str, Any]:
        """Decide and save atomically; retry on a concurrent write; a repeated key gets its first reply.

        ``decide`` loads what it needs and raises ``DomainError`` to refuse: nothing is saved then.
        """
        receipt_key = f"{self.service}:{command.idempotency_key}" if command.idempotency_key else None
        if receipt_key and (earlier := self._receipt(receipt_key)) is not None:
            return earlier
        command_id = str(uuid.uuid4())
        for _ in range(MAX_ATTEMPTS):
            meta = Meta(
                actor_id=command.actor.id,
                actor_role=command.actor.role.value,
                correlation_id=command.correlation_id or command_id,
                causation_id=causation_id or command_id,
                at=self.clock.now(),
            )
            outcome = decide(meta)
            aggregates: list[BaseAggregate[UUID]] = list(outcome.aggregates)
            if receipt_key:
                aggregates.append(CommandReceipt(key=receipt_key, reply=outcome.result, meta=meta))
            try:
                self.save(*aggregates)
            except IntegrityError:
                if receipt_key and (earlier := self._receipt(receipt_key)) is not None:
                    return earlier
                continue  # another writer got there first: decide again on fresh state
            return outcome.result
        raise Conflict("the command kept colliding with concurrent writers; nothing was stored")

    def _receipt(self, key: str) -> dict[str, Any] | None:
        try:
            receipt: CommandReceipt = self.repository.get(CommandReceipt.create_id(key))
        except AggregateNotFoundError:
            return None
        return receipt.reply
