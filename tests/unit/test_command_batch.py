"""Commands decided in batches (``ServiceApplication.decide_batch``, ``shared/worker.py``): the commands
of a batch see what the ones before them decided and are saved with one record, and a batch that cannot
be saved as a whole never loses, duplicates or wrongly refuses a command."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, OperationalError

from shared.aggregate import Meta
from shared.contracts import Command
from shared.errors import InvalidState
from shared.store import Outcome
from shared.worker import Answer, CommandWorker, answer_of
from tests.tally import ACTOR, Tally, TallyApp, in_memory_app


def counting_records(app: TallyApp, fail: Sequence[Exception] = ()) -> list[int]:
    """Count the events of each ``record`` of ``app``; the first records raise ``fail`` instead."""
    events_per_record: list[int] = []
    failures = list(fail)
    record = app.record

    def counted(events: Sequence[Any], *args: Any) -> None:
        if failures:
            raise failures.pop(0)
        record(events, *args)
        events_per_record.append(len(events))

    app.record = counted  # type: ignore[method-assign,assignment]
    return events_per_record


def results(answers: list[Answer[Any]]) -> list[Any]:
    for answer in answers:
        if answer.error is not None:
            raise answer.error
    return [answer.result for answer in answers]


def increase(app: TallyApp, name: str, key: str | None = None) -> Callable[[], dict[str, Any]]:
    return lambda: app.increase(name, idempotency_key=key)


def test_a_batch_is_saved_with_one_record_and_each_command_gets_its_own_result() -> None:
    app = in_memory_app()
    records = counting_records(app)
    answers = app.decide_batch([increase(app, f"t{i}") for i in range(10)])
    assert results(answers) == [{"count": 1}] * 10
    assert records == [20]  # each tally opened and increased, all in one record
    assert [app.count(f"t{i}") for i in range(10)] == [1] * 10


def test_commands_of_a_batch_on_one_aggregate_see_each_other_and_are_each_applied_once() -> None:
    app = in_memory_app()
    app.increase("hot")
    records = counting_records(app)
    answers = app.decide_batch([increase(app, "hot") for _ in range(5)])
    assert results(answers) == [{"count": n} for n in range(2, 7)]
    assert records == [5]
    assert app.count("hot") == 6


def test_a_repeated_idempotency_key_in_a_batch_stores_once_and_answers_the_first_reply() -> None:
    app = in_memory_app()
    answers = app.decide_batch([increase(app, "k", key="same") for _ in range(3)])
    assert results(answers) == [{"count": 1}] * 3
    assert app.count("k") == 1
    assert app.increase("k", idempotency_key="same") == {"count": 1}  # and after the batch too


def test_a_refused_command_of_a_batch_stores_nothing_and_the_others_are_saved() -> None:
    app = in_memory_app()

    def increase_then_refuse() -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            tally: Tally = app.repository.get(Tally.create_id("a"))
            tally.increase(meta)
            raise InvalidState("refused after changing its copy")

        return app.execute(Command(actor=ACTOR), decide)

    app.increase("a")
    answers = app.decide_batch([increase(app, "a"), increase_then_refuse, increase(app, "a")])
    assert isinstance(answers[1].error, InvalidState)
    assert [answers[0].result, answers[2].result] == [{"count": 2}, {"count": 3}]
    assert app.count("a") == 3


def meanwhile_increase(app: TallyApp, name: str) -> Callable[[], str]:
    """A command of the batch that has another writer increase ``name`` before the batch is saved."""

    def meddle() -> str:
        other = threading.Thread(target=app.increase, args=(name,))  # not in the batch: saved at once
        other.start()
        other.join()
        return "meddled"

    return meddle


def test_a_conflict_runs_again_the_command_it_names_and_those_that_read_its_changes_and_saves_the_rest() -> (
    None
):
    app = in_memory_app()
    app.increase("a")
    records = counting_records(app)
    answers = app.decide_batch(
        [
            increase(app, "a"),  # conflicts with the write made meanwhile
            increase(app, "b"),
            lambda: app.note_count("c", of="a"),  # read what the first changed: decided again too
            increase(app, "d"),
            meanwhile_increase(app, "a"),
        ]
    )
    assert results(answers) == [{"count": 3}, {"count": 1}, {"seen": 3}, {"count": 1}, "meddled"]
    assert records == [1, 4, 1, 2]  # the other writer; b and d; then a and c on their own
    assert [app.count(name) for name in "abd"] == [3, 1, 1]
    assert app.repository.get(Tally.create_id("c")).by_key == {"3": 1}


def test_a_conflict_naming_no_command_runs_every_command_again_on_its_own() -> None:
    app = in_memory_app()
    records = counting_records(app, fail=[IntegrityError("a conflict on something else")])
    answers = app.decide_batch([increase(app, "a"), increase(app, "a"), increase(app, "b")])
    assert results(answers) == [{"count": 1}, {"count": 2}, {"count": 1}]
    assert records == [2, 1, 2]
    assert [app.count("a"), app.count("b")] == [2, 1]


def test_an_unavailable_store_answers_every_command_of_the_batch_with_its_error_and_stores_nothing() -> None:
    app = in_memory_app()
    down = OperationalError("connection refused")
    counting_records(app, fail=[down])
    answers = app.decide_batch([increase(app, "a"), increase(app, "b")])
    assert [answer.error for answer in answers] == [down, down]
    assert not list(app.events.get(Tally.create_id("a")))
    assert not list(app.events.get(Tally.create_id("b")))


def noting_after_save(app: TallyApp, name: str, notes: list[tuple[str, int]]) -> Callable[[], dict[str, Any]]:
    """Increase ``name``; what follows the save notes the count then stored."""

    def call() -> dict[str, Any]:
        def decide(meta: Meta) -> Outcome:
            tally = app._tally(name, meta)
            tally.increase(meta)
            return Outcome(
                {"count": tally.count}, [tally], then=lambda: notes.append((name, app.count(name)))
            )

        return app.execute(Command(actor=ACTOR), decide)

    return call


def test_what_must_follow_a_save_runs_once_the_batch_is_stored() -> None:
    app = in_memory_app()
    notes: list[tuple[str, int]] = []
    answers = app.decide_batch([noting_after_save(app, "a", notes), noting_after_save(app, "b", notes)])
    assert results(answers) == [{"count": 1}, {"count": 1}]
    assert notes == [("a", 1), ("b", 1)]  # each saw its event stored


def test_what_must_follow_a_save_does_not_run_when_the_batch_is_not_stored() -> None:
    app = in_memory_app()
    notes: list[tuple[str, int]] = []
    counting_records(app, fail=[OperationalError("connection refused")])
    answers = app.decide_batch([noting_after_save(app, "a", notes)])
    assert isinstance(answers[0].error, OperationalError)
    assert notes == []


def test_the_command_worker_answers_each_command_sent_over_the_bus() -> None:
    app = in_memory_app()

    async def send() -> list[Any]:
        return await asyncio.gather(*(app.commands.run(app.increase, "hot") for _ in range(20)))

    try:
        replies = asyncio.run(send())
    finally:
        app.close()
    assert sorted(reply["count"] for reply in replies) == list(range(1, 21))


class HeldBatches:
    """A ``decide_batch`` that records the size of each batch and, if ``hold``, holds the first until
    released."""

    def __init__(self, hold: bool = False) -> None:
        self.sizes: list[int] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, calls: Sequence[Callable[[], Any]]) -> list[Answer[Any]]:
        self.sizes.append(len(calls))
        if len(self.sizes) == 1:
            self.holding.set()
            self.release.wait(10)
        return [answer_of(call) for call in calls]


def test_commands_arriving_while_a_batch_is_decided_make_up_the_next_batch() -> None:
    batches = HeldBatches(hold=True)
    worker = CommandWorker(batches)

    async def send() -> list[Any]:
        first = asyncio.ensure_future(worker.run(str, 0))
        await asyncio.to_thread(batches.holding.wait, 10)
        rest = [asyncio.ensure_future(worker.run(str, n)) for n in range(1, 6)]
        await asyncio.sleep(0.05)
        batches.release.set()
        return await asyncio.gather(first, *rest)

    try:
        assert asyncio.run(send()) == ["0", "1", "2", "3", "4", "5"]
    finally:
        worker.close()
    assert batches.sizes == [1, 5]


def test_a_commands_error_reaches_its_own_caller_only() -> None:
    worker = CommandWorker(HeldBatches())

    def refuse(n: int) -> int:
        if n == 1:
            raise InvalidState("not this one")
        return n

    async def send() -> list[Any]:
        return await asyncio.gather(*(worker.run(refuse, n) for n in range(3)), return_exceptions=True)

    try:
        first, second, third = asyncio.run(send())
    finally:
        worker.close()
    assert (first, third) == (0, 2)
    assert isinstance(second, InvalidState)


def test_the_callers_context_goes_along_with_its_command() -> None:
    correlation: contextvars.ContextVar[str] = contextvars.ContextVar("correlation", default="none")
    worker = CommandWorker(HeldBatches())

    async def send() -> str:
        correlation.set("c-42")
        return await worker.run(lambda _: correlation.get(), None)

    try:
        assert asyncio.run(send()) == "c-42"
    finally:
        worker.close()


def test_a_closed_worker_takes_no_more_commands() -> None:
    worker = CommandWorker(HeldBatches())
    worker.close()
    with pytest.raises(RuntimeError):
        asyncio.run(worker.run(str, 0))


def commit_answer_lost(app: TallyApp, stored: bool, error: Exception | None = None) -> None:
    """The next save of ``app`` raises as when the connection goes with COMMIT's answer, after storing
    its events (``stored``) or before: the recorder's retries run out (an OperationalError) or meet what
    the lost COMMIT stored (an IntegrityError). Reads fail too until the store is back: the save's first
    question whether it took effect, and the next receipt read."""
    record, receipt = app._record, app._receipt

    def store_away(key: str) -> Any:
        app._receipt = receipt  # type: ignore[method-assign]
        raise OperationalError("the connection is lost")

    def still_away(*args: Any, **kwargs: Any) -> Any:
        del app.recorder.select_events  # the store answers the next time
        raise OperationalError("the connection is lost")

    def lost(processing: Any) -> Any:
        app._record = record  # type: ignore[method-assign]
        if stored:
            record(processing)
        app._receipt = store_away  # type: ignore[method-assign]
        app.recorder.select_events = still_away  # type: ignore[method-assign]
        raise error or OperationalError("server closed the connection unexpectedly")

    app._record = lost  # type: ignore[method-assign,assignment]


@pytest.mark.parametrize(
    "error", [OperationalError("connection lost"), IntegrityError("duplicate key")], ids=["lost", "retried"]
)
def test_a_batch_stored_though_its_commit_went_unanswered_is_answered_as_stored(error: Exception) -> None:
    app = in_memory_app()
    commit_answer_lost(app, stored=True, error=error)
    answers = app.decide_batch([increase(app, "lost-answer", key=f"k{i}") for i in range(3)])
    vars(app).pop("_receipt", None)  # the store is back
    assert results(answers) == [{"count": 1}, {"count": 2}, {"count": 3}]
    assert app.count("lost-answer") == 3
    # Sent again with the same keys, they get their first replies and store nothing more.
    again = app.decide_batch([increase(app, "lost-answer", key=f"k{i}") for i in range(3)])
    assert results(again) == [{"count": 1}, {"count": 2}, {"count": 3}]
    assert app.count("lost-answer") == 3


@pytest.mark.parametrize(
    "error", [OperationalError("connection lost"), IntegrityError("duplicate key")], ids=["lost", "retried"]
)
def test_a_command_outside_a_batch_stored_though_its_commit_went_unanswered_is_answered_once(
    error: Exception,
) -> None:
    app = in_memory_app()
    commit_answer_lost(app, stored=True, error=error)
    assert app.increase("lost-answer-alone") == {"count": 1}  # not decided again: stored once
    assert app.count("lost-answer-alone") == 1


def test_a_batch_not_stored_when_its_connection_was_lost_is_refused() -> None:
    app = in_memory_app()
    commit_answer_lost(app, stored=False)
    answers = app.decide_batch([increase(app, "never-stored")])
    assert isinstance(answers[0].error, OperationalError)
    with pytest.raises(AggregateNotFoundError):
        app.count("never-stored")
