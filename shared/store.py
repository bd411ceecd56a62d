"""Store plumbing: the eventsourcing Application every write service extends.

It owns the things every command needs once: the PostgreSQL settings (a schema per service), the
transcodings, the acting user and clock in ``Meta``, optimistic-concurrency retries, and
idempotency keys (a ``CommandReceipt`` saved atomically with the command's own events).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import orjson
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import BaseAggregate, event
from eventsourcing.persistence import IntegrityError, Transcoder

from shared.aggregate import DateAsISO, Meta, MetaAsDict, SalesAggregate, SalesTranscoder
from shared.cache import Freshness, SharedCacheRepository, WriteWatch
from shared.clock import Clock
from shared.contracts import Command
from shared.errors import Conflict, DomainError
from shared.recorder import SalesRecorder
from shared.retry import poll_blocking
from shared.settings import Settings
from shared.worker import Answer, CommandWorker, answer_of

RECEIPT_NAMESPACE = UUID("6f1d4c1e-8a53-4d0e-9b59-6b7c2f3a9e10")
MAX_ATTEMPTS = 5
# How long a save whose COMMIT went unanswered waits for the store to say whether it took effect (the soak
# restarts PostgreSQL within seconds; a longer outage answers the command "unavailable" as before).
IN_DOUBT_SECONDS = 30.0

log = logging.getLogger(__name__)
T = TypeVar("T")


def persistence_env(settings: Settings, schema: str) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": settings.persistence_module,
        "APPLICATION_RECORDER_TOPIC": "shared.recorder:SalesRecorder",  # read by the PostgreSQL factory only
        "POSTGRES_DBNAME": settings.postgres_db,
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password,
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # No ping per checkout (a round trip each): the recorder retries a dead connection on a fresh one.
        "POSTGRES_PRE_PING": "n",
        # Two connections kept open, more under load; a command holds one only while it reads or saves.
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": str(max(settings.store_connections - 2, 0)),
        # Aggregates are cached and brought up to date on every read (see SharedCacheRepository).
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "CREATE_TABLE": "y",
    }


def body_digest(command: Command) -> str:
    """SHA-256 of the command's canonical JSON (keys sorted, defaults filled in) without the fields that
    may differ between sends of the same command: its idempotency key and correlation id."""
    body = command.model_dump(mode="json", exclude={"idempotency_key", "correlation_id"})
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class CommandReceipt(SalesAggregate):
    """The first reply to a command sent with an idempotency key, and the digest of that command's body;
    its id derives from the key."""

    TOPIC = "shared.CommandReceipt"

    @staticmethod
    def create_id(key: str) -> UUID:
        return uuid.uuid5(RECEIPT_NAMESPACE, key)

    @event("Recorded", topic="shared.CommandReceipt.Recorded")
    def __init__(self, key: str, reply: dict[str, Any], meta: Meta, digest: str | None = None) -> None:
        self.key = key
        self.reply = dict(reply)
        self.digest = digest

    def answer(self, digest: str) -> dict[str, Any]:
        """The first reply, to the same command sent again; a different body under the key is refused."""
        if self.digest is not None and self.digest != digest:
            raise IdempotencyConflict(self.key.partition(":")[2])
        return self.reply


def _upcast_receipt_v1_v2(state: dict[str, Any]) -> None:
    state["digest"] = None  # version 1 kept no digest: any body under its key gets the first reply


# Version 2 of the receipt keeps the digest of the body (the decorator made the class; its version is set
# here).
CommandReceipt.Recorded.class_version = 2  # type: ignore[attr-defined]
CommandReceipt.Recorded.upcast_v1_v2 = staticmethod(_upcast_receipt_v1_v2)  # type: ignore[attr-defined]


class IdempotencyConflict(DomainError):
    """An idempotency key sent again with a different command body: nothing runs."""

    code = "conflict"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was used before with a different body; nothing was run",
            details={"idempotency_key": key},
        )


@dataclass
class Outcome:
    """What a command decided: the reply's result, the aggregates to save together, and ``then``: what
    must follow outside the store once they are stored (not at all if they are not)."""

    result: dict[str, Any]
    aggregates: Sequence[BaseAggregate[UUID]] = field(default_factory=tuple)
    then: Callable[[], None] | None = None


class ServiceApplication(Application[UUID]):
    service: ClassVar[str]
    repository: SharedCacheRepository  # made by construct_repository

    def __init__(self, settings: Settings, clock: Clock, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        super().__init__({**persistence_env(settings, self.service), **(env or {})})
        # The bus's commands: decided in turn in a thread of their own and saved in batches.
        self.commands = CommandWorker(self.decide_batch)
        if isinstance(self.recorder, SalesRecorder):
            self.watch_writes(
                WriteWatch(settings.postgres_dsn, self.recorder.channel_name, self.recorder.writer)
            )

    def watch_writes(self, watch: WriteWatch) -> None:
        """Know from ``watch`` which cached states are the latest, and from the recorder what this process
        stored (``Freshness``)."""
        assert isinstance(self.recorder, SalesRecorder)
        self.repository.freshness = Freshness(watch)
        self.recorder.on_inserted = self.repository.freshness.written

    def close(self) -> None:
        self.commands.close()
        if self.repository.freshness is not None:
            self.repository.freshness.watch.close()
        super().close()

    def construct_repository(self) -> SharedCacheRepository:
        size = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return SharedCacheRepository(
            event_store=self.events, snapshot_store=self.snapshots, cache_maxsize=int(size) if size else None
        )

    def construct_transcoder(self) -> Transcoder:
        transcoder = SalesTranscoder()
        self.register_transcodings(transcoder)
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
        """Decide and save atomically; retry on a concurrent write; a repeated key gets its first reply
        (the same key with another body is refused as a conflict).

        ``decide`` loads what it needs and raises ``DomainError`` to refuse: nothing is saved then.
        Inside a batch (``decide_batch``) the decision is the batch's to save; otherwise it is saved at
        once, and after a conflict decided again on fresh state.
        """
        receipt_key = f"{self.service}:{command.idempotency_key}" if command.idempotency_key else None
        digest = body_digest(command) if receipt_key else ""
        if receipt_key and (earlier := self._receipt(receipt_key)) is not None:
            return earlier.answer(digest)
        command_id = str(uuid.uuid4())
        batch = self.repository.batch
        for _ in range(MAX_ATTEMPTS):
            meta = Meta(
                actor_id=command.actor.id,
                actor_role=command.actor.role.value,
                correlation_id=command.correlation_id or command_id,
                causation_id=causation_id or command_id,
                at=self.clock.now(),
            )
            with self.repository.reading() as reads:
                outcome = decide(meta)
            aggregates: list[BaseAggregate[UUID]] = list(outcome.aggregates)
            if receipt_key:
                aggregates.append(
                    CommandReceipt(key=receipt_key, reply=outcome.result, meta=meta, digest=digest)
                )
            if not aggregates:
                _follow(outcome)
                return outcome.result
            written = {aggregate.id for aggregate in aggregates}
            # What it read from the cache unselected and does not change: the save checks it is unchanged.
            checked = {id_: version for id_, version in reads.items() if id_ not in written}
            if batch is not None:
                batch.decided(aggregates, checked, outcome.then)
                return outcome.result
            try:
                self.record(_collect(aggregates), aggregates, checked)
            except IntegrityError:
                if self.repository.freshness is not None:  # decided on a state that was not the latest
                    self.repository.freshness.forget([*written, *checked])
                if receipt_key and (earlier := self._receipt(receipt_key)) is not None:
                    return earlier.answer(digest)
                continue  # another writer got there first: decide again on fresh state
            _follow(outcome)
            return outcome.result
        raise Conflict("the command kept colliding with concurrent writers; nothing was stored")

    def decide_batch(self, calls: Sequence[Callable[[], T]]) -> list[Answer[T]]:
        """Run commands one after another, each seeing what the ones before it decided, and save all they
        decided with ONE ``record`` (one transaction, one WAL flush, one table lock) instead of one each.

        Each command gets its own answer, sent only once the batch is saved:
        - its result or its refusal, as decided in the batch, once the batch is stored (atomically); what
          its outcome says must follow the save (``Outcome.then``) runs then, in the commands' order;
        - should the save conflict with another writer (a second instance, a job of this one), nothing is
          stored: the conflict names the aggregate, so the command that first touched it, and every later
          one that read what those changed, are run again on their own after the rest is saved; a
          conflict naming none of them runs every command again on its own. So a batch never refuses a
          command that would have succeeded on its own;
        - any other error (database down): every command gets it; nothing was stored.
        """
        batch = Batch()
        self.repository.batch = batch
        try:
            for call in calls:
                batch.run(call)
        finally:
            self.repository.batch = None
        saving = [decision for decision in batch.decisions if decision.events]
        while saving:
            try:
                self.record(*_batch_save(saving))
                break
            except IntegrityError as error:  # nothing of the batch was stored
                again = batch.after_conflict(error)
                if self.repository.freshness is not None:
                    self.repository.freshness.forget(id_ for decision in again for id_ in decision.concerns)
                saving = [decision for decision in saving if not decision.again]
            except Exception as error:  # nothing of the batch was stored
                return [Answer(None, error) for _ in calls]
        for decision in batch.decisions:
            if decision.again:
                decision.answer = answer_of(decision.call)
            elif decision.events and decision.answer.error is None:
                followed = answer_of(decision.follow)
                if followed.error is not None:
                    decision.answer = Answer(None, followed.error)
        return [decision.answer for decision in batch.decisions]

    def record(
        self,
        events: Sequence[Any],
        aggregates: Sequence[BaseAggregate[UUID]],
        checked: dict[UUID, int] | None = None,
    ) -> None:
        """``Application.save`` of events already collected from these aggregates, minus its protocol
        checks on every object (a tenth of a command's CPU). The saved aggregates replace their cached
        states, so the next read finds no newer events of this process's own to load."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        processing.events.extend(events)
        processing.aggregates.update((aggregate.id, aggregate) for aggregate in aggregates)
        if checked:  # the insert fails, storing nothing, if any of these has moved past that version
            processing.saved_kwargs["checked"] = checked
        freshness = self.repository.freshness
        before = freshness.stamp() if freshness is not None else None
        try:
            recordings = self._record(processing)
        except Exception:
            # The connection was lost with COMMIT's answer (the server killed, the session ended): the
            # recorder's retries then run out (an error) or meet the events that COMMIT stored (a conflict
            # with itself). Either way they may be stored, and "nothing was written" or "decide again" would
            # be false (seen in the 30-minute chaos soak: commands refused as unavailable, yet stored).
            if not self._stored_after_all(events):
                raise
            if freshness is not None:
                freshness.forget(aggregate.id for aggregate in aggregates)
            return
        for aggregate in aggregates:
            cached = self.repository.saved(aggregate, only_replacing=True)
            if cached and freshness is not None and before is not None:
                freshness.verified_own(aggregate.id, before)  # the latest as of its insert
        self._take_snapshots(processing)
        self._notify(recordings)

    def _stored_after_all(self, events: Sequence[Any]) -> bool:
        """Whether a record that failed stored its events anyway: the store holds its first event as this
        record made it (one transaction: all are or none is; another writer's event at that version is a
        real conflict), asked until the store answers, for ``IN_DOUBT_SECONDS`` at most."""
        first = self.mapper.to_stored_event(events[0])

        def stored() -> bool | None:
            try:
                found = self.recorder.select_events(
                    first.originator_id,
                    gt=first.originator_version - 1,
                    lte=first.originator_version,
                    limit=1,
                )
            except Exception:  # the store still away: ask again
                return None
            return bool(found) and found[0].state == first.state

        return (
            poll_blocking(stored, lambda known: known is not None, timeout=IN_DOUBT_SECONDS, every=0.5)
            is True
        )

    def _receipt(self, key: str) -> CommandReceipt | None:
        try:
            receipt: CommandReceipt = self.repository.get(CommandReceipt.create_id(key))
        except AggregateNotFoundError:
            return None
        return receipt


@dataclass
class Decision:
    """One command of a batch: what it read, what it changed, and the events it took off what it changed."""

    call: Callable[[], Any]
    read: set[UUID] = field(default_factory=set)  # every aggregate it got from the repository
    checked: dict[UUID, int] = field(default_factory=dict)  # read unselected and not changed (see execute)
    aggregates: list[BaseAggregate[UUID]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    answer: Answer[Any] = field(default_factory=lambda: Answer(None))
    again: bool = False  # to be run again on its own once the rest of the batch is saved
    then: list[Callable[[], None]] = field(default_factory=list)  # to follow the save (``Outcome.then``)

    def follow(self) -> None:
        for step in self.then:
            step()

    @property
    def ids(self) -> set[UUID]:
        return {aggregate.id for aggregate in self.aggregates}

    @property
    def concerns(self) -> set[UUID]:
        """What it changes and what it read unselected: what its save checks."""
        return self.ids | self.checked.keys()


class Batch:
    """The commands of one ``decide_batch`` in the order they were decided, and the latest state of every
    aggregate they changed: a command reads those from here, as the commands before it left them."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self._states: dict[UUID, BaseAggregate[UUID]] = {}

    @property
    def current(self) -> Decision:
        return self.decisions[-1]

    def run(self, call: Callable[[], Any]) -> None:
        """Decide the next command of the batch (``current`` while it runs)."""
        decision = Decision(call)
        self.decisions.append(decision)
        decision.answer = answer_of(call)

    def read(self, aggregate_id: UUID) -> BaseAggregate[UUID] | None:
        """The state the batch's commands left it in, if they changed it (not to be changed: copy it)."""
        self.current.read.add(aggregate_id)
        return self._states.get(aggregate_id)

    def decided(
        self,
        aggregates: Sequence[BaseAggregate[UUID]],
        checked: dict[UUID, int],
        then: Callable[[], None] | None = None,
    ) -> None:
        decision = self.current
        if then is not None:
            decision.then.append(then)
        decision.events.extend(_collect(aggregates))
        decision.aggregates.extend(aggregates)
        for id_, version in checked.items():  # a command deciding twice read it first at the oldest
            decision.checked.setdefault(id_, version)
        for aggregate in aggregates:
            self._states[aggregate.id] = aggregate

    def after_conflict(self, error: IntegrityError) -> list[Decision]:
        """The save conflicted (``error``): mark the command that first touched the aggregate it names, and
        every later one that read or changed what those change, to run again on their own; all of them
        if it names none. Returns those marked now."""
        left = [decision for decision in self.decisions if not decision.again]
        first = next((d for d in left if d.events and _names_one_of(error, d.concerns)), None)
        changed: set[UUID] = set()
        again = []
        for decision in left:
            if first is None or decision is first or (decision.read | decision.ids) & changed:
                decision.again = True
                changed |= decision.ids
                again.append(decision)
        return again


def _batch_save(
    saving: Sequence[Decision],
) -> tuple[list[Any], list[BaseAggregate[UUID]], dict[UUID, int]]:
    """The events of these decisions, the latest state of each aggregate they change, and what they read
    unselected and do not change, at the oldest version read."""
    states = {aggregate.id: aggregate for decision in saving for aggregate in decision.aggregates}
    checked: dict[UUID, int] = {}
    for decision in saving:
        for id_, version in decision.checked.items():
            if id_ not in states:
                checked[id_] = min(version, checked.get(id_, version))
    return [event for decision in saving for event in decision.events], list(states.values()), checked


def _follow(outcome: Outcome) -> None:
    if outcome.then is not None:
        outcome.then()


def _collect(aggregates: Sequence[BaseAggregate[UUID]]) -> list[Any]:
    return [event for aggregate in aggregates for event in aggregate.collect_events()]


def _names_one_of(error: IntegrityError, ids: set[UUID]) -> bool:
    """Whether the conflict names one of these aggregates (PostgreSQL's detail quotes the duplicate key,
    the in-memory store the stored event)."""
    text = f"{error} {error.__cause__ or ''}"
    return any(str(aggregate_id) in text for aggregate_id in ids)
