"""The write side's store on real PostgreSQL (shared/recorder.py, shared/store.py): a save is one
statement that still takes the table lock, notifies the relay and stamps when it recorded, a conflict
names its aggregate, and two instances, each with two group-commit savers, apply every command exactly
once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from psycopg import sql

from shared.cache import WriteWatch
from shared.clock import SystemClock
from shared.database import admin_connection, ensure_database
from shared.errors import Conflict
from shared.recorder import MOST_NAMED, SalesRecorder, changed_aggregates
from shared.settings import Settings
from tests.tally import META, Tally, TallyApp, deaf


@pytest.fixture()
def apps(settings: Settings) -> Iterator[list[TallyApp]]:
    """Two instances of one service on one fresh schema (the test's own)."""
    ensure_database(settings, [TallyApp.service])
    made = [TallyApp(settings, SystemClock()) for _ in range(2)]
    yield made
    for app in made:
        app.close()
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {TallyApp.service} CASCADE")


def sales_recorder(app: TallyApp) -> SalesRecorder:
    recorder = app.recorder
    assert isinstance(recorder, SalesRecorder)
    return recorder


def test_the_write_services_save_through_the_sales_recorder(apps: list[TallyApp]) -> None:
    assert isinstance(apps[0].recorder, SalesRecorder)


def test_a_save_notifies_the_relays_channel_and_returns_notification_ids_in_order(
    settings: Settings, apps: list[TallyApp]
) -> None:
    recorder = sales_recorder(apps[0])
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as listener:
        listener.execute(f'LISTEN "{recorder.channel_name}"')
        tally = Tally("notified", meta=META)
        tally.increase(META)
        apps[0].save(tally)
        notices = listener.notifies(timeout=5, stop_after=1)
        assert [notice.channel for notice in notices] == [recorder.channel_name]
    stored = recorder.select_notifications(start=None, limit=10)
    assert [(n.originator_id, n.originator_version) for n in stored] == [(tally.id, 1), (tally.id, 2)]
    assert stored[1].id > stored[0].id


def test_the_store_stamps_each_event_with_the_time_it_was_recorded(
    settings: Settings, apps: list[TallyApp]
) -> None:
    recorder = sales_recorder(apps[0])
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        before = conn.execute("SELECT clock_timestamp()").fetchone()
        tally = Tally("stamped", meta=META)
        tally.increase(META)
        apps[0].save(tally)
        after = conn.execute("SELECT clock_timestamp()").fetchone()
        stamps = conn.execute(
            f"SELECT recorded_at FROM {recorder.table.as_string(conn)} ORDER BY notification_id"
        ).fetchall()
    assert before is not None and after is not None
    assert len(stamps) == 2
    assert all(before[0] <= stamp <= after[0] for (stamp,) in stamps)


def test_a_store_from_before_the_recorded_time_gains_the_column_and_keeps_null_for_old_events(
    settings: Settings, apps: list[TallyApp]
) -> None:
    recorder = sales_recorder(apps[0])
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        table = recorder.table.as_string(conn)
        conn.execute(f"ALTER TABLE {table} DROP COLUMN recorded_at")
        apps[0].save(Tally("older", meta=META))
        upgraded = TallyApp(settings, SystemClock())  # a new release starting on the old table
        try:
            upgraded.save(Tally("newer", meta=META))
        finally:
            upgraded.close()
        rows = conn.execute(f"SELECT recorded_at IS NULL FROM {table} ORDER BY notification_id").fetchall()
    assert rows == [(True,), (False,)]


def test_a_save_waits_for_the_table_lock_that_the_librarys_own_writer_takes(
    settings: Settings, apps: list[TallyApp]
) -> None:
    """Commit order is notification order only if every writer serialises on the table lock."""
    recorder = sales_recorder(apps[0])
    saved = threading.Event()

    def save() -> None:
        apps[0].save(Tally("locked", meta=META))
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
    apps: list[TallyApp],
) -> None:
    """Group commit sends back only the command whose aggregate the conflict names."""
    first, second = apps
    first.increase("contested")
    mine: Tally = first.repository.get(Tally.create_id("contested"))
    theirs: Tally = second.repository.get(Tally.create_id("contested"))
    mine.increase(META)
    theirs.increase(META)
    first.save(mine)
    with pytest.raises(IntegrityError) as raised:
        second.save(theirs)
    assert str(Tally.create_id("contested")) in f"{raised.value} {raised.value.__cause__}"


