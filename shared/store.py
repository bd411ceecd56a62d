"""Store plumbing: the eventsourcing Application every write service extends.

It owns the things every command needs once: the PostgreSQL settings (a schema per service), the
transcodings, the acting user and clock in ``Meta``, optimistic-concurrency retries, and
idempotency keys (a ``CommandReceipt`` saved atomically with the command's own events).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import UUID

import psycopg
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import BaseAggregate, event
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoder
from psycopg import sql

from shared.aggregate import DateAsISO, Meta, MetaAsDict, SalesAggregate
from shared.clock import Clock
from shared.contracts import Command
from shared.errors import Conflict
from shared.recorder import SalesRecorder
from shared.settings import Settings

RECEIPT_NAMESPACE = UUID("6f1d4c1e-8a53-4d0e-9b59-6b7c2f3a9e10")
MAX_ATTEMPTS = 5
WATCH_POLL_SECONDS = 0.2  # how often the write watch looks up from the channel to see if it should stop
WATCH_RETRY_SECONDS = 1.0
VERIFIED_LIMIT = 100_000  # aggregate ids remembered as verified, beyond the cache's own size
OTHERS_QUIET_SECONDS = 1.0  # the cache is trusted only when no other writer has saved for this long

log = logging.getLogger(__name__)


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


def admin_connection(settings: Settings) -> psycopg.Connection[Any]:
    """An autocommit connection to the server's ``postgres`` database (the service's may not exist)."""
    return psycopg.connect(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password or None,
        dbname="postgres",
        autocommit=True,
    )


def drop_database(settings: Settings) -> None:
    """Drop the settings' database, whoever is still connected to it (tests, the benchmark)."""
    with admin_connection(settings) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(settings.postgres_db))
        )


