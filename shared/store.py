"""Store plumbing: the eventsourcing Application every write service extends.

It owns the things every command needs once: the PostgreSQL settings (a schema per service), the
transcodings, the acting user and clock in ``Meta``, optimistic-concurrency retries, and
idempotency keys (a ``CommandReceipt`` saved atomically with the command's own events).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
    project_aggregate,
)
from eventsourcing.domain import BaseAggregate, event
from eventsourcing.persistence import IntegrityError, Transcoder
from psycopg import sql

from shared.aggregate import DateAsISO, Meta, MetaAsDict, SalesAggregate, SalesTranscoder
from shared.clock import Clock
from shared.contracts import Command
from shared.errors import Conflict, DomainError
from shared.recorder import SalesRecorder, changed_aggregates
from shared.settings import Settings
from shared.worker import Answer, CommandWorker, answer_of

RECEIPT_NAMESPACE = UUID("6f1d4c1e-8a53-4d0e-9b59-6b7c2f3a9e10")
MAX_ATTEMPTS = 5
WATCH_POLL_SECONDS = 0.2  # how often the write watch looks up from the channel to see if it should stop
WATCH_RETRY_SECONDS = 1.0
VERIFIED_LIMIT = 100_000  # aggregate ids remembered as verified, beyond the cache's own size

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


class DatabaseNotUtf8(RuntimeError):
    """The service's database exists and is not UTF-8: psycopg would hand its text columns over as bytes
    (eventsourcing's topics among them), and non-ASCII names would be mangled."""

    def __init__(self, database: str, encoding: str) -> None:
        super().__init__(
            f"database {database!r} is {encoding}, not UTF8: salesops refuses to start on it; create it "
            f"anew with CREATE DATABASE {database} ENCODING 'UTF8' TEMPLATE template0, or set "
            "SALESOPS_POSTGRES_DB to a UTF-8 database"
        )


def ensure_database(settings: Settings, schemas: Sequence[str] = ()) -> None:
    """Create the database (UTF-8, whatever the cluster's default) and the given schemas when missing
    (idempotent). Raises ``DatabaseNotUtf8`` for an existing database of another encoding."""
    with admin_connection(settings) as admin:
        found = admin.execute(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = %s",
            (settings.postgres_db,),
        ).fetchone()
        if found is None:
            # From template0: template1 has the cluster's encoding, SQL_ASCII where initdb had no locale.
            admin.execute(
                sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                    sql.Identifier(settings.postgres_db)
                )
            )
        elif found[0] != "UTF8":
            raise DatabaseNotUtf8(settings.postgres_db, found[0])
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


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
        recordings = self._record(processing)
        for aggregate in aggregates:
            cached = self.repository.saved(aggregate, only_replacing=True)
            if cached and freshness is not None and before is not None:
                freshness.verified_own(aggregate.id, before)  # the latest as of its insert
        self._take_snapshots(processing)
        self._notify(recordings)

    def _receipt(self, key: str) -> CommandReceipt | None:
        try:
            receipt: CommandReceipt = self.repository.get(CommandReceipt.create_id(key))
        except AggregateNotFoundError:
            return None
        return receipt


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
        self._local = threading.local()  # this thread's command: its reads, its batch

    @property
    def batch(self) -> Batch | None:
        """The batch this thread is deciding (``ServiceApplication.decide_batch``): what its commands
        decided so far is read from it, not from the store."""
        batch: Batch | None = getattr(self._local, "batch", None)
        return batch

    @batch.setter
    def batch(self, batch: Batch | None) -> None:
        self._local.batch = batch

    @contextlib.contextmanager
    def reading(self) -> Iterator[dict[UUID, int]]:
        """While a command decides (this thread): reads may use a cached state known to be the latest
        without a select, and are noted (id -> version) for the save to check. A query's reads (outside
        any command) always select: a reply must show every write that was answered before it."""
        if self.freshness is not None:
            self.freshness.watch.start()
        reads: dict[UUID, int] = {}
        self._local.reads = reads
        try:
            yield reads
        finally:
            self._local.reads = None

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        if version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        if (batch := self.batch) is not None and (decided := batch.read(aggregate_id)) is not None:
            return copy.deepcopy(decided) if deepcopy_from_cache else decided
        if self.cache is None:
            return super().get(aggregate_id, projector_func=projector_func)
        reads = getattr(self._local, "reads", None)
        if reads is not None and self.freshness is not None and self.freshness.trusted(aggregate_id):
            # Verified already (a state cached since then is one of this process's own saves: newer still).
            with contextlib.suppress(KeyError):
                latest = self.cache.get(aggregate_id)
                reads.setdefault(aggregate_id, latest.version)
                return copy.deepcopy(latest) if deepcopy_from_cache else latest
        stamp = self.freshness.stamp() if self.freshness is not None else None  # before the select
        cached = None
        try:
            cached = self.cache.get(aggregate_id)
        except KeyError:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
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
    """Tells which aggregates anyone else has written to the service's events since a cached state was
    verified.

    Every save notifies the store's channel with its writer's token and the aggregates it changed
    (``SalesRecorder``); a thread here listens. Another instance's notification names what it changed
    (``on_others_wrote``); one that names nothing (the library's own recorder, or too many aggregates to
    name) bumps ``generation``, which makes every cached state unverified. A cached state verified since
    is the latest but for writes whose notification is on its way; a command's save checks what it read
    that way (``checked``), so a decision on such a state is made again. While not listening (starting,
    or after losing the connection, when notifications may have been missed) nothing counts as verified,
    and every read selects."""

    def __init__(self, dsn: str, channel: str, token: str) -> None:
        self.dsn = dsn
        self.channel = channel
        self.token = token
        self.generation = 0  # only the listening thread changes it
        self.listening = False
        self.on_others_wrote: Callable[[list[int]], None] | None = None  # told the ids, as integers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"write-watch-{channel}", daemon=True)
        self._starting = threading.Lock()

    def start(self) -> None:
        """Listen from now on (idempotent). The first command starts it: a process that decides none (the
        relay's) has no thread woken by every save for nothing."""
        if self._thread.ident is None:
            with self._starting:
                if self._thread.ident is None and not self._stop.is_set():
                    self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._starting:
            if self._thread.ident is not None:
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
                            self.heard(notice.payload)
            except psycopg.Error as error:
                log.warning("write watch on %s: %r; reads select until it listens again", self.channel, error)
            finally:
                self.listening = False
                self.generation += 1
            self._stop.wait(WATCH_RETRY_SECONDS)

    def heard(self, payload: str) -> None:
        """A save's notification (this thread, or a test)."""
        writer, changed = changed_aggregates(payload)
        if writer == self.token:
            return
        if changed is None or self.on_others_wrote is None:
            self.generation += 1
        elif changed:
            self.on_others_wrote(changed)


