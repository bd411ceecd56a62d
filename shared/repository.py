"""Reading a write service's own aggregates: one by type and id, and the new ones a deadline scan follows.

Service-free plumbing for an ``eventsourcing`` application's repository and notification log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import ApplicationRecorder

from shared.errors import NotFound

A = TypeVar("A")
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


class LogFollower:
    """The aggregates whose events of ``topics`` were stored since it last looked, in store order.

    A deadline scan's memory of what it must watch: it starts from the beginning of the log, so a
    restarted process finds everything again. An aggregate counts as seen once the caller asks for the
    next: one whose handling failed is handed out again the next time."""

    def __init__(self, recorder: ApplicationRecorder, topics: Sequence[str]) -> None:
        self.recorder = recorder
        self.topics = list(topics)
        self.position = 0

    def new(self) -> Iterator[UUID]:
        while True:
            page = self.recorder.select_notifications(start=self.position + 1, limit=PAGE, topics=self.topics)
            for notification in page:
                yield UUID(str(notification.originator_id))
                self.position = notification.id
            if len(page) < PAGE:
                return