def ensure_database(settings: Settings, schemas: Sequence[str] = ()) -> None:
    """Create the database and the given schemas when missing (idempotent)."""
    with admin_connection(settings) as admin:
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
    # Commands deciding at the same time are saved together (see GroupCommit); False: one save each.
    group_commit: ClassVar[bool] = True
    repository: SharedCacheRepository  # made by construct_repository

    def __init__(self, settings: Settings, clock: Clock, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        super().__init__({**persistence_env(settings, self.service), **(env or {})})
        self._group = GroupCommit(self.record)
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
        if self.repository.freshness is not None:
            self.repository.freshness.watch.close()
        super().close()

    def construct_repository(self) -> SharedCacheRepository:
        size = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return SharedCacheRepository(
            event_store=self.events, snapshot_store=self.snapshots, cache_maxsize=int(size) if size else None
        )

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
        The save goes through the group commit (``GroupCommit``) unless ``group_commit`` is off; after a
        conflict the command is decided again and saved on its own.
        """
        receipt_key = f"{self.service}:{command.idempotency_key}" if command.idempotency_key else None
        if receipt_key and (earlier := self._receipt(receipt_key)) is not None:
            return earlier
        command_id = str(uuid.uuid4())
        alone = False  # after a conflict, save this command's aggregates on their own
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
                aggregates.append(CommandReceipt(key=receipt_key, reply=outcome.result, meta=meta))
            if not aggregates:
                return outcome.result
            written = {aggregate.id for aggregate in aggregates}
            # What it read from the cache unselected and does not change: the save checks it is unchanged.
            checked = {id_: version for id_, version in reads.items() if id_ not in written}
            try:
                if alone or not self.group_commit:
                    self.record(_collect(aggregates), aggregates, checked)
                else:
                    self._group.save(aggregates, checked)
            except IntegrityError:
                if self.repository.freshness is not None:  # decided on a state that was not the latest
                    self.repository.freshness.forget([*written, *checked])
                if receipt_key and (earlier := self._receipt(receipt_key)) is not None:
                    return earlier
                alone = True
                continue  # another writer got there first: decide again on fresh state
            return outcome.result
        raise Conflict("the command kept colliding with concurrent writers; nothing was stored")

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
        recordings = self._record(processing)
        for aggregate in aggregates:
            cached = self.repository.saved(aggregate, only_replacing=True)
            if cached and freshness is not None and before is not None:
                freshness.verified_own(aggregate.id, before)  # the latest as of its insert
        self._take_snapshots(processing)
        self._notify(recordings)

    def _receipt(self, key: str) -> dict[str, Any] | None:
        try:
            receipt: CommandReceipt = self.repository.get(CommandReceipt.create_id(key))
        except AggregateNotFoundError:
            return None
        return receipt.reply


class SharedCacheRepository(Repository[UUID]):
    """The library's cached repository, minus its per-aggregate lock, and without a select for a cached
    state known to be the latest (``freshness``).

    A cached state that may be behind (another instance wrote meanwhile, or no freshness) is brought up to
    date by one select of its newer events, but the copy in the cache is never changed in place: each
    read selects on its own and, when there are newer events, caches a new copy. The library instead
    fast-forwards the cached object itself under a lock, so every command reading a popular product
    waited in line for the others' selects (and a copy handed out could be taken while another thread
    was changing it). Alone on its store, a service reads what it has cached with no round trip at all:
    two of a command's three.
    """

    freshness: Freshness | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reads = threading.local()

    @contextlib.contextmanager
    def reading(self) -> Iterator[dict[UUID, int]]:
        """While a command decides (this thread): reads may use a cached state known to be the latest
        without a select, and are noted (id -> version) for the save to check. A query's reads (outside
        any command) always select: a reply must show every write that was answered before it."""
        reads: dict[UUID, int] = {}
        self._reads.current = reads
        try:
            yield reads
        finally:
            self._reads.current = None

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        if self.cache is None or version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        stamp = self.freshness.stamp() if self.freshness is not None else None  # before the select
        cached = None
        try:
            cached = self.cache.get(aggregate_id)
        except KeyError:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
        else:
            reads = getattr(self._reads, "current", None)
            if reads is not None and self.freshness is not None and self.freshness.trusted(aggregate_id):
                aggregate = cached
                reads.setdefault(aggregate_id, cached.version)
            else:
                newer = list(self.event_store.get(originator_id=aggregate_id, gt=cached.version))
                aggregate = projector_func(copy.deepcopy(cached), newer) if newer else cached
                if aggregate is None:
                    raise AggregateNotFoundError(aggregate_id)
        if aggregate is not cached:
            self.saved(aggregate)
        if stamp is not None and self.freshness is not None:
            # Whatever is cached now is at least what was read after the stamp: the latest unless a
            # write came after it, which the stamp then tells.
            self.freshness.verified(aggregate_id, stamp)
        return copy.deepcopy(aggregate) if deepcopy_from_cache else aggregate

    def saved(self, aggregate: Any, only_replacing: bool = False) -> bool:
        """Cache this state of the aggregate unless a newer one is cached; it must not change afterwards.
        ``only_replacing``: only if an older state is cached. What a command creates is cached when it
        is read again: caching every new order and receipt as well made the 200/s p99 of full benchmark
        runs 18–32 ms instead of 11–13 ms (a heap growing with every order, for the collector to walk).
        Returns whether the cache now holds this state or a newer one."""
        if self.cache is None:
            return False
        try:
            if self.cache.get(aggregate.id).version >= aggregate.version:
                return True
        except KeyError:
            if only_replacing:
                return False
        self.cache.put(aggregate.id, aggregate)
        return True


class WriteWatch:
    """Tells whether anyone else has written to the service's events since a cached state was verified.

    Every save notifies the store's channel with its writer's token (``SalesRecorder``); a thread here
    listens, and a notification with another token (another instance, the library's own recorder) bumps
    ``generation``. A cached state verified at the current generation is the latest but for writes whose
    notification is on its way; a command's save checks what it read that way (``checked``), so a
    decision on such a state is made again. While not listening (starting, or after losing the
    connection, when notifications may have been missed) nothing counts as verified, and every read
    selects."""

    def __init__(self, dsn: str, channel: str, token: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self.token = token
        self.generation = 0  # only the listening thread changes it
        self.listening = False
        self.others_wrote_at = float("-inf")  # monotonic time of the last notification of another writer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"write-watch-{channel}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(WATCH_POLL_SECONDS + 5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.generation += 1  # what was written before we listened counts as unseen
                    self.listening = True
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=WATCH_POLL_SECONDS):
                            if notice.payload != self.token:
                                self.generation += 1
                                self.others_wrote_at = time.monotonic()
            except psycopg.Error as error:
                log.warning("write watch on %s: %r; reads select until it listens again", self.channel, error)
            finally:
                self.listening = False
                self.generation += 1
            self._stop.wait(WATCH_RETRY_SECONDS)


@dataclass(frozen=True)
class Stamp:
    generation: int  # the watch's: writes by others seen
    epoch: int  # the bookkeeping's resets
    writes: int  # this process's own inserts so far


class Freshness:
    """Which cached states are known to be the latest, so that a read needs no select.

    A state is verified at a stamp taken before the read that got it (or before this process's own
    insert of it). It stays the latest until a write by someone else (the watch's generation moves) or
    by this process (the aggregate's own-write count passes the stamp's), whichever comes first; every
    other thread's write of that aggregate is one of those two. Nothing is trusted while another writer
    has saved in the last ``OTHERS_QUIET_SECONDS``: with a second instance busy, reads select as before."""

    def __init__(self, watch: WriteWatch) -> None:
        self.watch = watch
        self._lock = threading.Lock()
        self._epoch = 0
        self._writes = 0
        self._written: dict[UUID, int] = {}  # aggregate id -> the own-write count of its last insert here
        self._verified: dict[UUID, Stamp] = {}

    def stamp(self) -> Stamp | None:
        """Now, or None while the watch is not listening (nothing counts as verified then)."""
        if not self.watch.listening:
            return None
        return Stamp(self.watch.generation, self._epoch, self._writes)

    def trusted(self, aggregate_id: UUID) -> bool:
        mark = self._verified.get(aggregate_id)
        return (
            mark is not None
            and self.watch.listening
            # Another writer active lately: its notifications may lag behind its commits (its watch
            # thread waits for the interpreter under load), and trusting then costs a conflict per miss.
            and time.monotonic() - self.watch.others_wrote_at > OTHERS_QUIET_SECONDS
            and mark.generation == self.watch.generation
            and mark.epoch == self._epoch
            and mark.writes >= self._written.get(aggregate_id, 0)
        )

    def verified(self, aggregate_id: UUID, stamp: Stamp) -> None:
        with self._lock:
            if stamp.epoch != self._epoch:
                return
            if len(self._verified) >= VERIFIED_LIMIT or len(self._written) >= VERIFIED_LIMIT:
                # Ids the cache has let go of long ago: forget everything, and every earlier stamp.
                self._epoch += 1
                self._verified, self._written = {}, {}
                return
            self._verified[aggregate_id] = stamp

    def verified_own(self, aggregate_id: UUID, before: Stamp) -> None:
        """Stored by this process since ``before``: verified as of its own insert."""
        with self._lock:
            writes = self._written.get(aggregate_id)
        if writes is not None:
            self.verified(aggregate_id, Stamp(before.generation, before.epoch, writes))

    def written(self, aggregate_ids: Iterable[UUID]) -> None:
        """The recorder has just stored events of these aggregates (``SalesRecorder.on_inserted``)."""
        with self._lock:
            self._writes += 1
            for aggregate_id in aggregate_ids:
                self._written[aggregate_id] = self._writes

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """A save of these conflicted: read them afresh."""
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._verified.pop(aggregate_id, None)


class GroupCommit:
    """Saves the aggregates of commands decided at the same time with ONE ``record`` (one transaction,
    one WAL flush, one table lock) instead of one each: the service's throughput limit was the commits.

    Leader/follower, no timer: a command arriving while fewer than ``savers`` saves are running saves at
    once (so a lone command waits for nothing); commands arriving meanwhile queue, and when a save ends
    the first of them that is not leading yet saves the whole queue (up to ``max_batch``). Two saves run
    at once by default: while one waits for PostgreSQL (and, back in Python, for its turn at the
    interpreter behind the other threads), the next batch is already on its way; one at a time, the
    service's commands waited in line behind that one save. They serialise in PostgreSQL on the table
    lock, as independent commands do. Each command gets its own outcome:
    - saved: the batch committed (its events are stored together with the others', atomically);
    - ``IntegrityError``: another writer changed its aggregate meanwhile (a second instance, another
      batch), or an earlier command of the same batch changes it: nothing of it was stored, and
      ``execute`` decides it again on fresh state and saves it alone, as after any concurrent write. The
      conflict names the aggregate, so the rest of the batch is saved again without that command (one
      more transaction) instead of being sent back too; a conflict that names none of them sends back the
      whole batch. So a batch never refuses a command that would have succeeded on its own;
    - any other error (database down): raised to every command of the batch; nothing was stored.
    """

    def __init__(
        self,
        record: Callable[[list[Any], list[BaseAggregate[UUID]], dict[UUID, int]], None],
        max_batch: int = 100,
        savers: int = 2,
    ) -> None:
        self._record = record
        self.max_batch = max_batch
        self.savers = savers
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._saving = 0  # the leaders: saves running, or handed the lead and about to start one

    def save(self, aggregates: Sequence[BaseAggregate[UUID]], checked: dict[UUID, int] | None = None) -> None:
        # The events are taken off the aggregates once, here: a failed save takes them off too, so a batch
        # saved again without some of its commands passes the others' events themselves (and their
        # aggregates, which the store needs for snapshots).
        pending = _Pending(list(aggregates), _collect(aggregates), dict(checked or {}))
        with self._lock:
            self._queue.append(pending)
            if self._saving < self.savers:
                self._saving += 1
                pending.leads = True
        while pending.leads or not pending.finished:  # a lead handed over is taken up even when finished
            if pending.leads:  # save the queue: this command too, unless another leader has taken it
                self._save_queue(pending)
            else:
                pending.wake.wait()
                pending.wake.clear()  # the flags are set before the wake: the loop sees them
        if pending.error is not None:
            raise pending.error

    def _save_queue(self, leader: _Pending) -> None:
        with self._lock:
            leader.leads = False
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            if batch:
                self._save_batch(batch)
        except BaseException as error:  # never report a command saved when its batch went wrong
            for pending in batch:
                pending.error = pending.error or error
            raise
        finally:
            with self._lock:
                following = next((pending for pending in self._queue if not pending.leads), None)
                if following is None:
                    self._saving -= 1
                else:
                    following.leads = True  # it leads the next batch
                for pending in batch:
                    pending.finished = True
            for pending in batch:
                pending.wake.set()
            if following is not None:
                following.wake.set()

    def _save_batch(self, batch: list[_Pending]) -> None:
        saving: list[_Pending] = []
        ids: set[UUID] = set()
        for pending in batch:
            if pending.concerns & ids:  # decided on what an earlier command of the batch changes
                pending.error = IntegrityError("aggregate changed by an earlier command of the batch")
            else:
                ids |= pending.ids
                saving.append(pending)
        while saving:
            checked: dict[UUID, int] = {}
            for pending in saving:
                for id_, version in pending.checked.items():
                    checked[id_] = min(version, checked.get(id_, version))
            try:
                self._record(
                    [event for pending in saving for event in pending.events],
                    [aggregate for pending in saving for aggregate in pending.aggregates],
                    checked,
                )
                return
            except IntegrityError as error:  # nothing of the batch was stored
                named = [pending for pending in saving if _names_one_of(error, pending.concerns)]
                if len(named) == 1 and len(saving) > 1:
                    # Another writer changed that command's aggregate: it alone is decided again, and the
                    # rest of the batch is saved again without it.
                    named[0].error = error
                    saving.remove(named[0])
                    continue
                whole = IntegrityError("the batch conflicted as a whole") if len(saving) > 1 else error
                for pending in saving:
                    pending.error = whole
                return
            except Exception as error:  # nothing of the batch was stored
                for pending in saving:
                    pending.error = error
                return


def _collect(aggregates: Sequence[BaseAggregate[UUID]]) -> list[Any]:
    return [event for aggregate in aggregates for event in aggregate.collect_events()]


def _names_one_of(error: IntegrityError, ids: set[UUID]) -> bool:
    """Whether the conflict names one of these aggregates (PostgreSQL's detail quotes the duplicate key,
    the in-memory store the stored event)."""
    text = f"{error} {error.__cause__ or ''}"
    return any(str(aggregate_id) in text for aggregate_id in ids)


@dataclass
class _Pending:
    aggregates: list[BaseAggregate[UUID]]
    events: list[Any]
    checked: dict[UUID, int]  # read unselected and not changed: the save checks they are unchanged
    wake: threading.Event = field(default_factory=threading.Event)  # finished, or handed the lead
    finished: bool = False
    leads: bool = False
    error: BaseException | None = None

    @property
    def ids(self) -> set[UUID]:
        return {aggregate.id for aggregate in self.aggregates}

    @property
    def concerns(self) -> set[UUID]:
        """What it changes and what it read unselected."""
        return self.ids | self.checked.keys()
