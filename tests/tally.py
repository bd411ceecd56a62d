"""A minimal write service for the tests of the store plumbing (``shared/store.py``): named tallies
that commands increase, through ``ServiceApplication.execute`` like every real command; and the ``Meta``
for aggregates changed by hand in those tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from shared.aggregate import Meta, SalesAggregate
from shared.cache import WriteWatch
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
            tally = self._tally(name, meta)
            tally.increase(meta)
            return Outcome({"count": tally.count}, [tally])

        return self.execute(Command(actor=ACTOR, idempotency_key=idempotency_key), decide)

    def note_count(self, name: str, of: str) -> dict[str, Any]:
        """Increase ``name`` under the key of the count of ``of``, which it reads and does not change."""

        def decide(meta: Meta) -> Outcome:
            seen: Tally = self.repository.get(Tally.create_id(of))
            tally = self._tally(name, meta)
            tally.increase(meta, key=str(seen.count))
            return Outcome({"seen": seen.count}, [tally])

        return self.execute(Command(actor=ACTOR), decide)

    def _tally(self, name: str, meta: Meta) -> Tally:
        """The tally, opened if new."""
        try:
            tally: Tally = self.repository.get(Tally.create_id(name))
        except AggregateNotFoundError:
            tally = Tally(name, meta=meta)
        return tally

    def count(self, name: str) -> int:
        tally: Tally = self.repository.get(Tally.create_id(name))
        return tally.count


def in_memory_app() -> TallyApp:
    """On the in-memory (POPO) store: for unit tests."""
    return TallyApp(Settings(persistence_module="eventsourcing.popo"), SystemClock())


class QuietWatch:
    """A write watch that hears nothing (no connection): as if every other instance's notification were
    still on its way. Tests move its generation and listening by hand."""

    def __init__(self) -> None:
        self.generation = 0
        self.listening = True
        self.on_others_wrote: Callable[[list[int]], None] | None = None

    def start(self) -> None:
        pass

    def close(self) -> None:
        self.listening = False


def deaf(app: TallyApp) -> None:
    """Give ``app`` a ``QuietWatch`` in place of its own (which is closed)."""
    if app.repository.freshness is not None:
        app.repository.freshness.watch.close()
    app.watch_writes(cast(WriteWatch, QuietWatch()))
