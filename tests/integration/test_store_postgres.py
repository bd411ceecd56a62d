"""The write side's store on real PostgreSQL (shared/recorder.py, shared/store.py): a save is one
statement that still takes the table lock and notifies the relay, a conflict names its aggregate, and
two instances, each with two group-commit savers, apply every command exactly once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import IntegrityError

from shared.aggregate import Meta, SalesAggregate
from shared.clock import SystemClock
from shared.contracts import Actor, Command, Role
from shared.errors import Conflict
from shared.recorder import SalesRecorder
from shared.settings import Settings
from shared.store import Outcome, ServiceApplication, ensure_database

ACTOR = Actor(id="sp-1", role=Role.SALESPERSON)
META = Meta(
    actor_id="sp-1", actor_role="salesperson", correlation_id="c", causation_id="c", at=SystemClock().now()
)


class Counter(SalesAggregate):
    TOPIC = "tests.Counter"

    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"counter:{name}")

    @event("CounterOpened", topic="tests.Counter.CounterOpened")
    def __init__(self, name: str, meta: Meta) -> None:
        self.count = 0

    @event("CounterIncreased", topic="tests.Counter.CounterIncreased")
    def increase(self, meta: Meta) -> None:
        self.count += 1


class CounterApp(ServiceApplication):
    service = "counters"

    def increase(self, name: str) -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            try:
                counter: Counter = self.repository.get(Counter.create_id(name))
            except Exception:
                counter = Counter(name, meta=meta)
            counter.increase(meta)
            return Outcome({"count": counter.count}, [counter])

        return self.execute(Command(actor=ACTOR), decide)

    def count(self, name: str) -> int:
        counter: Counter = self.repository.get(Counter.create_id(name))
        return counter.count


@pytest.fixture()
def apps(settings: Settings) -> Iterator[list[CounterApp]]:
    """Two instances of one service on one fresh schema (the test's own)."""
    ensure_database(settings, [CounterApp.service])
    made = [CounterApp(settings, SystemClock()) for _ in range(2)]
    yield made
    for app in made:
        app.close()
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {CounterApp.service} CASCADE")


def test_the_write_services_use_the_recorder_that_builds_its_statements_once(apps: list[CounterApp]) -> None:
    assert isinstance(apps[0].recorder, SalesRecorder)


def test_a_save_notifies_the_relays_channel_and_returns_notification_ids_in_order(
    settings: Settings, apps: list[CounterApp]
) -> None:
    recorder = apps[0].recorder
    assert isinstance(recorder, SalesRecorder)
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as listener:
        listener.execute(f'LISTEN "{recorder.channel_name}"')
        counter = Counter("notified", meta=META)
        counter.increase(META)
        apps[0].save(counter)
        notices = listener.notifies(timeout=5, stop_after=1)
        assert [notice.channel for notice in notices] == [recorder.channel_name]
    stored = recorder.select_notifications(start=None, limit=10)
    assert [(n.originator_id, n.originator_version) for n in stored] == [(counter.id, 1), (counter.id, 2)]
    assert stored[1].id > stored[0].id


def test_a_save_waits_for_the_table_lock_that_the_librarys_own_writer_takes(
    settings: Settings, apps: list[CounterApp]
) -> None:
    """Commit order is notification order only if every writer serialises on the table lock."""
    recorder = apps[0].recorder
    assert isinstance(recorder, SalesRecorder)
    saved = threading.Event()

    def save() -> None:
        apps[0].save(Counter("locked", meta=META))
        saved.set()

    with psycopg.connect(settings.postgres_dsn) as holder:
        holder.execute(f"LOCK TABLE {recorder.table.as_string(holder)} IN EXCLUSIVE MODE")
        thread = threading.Thread(target=save)
        thread.start()
        assert not saved.wait(0.5)  # blocked behind the other transaction's lock
        holder.commit()
    assert saved.wait(5)
    thread.join(5)


def test_a_conflicting_save_raises_an_integrity_error_that_names_the_aggregate(
    apps: list[CounterApp],
) -> None:
    """Group commit sends back only the command whose aggregate the conflict names."""
    first, second = apps
    first.increase("contested")
    mine: Counter = first.repository.get(Counter.create_id("contested"))
    theirs: Counter = second.repository.get(Counter.create_id("contested"))
    mine.increase(META)
    theirs.increase(META)
    first.save(mine)
    with pytest.raises(IntegrityError) as raised:
        second.save(theirs)
    assert str(Counter.create_id("contested")) in f"{raised.value} {raised.value.__cause__}"


def test_two_instances_with_concurrent_commands_store_each_accepted_one_exactly_once(
    apps: list[CounterApp],
) -> None:
    """Commands race on shared counters from both instances (each with its two savers): every command
    is stored once if accepted and not at all if refused (``Conflict`` after its retries)."""
    work = [(apps[n % 2], "hot" if n % 4 == 0 else f"c{n % 10}") for n in range(600)]

    def run(job: tuple[CounterApp, str]) -> str | None:
        try:
            job[0].increase(job[1])
        except Conflict:
            return None
        return job[1]

    with ThreadPoolExecutor(16) as pool:
        accepted = [name for name in pool.map(run, work) if name is not None]
    assert len(accepted) > len(work) * 0.9
    expected = {name: accepted.count(name) for name in {name for _, name in work}}
    for app in apps:  # each instance reads the other's writes too
        assert {name: app.count(name) if expected[name] else 0 for name in expected} == expected