class SelectCounter:
    """Counts an instance's selects of an aggregate's events (the round trips a read makes)."""

    def __init__(self, app: TallyApp) -> None:
        recorder = sales_recorder(app)
        self.selects = 0
        select = recorder.select_events

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.selects += 1
            return select(*args, **kwargs)

        recorder.select_events = counted  # type: ignore[method-assign]


def listening(app: TallyApp) -> WriteWatch:
    assert app.repository.freshness is not None
    watch = app.repository.freshness.watch
    watch.start()  # as the app's first command would
    deadline = time.monotonic() + 10
    while not watch.listening:
        assert time.monotonic() < deadline, "the write watch is not listening"
        time.sleep(0.01)
    return watch


def test_the_write_watch_listens_from_the_first_command_on(apps: list[TallyApp]) -> None:
    """A process that decides no command (a service's relay process) keeps no listener that every save
    wakes."""
    assert apps[0].repository.freshness is not None
    watch = apps[0].repository.freshness.watch
    time.sleep(0.5)
    assert not watch.listening
    apps[0].increase("first")
    deadline = time.monotonic() + 10
    while not watch.listening:
        assert time.monotonic() < deadline, "the write watch is not listening after a command"
        time.sleep(0.01)


def test_an_instance_alone_on_its_store_decides_on_what_it_cached_without_a_select(
    apps: list[TallyApp],
) -> None:
    listening(apps[0])
    apps[0].increase("alone")
    assert apps[0].count("alone") == 1  # cached once read (what a command creates is not cached before)
    counter = SelectCounter(apps[0])
    apps[0].increase("alone")  # its own save replaces the cached state, known to be the latest
    apps[0].increase("alone")
    assert counter.selects == 0
    assert apps[0].count("alone") == 3
    assert counter.selects == 1  # a query always selects: it shows every write answered before it


def test_after_another_instances_write_only_what_it_wrote_is_selected_again(apps: list[TallyApp]) -> None:
    mine, theirs = apps
    listening(mine)
    mine.increase("shared")
    mine.increase("own")
    assert (mine.count("shared"), mine.count("own")) == (1, 1)  # cached, and verified by these reads
    theirs.increase("shared")
    freshness = mine.repository.freshness
    assert freshness is not None
    deadline = time.monotonic() + 5
    while freshness.trusted(Tally.create_id("shared")):  # their notification arrives
        assert time.monotonic() < deadline, "no notification of the other instance's write"
        time.sleep(0.01)
    assert freshness.trusted(Tally.create_id("own"))
    counter = SelectCounter(mine)
    assert mine.increase("shared") == {"count": 3}
    assert counter.selects == 1  # its cached state was behind
    assert mine.increase("own") == {"count": 2}
    assert mine.increase("shared") == {"count": 4}  # what it saved last is the latest
    assert counter.selects == 1


def test_a_saves_notification_names_its_writer_and_what_it_changed_of_the_aggregates_before_it(
    apps: list[TallyApp], settings: Settings
) -> None:
    """What the save created no other instance can have cached; more than a notification holds to name
    counts as everything."""
    app = apps[0]
    recorder = sales_recorder(app)
    app.increase("existing")
    many = [Tally(f"many-{n}", meta=META) for n in range(MOST_NAMED + 1)]
    app.save(*many)
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(recorder.channel_name)))
        existing: Tally = app.repository.get(Tally.create_id("existing"))
        existing.increase(META)
        app.save(existing, Tally("created", meta=META))
        for tally in many:
            tally.increase(META)
        app.save(*many)
        payloads = [notice.payload for notice in conn.notifies(timeout=5, stop_after=2)]
    assert [changed_aggregates(payload) for payload in payloads] == [
        (recorder.writer, [Tally.create_id("existing").int]),
        (recorder.writer, None),
    ]


