"""Group commit (shared/store.py): commands decided at the same time share one save, and a batch that
cannot be saved as a whole never loses, duplicates or wrongly refuses a command."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from shared.store import GroupCommit
from tests.tally import Tally, in_memory_app


def test_concurrent_commands_on_separate_aggregates_are_all_stored() -> None:
    app = in_memory_app()
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda i: app.increase(f"t{i}"), range(200)))
    assert all(reply == {"count": 1} for reply in replies)
    assert all(app.repository.get(Tally.create_id(f"t{i}")).count == 1 for i in range(200))


def test_concurrent_commands_on_one_aggregate_are_each_applied_once() -> None:
    """Commands of one batch that change the same aggregate are decided again, not lost or refused."""
    app = in_memory_app()
    app.increase("hot")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: app.increase("hot"), range(40)))
    assert app.repository.get(Tally.create_id("hot")).count == 41


def test_a_repeated_idempotency_key_in_concurrent_commands_stores_once() -> None:
    app = in_memory_app()
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


def saves_while_held(savers: int, commands: int) -> list[list[Any]]:
    """The first ``savers`` commands' saves are held; the other commands arrive meanwhile; then all go on.
    Returns the events of each save, in the order they started."""
    calls: list[list[Any]] = []
    started, release = threading.Semaphore(0), threading.Event()

    def record(events: list[Any], aggregates: list[Any], checked: dict[Any, int]) -> None:
        calls.append(events)
        if len(calls) <= savers:
            started.release()
            release.wait(5)

    group = GroupCommit(record, savers=savers)
    first = [threading.Thread(target=group.save, args=([Recorded(uuid.uuid4())],)) for _ in range(savers)]
    for thread in first:
        thread.start()
        assert started.acquire(timeout=5)  # each of these saves at once, alone
    others = [threading.Thread(target=group.save, args=([Recorded(uuid.uuid4())],)) for _ in range(commands)]
    for thread in others:
        thread.start()
    while len(group._queue) < commands:  # every other command queued behind the running saves
        threading.Event().wait(0.01)
    release.set()
    for thread in [*first, *others]:
        thread.join(5)
    assert not any(thread.is_alive() for thread in [*first, *others])
    assert group._saving == 0
    return calls


def test_a_batch_waits_for_the_running_save_and_is_saved_in_one_call() -> None:
    calls = saves_while_held(savers=1, commands=5)
    assert [len(call) for call in calls] == [1, 5]


def test_two_saves_run_at_once_and_the_commands_arriving_meanwhile_share_the_next() -> None:
    calls = saves_while_held(savers=2, commands=5)
    assert [len(call) for call in calls] == [1, 1, 5]


def test_many_concurrent_commands_with_two_savers_each_save_exactly_once() -> None:
    saved: list[Any] = []
    lock = threading.Lock()

    def record(events: list[Any], aggregates: list[Any], checked: dict[Any, int]) -> None:
        threading.Event().wait(0.001)
        with lock:
            saved.extend(events)

    group = GroupCommit(record, savers=2)
    aggregates = [Recorded(uuid.uuid4()) for _ in range(400)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda aggregate: group.save([cast(Any, aggregate)]), aggregates))
    assert sorted(saved) == sorted(aggregate.event for aggregate in aggregates)
    assert group._saving == 0 and not group._queue


def save_in_one_batch(group: GroupCommit, aggregates: list[Recorded]) -> list[str]:
    """One command per aggregate, all queued while saves run, then saved as one batch: each outcome."""
    group._saving = group.savers  # hold the queue so that the commands land in one batch
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
    with group._lock:  # as a finished save does: the slot goes to the first queued command
        group._saving = 1
        group._queue[0].leads = True
    group._queue[0].wake.set()
    for thread in threads:
        thread.join(5)
    return outcomes


def test_a_batch_conflicting_as_a_whole_stores_nothing_and_tells_every_command() -> None:
    def record(events: list[Any], aggregates: list[Any], checked: dict[Any, int]) -> None:
        raise IntegrityError("conflict")

    outcomes = save_in_one_batch(GroupCommit(record), [Recorded(uuid.uuid4()) for _ in range(2)])
    assert outcomes == ["decide again", "decide again"]


def test_a_conflict_naming_one_command_sends_back_only_that_command_and_saves_the_rest() -> None:
    """Another writer changed the second command's aggregate: the batch is saved again without it."""
    aggregates = [Recorded(uuid.uuid4()) for _ in range(3)]
    calls: list[list[Any]] = []

    def record(events: list[Any], saved: list[Any], checked: dict[Any, int]) -> None:
        calls.append(events)
        if aggregates[1].event in events:
            raise IntegrityError(f"Key (originator_id, originator_version)=({aggregates[1].id}, 2) exists")

    outcomes = save_in_one_batch(GroupCommit(record), aggregates)
    assert outcomes == ["saved", "decide again", "saved"]
    assert [len(call) for call in calls] == [3, 2]
    assert aggregates[1].event not in calls[1] and {aggregates[0].event, aggregates[2].event} <= set(calls[1])


def test_an_unavailable_store_fails_the_command_with_its_error() -> None:
    class Down(Exception):
        pass

    def record(events: list[Any], aggregates: list[Any], checked: dict[Any, int]) -> None:
        raise Down("database down")

    with pytest.raises(Down):
        GroupCommit(record).save([cast(Any, Recorded(uuid.uuid4()))])