@dataclass(frozen=True)
class Stamp:
    generation: int  # the watch's: writes by others that named no aggregate, and its reconnections
    epoch: int  # the bookkeeping's resets
    writes: int  # writes counted so far: this process's own inserts, and others' that named aggregates


class Freshness:
    """Which cached states are known to be the latest, so that a read needs no select.

    A state is verified at a stamp taken before the read that got it (or before this process's own
    insert of it). It stays the latest until a write by someone else (the watch's generation moves) or
    by this process (the aggregate's own-write count passes the stamp's), whichever comes first; every
    other thread's write of that aggregate is one of those two. Another instance's write is one of this
    aggregate alone when its notification names it (the watch counts it like an own write, in a book of
    its own), and of every aggregate when it names none (the generation moves)."""

    def __init__(self, watch: WriteWatch) -> None:
        self.watch = watch
        self._lock = threading.Lock()
        self._epoch = 0
        self._writes = 0
        # Keyed by the ids' integers: a UUID is an object the garbage collector tracks, and one per order
        # ever written made every full collection of the service longer.
        self._written: dict[int, int] = {}  # aggregate id -> the write count of its last insert here
        self._others: dict[int, int] = {}  # aggregate id -> the write count when another's write was heard
        self._verified: dict[int, Stamp] = {}
        watch.on_others_wrote = self.others_wrote

    def stamp(self) -> Stamp | None:
        """Now, or None while the watch is not listening (nothing counts as verified then)."""
        if not self.watch.listening:
            return None
        return Stamp(self.watch.generation, self._epoch, self._writes)

    def trusted(self, aggregate_id: UUID) -> bool:
        key = aggregate_id.int
        mark = self._verified.get(key)
        return (
            mark is not None
            and self.watch.listening
            and mark.generation == self.watch.generation
            and mark.epoch == self._epoch
            and mark.writes >= self._written.get(key, 0)
            and mark.writes >= self._others.get(key, 0)
        )

    def verified(self, aggregate_id: UUID, stamp: Stamp) -> None:
        with self._lock:
            if stamp.epoch != self._epoch:
                return
            if max(len(self._verified), len(self._written), len(self._others)) >= VERIFIED_LIMIT:
                # Ids the cache has let go of long ago: forget everything, and every earlier stamp.
                self._epoch += 1
                self._verified, self._written, self._others = {}, {}, {}
                return
            self._verified[aggregate_id.int] = stamp

    def verified_own(self, aggregate_id: UUID, before: Stamp) -> None:
        """Stored by this process since ``before``: verified as of its own insert."""
        with self._lock:
            writes = self._written.get(aggregate_id.int)
        if writes is not None:
            self.verified(aggregate_id, Stamp(before.generation, before.epoch, writes))

    def written(self, aggregate_ids: Iterable[UUID]) -> None:
        """The recorder has just stored events of these aggregates (``SalesRecorder.on_inserted``)."""
        self._count(self._written, (aggregate_id.int for aggregate_id in aggregate_ids))

    def others_wrote(self, keys: list[int]) -> None:
        """Another instance has just stored events of these aggregates (ids as integers; the watch)."""
        self._count(self._others, keys)

    def _count(self, book: dict[int, int], keys: Iterable[int]) -> None:
        """One more write, of these aggregates, in this book."""
        with self._lock:
            self._writes += 1
            for key in keys:
                book[key] = self._writes

    def forget(self, aggregate_ids: Iterable[UUID]) -> None:
        """A save of these conflicted: read them afresh."""
        with self._lock:
            for aggregate_id in aggregate_ids:
                self._verified.pop(aggregate_id.int, None)


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
