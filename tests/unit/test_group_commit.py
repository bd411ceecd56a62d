"""Group commit (shared/store.py): commands decided at the same time share one save, and a batch that
cannot be saved as a whole never loses, duplicates or wrongly refuses a command."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from uuid import UUID

import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import IntegrityError

from shared.aggregate import Meta, SalesAggregate
from shared.clock import SystemClock
from shared.contracts import Actor, Command, Role
from shared.settings import Settings
from shared.store import GroupCommit, Outcome, ServiceApplication

ACTOR = Actor(id="sp-1", role=Role.SALESPERSON)


class Tally(SalesAggregate):
    TOPIC = "tests.Tally"

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"tally:{name}")

    @event("TallyOpened", topic="tests.Tally.TallyOpened")
    def __init__(self, name: str, meta: Meta) -> None:
        self.count = 0

    @event("TallyIncreased", topic="tests.Tally.TallyIncreased")
    def increase(self, meta: Meta) -> None:
        self.count += 1


class TallyApp(ServiceApplication):
    service = "tests"

    def increase(self, name: str, idempotency_key: str | None = None) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            try:
                tally: Tally = self.repository.get(Tally.create_id(name))
            except Exception:
                tally = Tally(name, meta=meta)
            tally.increase(meta)
            return Outcome({"count": tally.count}, [tally])

        return self.execute(Command(actor=ACTOR, idempotency_key=idempotency_key), decide)


def make_app() -> TallyApp:
    return TallyApp(
        Settings(persistence_module="eventsourcing.popo"),
        SystemClock(),
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
    )


def test_concurrent_commands_on_separate_aggregates_are_all_stored() -> None:
    app = make_app()
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda i: app.increase(f"t{i}"), range(200)))
    assert all(reply == {"count": 1} for reply in replies)
    assert all(app.repository.get(Tally.create_id(f"t{i}")).count == 1 for i in range(200))


def test_concurrent_commands_on_one_aggregate_are_each_applied_once() -> None:
    """Commands of one batch that change the same aggregate are decided again, not lost or refused."""
    app = make_app()
    app.increase("hot")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: app.increase("hot"), range(40)))
    assert app.repository.get(Tally.create_id("hot")).count == 41


def test_a_repeated_idempotency_key_in_concurrent_commands_stores_once() -> None:
    app = make_app()
    app.increase("k")
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: app.increase("k", idempotency_key="same"), range(8)))
    assert app.repository.get(Tally.create_id("k")).count == 2
    assert all(reply == replies[0] for reply in replies)


class Recorded:
    """An aggregate with one pending event."""

    def __init__(self, id_: UUID) -> None:
        self.id = id_
        self.event = f"event of {id_}"

    def collect_events(self) -> list[Any]:
        return [self.event]


def events_of(call: list[Any]) -> list[str]:
    return [item for item in call if isinstance(item, str)]


def test_a_batch_waits_for_the_running_save_and_is_saved_in_one_call() -> None:
    calls: list[list[Any]] = []
    first_started, release = threading.Event(), threading.Event()

    def save(*aggregates: Any) -> None:
        calls.append(list(aggregates))
        if len(calls) == 1:
            first_started.set()
            release.wait(5)

    group = GroupCommit(save)
    first = threading.Thread(target=group.save, args=([Recorded(uuid.uuid4())],))
    first.start()
    first_started.wait(5)
    others = [threading.Thread(target=group.save, args=([Recorded(uuid.uuid4())],)) for _ in range(5)]
    for thread in others:
        thread.start()
    while len(group._queue) < 5:  # every other command queued behind the running save
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert [len(events_of(call)) for call in calls] == [1, 5]


def save_in_one_batch(group: GroupCommit, aggregates: list[Recorded]) -> list[str]:
    """One command per aggregate, all queued while a save runs, then saved as one batch: each outcome."""
    group._saving = True  # hold the queue so that the commands land in one batch
    outcomes = ["not run"] * len(aggregates)

    def command(n: int) -> None:
        try:
            group.save([cast(Any, aggregates[n])])
            outcomes[n] = "saved"
        except IntegrityError:
            outcomes[n] = "decide again"

    threads = [threading.Thread(target=command, args=(n,)) for n in range(len(aggregates))]
    for thread in threads:
        thread.start()
    while len(group._queue) < len(aggregates):
        threading.Event().wait(0.01)
    group._saving = False
    group._queue[0].done.set()  # hand the lead to the first queued command, as a finished save does
    for thread in threads:
        thread.join(5)
    return outcomes


def test_a_batch_conflicting_as_a_whole_stores_nothing_and_tells_every_command() -> None:
    def save(*aggregates: Any) -> None:
        raise IntegrityError("conflict")

    outcomes = save_in_one_batch(GroupCommit(save), [Recorded(uuid.uuid4()) for _ in range(2)])
    assert outcomes == ["decide again", "decide again"]


def test_a_conflict_naming_one_command_sends_back_only_that_command_and_saves_the_rest() -> None:
    """Another writer changed the second command's aggregate: the batch is saved again without it."""
    aggregates = [Recorded(uuid.uuid4()) for _ in range(3)]
    calls: list[list[Any]] = []

    def save(*items: Any) -> None:
        calls.append(list(items))
        if aggregates[1].event in items:
            raise IntegrityError(f"Key (originator_id, originator_version)=({aggregates[1].id}, 2) exists")

    outcomes = save_in_one_batch(GroupCommit(save), aggregates)
    assert outcomes == ["saved", "decide again", "saved"]
    assert [len(events_of(call)) for call in calls] == [3, 2]
    assert aggregates[1].event not in calls[1] and {aggregates[0].event, aggregates[2].event} <= set(calls[1])


def test_an_unavailable_store_fails_the_command_with_its_error() -> None:
    class Down(Exception):
        pass

    def save(*aggregates: Any) -> None:
        raise Down("database down")

    with pytest.raises(Down):
        GroupCommit(save).save([cast(Any, Recorded(uuid.uuid4()))])
