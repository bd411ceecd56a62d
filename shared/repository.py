"""Reading a write service's own aggregates: one by type and id, and the new ones a deadline scan follows;
and the one shape of a command that changes one of them (``OwnAggregates``).

Service-free plumbing for an ``eventsourcing`` application's repository and notification log.
"""

from __future__ import annotations

import re
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import ApplicationRecorder

from shared.aggregate import Meta, SalesAggregate
from shared.clock import Clock
from shared.contracts import Command
from shared.errors import NotFound
from shared.settings import Settings
from shared.store import Outcome, ServiceApplication

A = TypeVar("A")
S = TypeVar("S", bound=SalesAggregate)
C = TypeVar("C")
App = TypeVar("App", bound="OwnAggregates")
Cmd = TypeVar("Cmd", bound=Command)
PAGE = 500


def find(repository: Repository[Any], kind: type[A], aggregate_id: UUID | str) -> A | None:
    """The ``kind`` aggregate stored under ``aggregate_id``; none for another kind, an unknown id or text
    that is no id at all."""
    try:
        found: object = repository.get(aggregate_id if isinstance(aggregate_id, UUID) else UUID(aggregate_id))
    except (ValueError, AggregateNotFoundError):
        return None
    return found if isinstance(found, kind) else None


def existing(repository: Repository[Any], kind: type[A], aggregate_id: str, what: str, key: str = "id") -> A:
    """The ``kind`` aggregate stored under ``aggregate_id``, or ``NotFound`` naming ``what`` and ``key``."""
    found = find(repository, kind, aggregate_id)
    if found is None:
        raise NotFound(f"no {what} {aggregate_id}", details={key: aggregate_id})
    return found


class OwnAggregates(ServiceApplication):
    """A write service's application: a command that changes one of its aggregates is *get it, change it,
    check the acting user may, reply with its result*, saved with the command's receipt."""

    # How a missing aggregate is named in the refusal, by kind: (in words, the id's field); one not listed
    # by its class's name in words and ``id``.
    names: ClassVar[dict[type, tuple[str, str]]] = {}

    def change(
        self,
        cmd: Command,
        kind: type[S],
        aggregate_id: str,
        change: Callable[[S, Meta], None],
        result: Callable[[S], dict[str, Any]],
    ) -> dict[str, Any]:
        """A command that changes one aggregate: the ``kind`` stored under ``aggregate_id``."""

        def changed(meta: Meta) -> S:
            aggregate = self.get(kind, aggregate_id)
            change(aggregate, meta)
            return aggregate

        return self.decide_one(cmd, changed, result)

    def decide_one(
        self, cmd: Command, decide: Callable[[Meta], S], result: Callable[[S], dict[str, Any]]
    ) -> dict[str, Any]:
        """A command that makes or changes one aggregate, the one ``decide`` returns: the acting user's
        scope must cover it, asked after the rule's role check (a role not allowed at all hears its rule)."""

        def outcome(meta: Meta) -> Outcome:
            aggregate = decide(meta)
            self.in_scope(aggregate)
            return Outcome(result(aggregate), [aggregate])

        return self.execute(cmd, outcome)

    def get(self, kind: type[S], aggregate_id: str) -> S:
        """The ``kind`` stored under ``aggregate_id``, or ``NotFound`` naming it as ``names`` does."""
        return existing(self.repository, kind, aggregate_id, *self.name_of(kind))

    def name_of(self, kind: type) -> tuple[str, str]:
        """How a ``kind`` is named in a refusal (``names``): in words, and its id's field."""
        return self.names.get(kind) or (re.sub(r"(?<!^)(?=[A-Z])", " ", kind.__name__).lower(), "id")

    def in_scope(self, aggregate: SalesAggregate) -> None:
        """Refuse a change the acting user's scope does not cover; a refused change is never saved."""


class WithCustomers(OwnAggregates, Generic[C]):
    """A write service that knows customers from a view of its own (``customers``): their regions and
    salespeople, the scopes of its commands."""

    def __init__(
        self, settings: Settings, clock: Clock, customers: C, env: dict[str, str] | None = None
    ) -> None:
        self.customers = customers
        super().__init__(settings, clock, env)
        self.set_up()

    def set_up(self) -> None:
        """What the service keeps in memory beside its store, set up once the store is open."""


class Changes(Generic[App, S]):
    """A table of the commands that change one aggregate the same way: ``apply`` is the application's
    method that finds the aggregate the command names, has it changed, checks the scope and replies. A row,
    ``name = table(Model, lambda aggregate, cmd, meta: ...)``, says what the aggregate does with a command
    (``Model`` types the row's ``cmd``) and is the application's handler ``app.name(cmd)``."""

    def __init__(self, apply: Callable[[App, Any, Callable[[S, Meta], None]], dict[str, Any]]) -> None:
        self.apply = apply

    def __call__(self, model: type[Cmd], change: Callable[[S, Cmd, Meta], None]) -> Change[App, Cmd]:
        def handle(app: App, cmd: Cmd) -> dict[str, Any]:
            return self.apply(app, cmd, lambda aggregate, meta: change(aggregate, cmd, meta))

        return Change(handle)


class Change(Generic[App, Cmd]):
    """One row of a ``Changes`` table: read from the application, the handler of its command, named as
    the row (the bus and the logs name a handler so)."""

    def __init__(self, handle: Callable[[App, Cmd], dict[str, Any]]) -> None:
        self.handle = handle

    def __set_name__(self, owner: type, name: str) -> None:
        self.handle.__name__ = self.handle.__qualname__ = name

    def __get__(self, app: App, owner: type | None = None) -> Callable[[Cmd], dict[str, Any]]:
        return types.MethodType(self.handle, app)


class Watchlist:
    """A deadline scan's memory: the aggregates whose events of ``topics`` were stored since it last looked
    (``new``, in store order), and those of them that may still fall due (``open``, the scan's to keep);
    ``lock``: one scan at a time.

    It starts from the beginning of the log, so a restarted process finds everything again. An aggregate
    counts as seen once the caller asks for the next: one whose handling failed is handed out again the
    next time."""

    def __init__(self, recorder: ApplicationRecorder, topics: Sequence[str]) -> None:
        self.recorder = recorder
        self.topics = list(topics)
        self.position = 0
        self.lock = threading.Lock()
        self.open: set[UUID] = set()

    def new(self) -> Iterator[UUID]:
        while True:
            page = self.recorder.select_notifications(start=self.position + 1, limit=PAGE, topics=self.topics)
            for notification in page:
                yield UUID(str(notification.originator_id))
                self.position = notification.id
            if len(page) < PAGE:
                return