def test_a_state_read_unselected_that_changed_before_the_save_makes_the_command_decide_again(
    apps: list[TallyApp],
) -> None:
    """The window before another instance's notification arrives, held open: the save checks what the
    command read from the cache and does not change, and a moved one sends the command back to decide
    on fresh state."""
    mine, theirs = apps
    deaf(mine)
    mine.increase("source")
    assert mine.count("source") == 1  # cached, and counts as the latest: mine hears of no other write
    theirs.increase("source")
    counter = SelectCounter(mine)
    assert mine.note_count("noted", of="source") == {"seen": 2}
    assert counter.selects >= 1  # decided again on what it selected


def test_two_instances_with_concurrent_commands_store_each_accepted_one_exactly_once(
    apps: list[TallyApp],
) -> None:
    """Commands race on shared tallies from both instances, sent to each one's command worker as the bus
    does (so they are decided and saved in batches, which may conflict with the other instance's): every
    command is stored once if accepted and not at all if refused (``Conflict`` after its retries)."""
    work = [(apps[n % 2], "hot" if n % 4 == 0 else f"c{n % 10}") for n in range(600)]

    async def run(app: TallyApp, name: str) -> str | None:
        try:
            await app.commands.run(app.increase, name)
        except Conflict:
            return None
        return name

    async def run_all() -> list[str | None]:
        return await asyncio.gather(*(run(app, name) for app, name in work))

    accepted = [name for name in asyncio.run(run_all()) if name is not None]
    assert len(accepted) > len(work) * 0.9
    expected = {name: accepted.count(name) for name in {name for _, name in work}}
    for app in apps:  # each instance reads the other's writes too
        assert {name: app.count(name) if expected[name] else 0 for name in expected} == expected


def test_a_batch_conflicting_with_another_instance_saves_the_rest_and_decides_the_conflicting_one_again(
    apps: list[TallyApp],
) -> None:
    mine, theirs = apps
    mine.increase("a")

    def theirs_meanwhile() -> str:  # the other instance writes "a" before the batch is saved
        theirs.increase("a")
        return "meddled"

    answers = mine.decide_batch(
        [
            lambda: mine.increase("a"),
            lambda: mine.increase("b"),
            lambda: mine.note_count("c", of="a"),
            theirs_meanwhile,
        ]
    )
    assert [answer.result for answer in answers] == [{"count": 3}, {"count": 1}, {"seen": 3}, "meddled"]
    assert [theirs.count(name) for name in "ab"] == [3, 1]


def test_a_store_reached_through_the_servers_socket_directory(settings: Settings) -> None:
    """``SALESOPS_POSTGRES_HOST`` may name the directory of the server's Unix socket: the library's store,
    psycopg and asyncpg (``postgres_dsn``) all reach the server through it."""
    with admin_connection(settings) as conn:
        row = conn.execute("SHOW unix_socket_directories").fetchone()
    directories = [d.strip() for d in row[0].split(",") if d.strip().startswith("/")] if row else []
    if not directories:
        pytest.skip("this server listens on no Unix socket")
    local = Settings(**{**settings.model_dump(), "postgres_host": directories[0]})
    ensure_database(local, [TallyApp.service])
    app = TallyApp(local, SystemClock())
    try:
        app.increase("through-the-socket")
        assert app.count("through-the-socket") == 1
    finally:
        app.close()

    async def server_address() -> Any:
        conn = await asyncpg.connect(local.postgres_dsn)
        try:
            return await conn.fetchval("SELECT inet_server_addr()")
        finally:
            await conn.close()

    assert asyncio.run(server_address()) is None  # NULL: not a TCP connection
    with psycopg.connect(local.postgres_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)
        conn.execute(f"DROP SCHEMA {TallyApp.service} CASCADE")
