"""A minimal write service for the tests of the store plumbing (``shared/store.py``): named tallies
that commands increase, through ``ServiceApplication.execute`` like every real command; and the ``Meta``
for aggregates changed by hand in those tests."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from shared.aggregate import Meta, SalesAggregate
from shared.clock import SystemClock
from shared.contracts import Actor, Command, Role
from shared.settings import Settings
from shared.store import Outcome, ServiceApplication

ACTOR = Actor(id="sp-1", role=Role.SALESPERSON)
META = Meta(
    actor_id=ACTOR.id,
    actor_role=ACTOR.role.value,
    correlation_id="c",
    causation_id="c",
    at=SystemClock().now(),
)


class Tally(SalesAggregate):
    TOPIC = "tests.Tally"

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"tally:{name}")

    @event("TallyOpened", topic="tests.Tally.TallyOpened")
    def __init__(self, name: str, meta: Meta) -> None:
        self.count = 0
        self.by_key: dict[str, int] = {}

    @event("TallyIncreased", topic="tests.Tally.TallyIncreased")
    def increase(self, meta: Meta, key: str = "k") -> None:
        self.count += 1
        self.by_key[key] = self.by_key.get(key, 0) + 1


class TallyApp(ServiceApplication):
    service = "tallies"

    def increase(self, name: str, idempotency_key: str | None = None) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            try:
                tally: Tally = self.repository.get(Tally.create_id(name))
            except Exception:
                tally = Tally(name, meta=meta)
            tally.increase(meta)
            return Outcome({"count": tally.count}, [tally])

        return self.execute(Command(actor=ACTOR, idempotency_key=idempotency_key), decide)

    def count(self, name: str) -> int:
        tally: Tally = self.repository.get(Tally.create_id(name))
        return tally.count


def in_memory_app() -> TallyApp:
    """On the in-memory (POPO) store: for unit tests."""
    return TallyApp(Settings(persistence_module="eventsourcing.popo"), SystemClock())
