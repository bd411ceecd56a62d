"""The write services' PostgreSQL recorder: eventsourcing's, with its statements built once.

The library composes each statement anew on every call and saves in a pipelined transaction of five
statements; both were a large part of a command's CPU. Here a read is one prepared statement built once
per shape, and a save is ONE statement in autocommit: a function that takes the same table lock, notifies
the same channel (naming its writer) and inserts the events, so commit order is notification order
exactly as with the library's own save (the relay depends on it), and a writer using the library's
recorder on the same table still serialises with this one.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier, Literal

INSERT_FUNCTION_PREFIX = "salesops_insert_"
# Aggregates named in one notification at most: 22 characters each, and a payload holds under 8,000 bytes.
MOST_NAMED = 300


class SalesRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(datastore.schema)
        self.table = SQL("{}.{}").format(schema, Identifier(events_table_name))
        function = SQL("{}.{}").format(schema, Identifier(INSERT_FUNCTION_PREFIX + events_table_name))
        # When the store recorded each event (the event's own timestamp is when it was decided, by the
        # service's clock): for auditors, and to time commit → projection. Events stored before the column
        # existed keep NULL rather than a made-up time.
        self.sql_create_statements.append(
            SQL(
                "DO $BODY$ BEGIN "
                "IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = {schema_name} "
                "AND table_name = {table_name} AND column_name = 'recorded_at') THEN "
                "ALTER TABLE {table} ADD COLUMN recorded_at timestamptz; "
                "ALTER TABLE {table} ALTER COLUMN recorded_at SET DEFAULT clock_timestamp(); "
                "END IF; END $BODY$"
            ).format(
                schema_name=Literal(datastore.schema),
                table_name=Literal(events_table_name),
                table=self.table,
            )
        )
        # The events go as four arrays of plain types, which psycopg sends with its C dumpers; an array
        # of the library's composite type is dumped in Python, field by field.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {function}"
                "(ids uuid[], versions bigint[], topics text[], states bytea[], writer text, "
                "checked_ids uuid[], checked_versions bigint[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
                "DECLARE moved uuid; "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {table} IN EXCLUSIVE MODE; "
                "SELECT c.id INTO moved FROM unnest(checked_ids, checked_versions) AS c(id, version) "
                "WHERE EXISTS (SELECT 1 FROM {table} t "
                "WHERE t.originator_id = c.id AND t.originator_version > c.version) LIMIT 1; "
                "IF moved IS NOT NULL THEN "
                "RAISE EXCEPTION 'aggregate % changed since it was read', moved "
                "USING ERRCODE = 'unique_violation'; "
                "END IF; "
                # The payload: the writer, then the aggregates it changed that others may have cached
                # (those it did not create here), or "*" for more than fit a notification.
                "PERFORM pg_notify({channel}, writer || ' ' || coalesce(("
                "SELECT CASE WHEN count(*) > {most_named} THEN '*' "
                "ELSE string_agg(rtrim(encode(uuid_send(c.id), 'base64'), '='), ' ') END "
                "FROM (SELECT e.id FROM unnest(ids, versions) AS e(id, version) "
                "GROUP BY e.id HAVING min(e.version) > 1) AS c), '')); "
                "RETURN QUERY INSERT INTO {table} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING notification_id; "
                "END; $BODY$"
            ).format(
                function=function,
                lock_timeout=datastore.lock_timeout,
                table=self.table,
                channel=Literal(self.channel_name),
                most_named=Literal(MOST_NAMED),
            )
        )
        self.insert_statement = (
            SQL("SELECT * FROM {}(%b, %b, %b, %b, %b, %b::uuid[], %b::bigint[])")
            .format(function)
            .as_bytes(None)
        )
        # Who wrote, first in the notification's payload (``shared.cache.WriteWatch`` tells its own from
        # others', and which aggregates the others changed: ``changed_aggregates``).
        self.writer = uuid4().hex
        # Told the aggregates of every insert, once it committed (``shared.cache.Freshness.written``).
        self.on_inserted: Callable[[Iterable[UUID]], None] | None = None
        # Every shape of select_events (which of gt, lte, desc, limit it has).
        self.select_statements = {
            shape: self._select_statement(*shape) for shape in itertools.product((False, True), repeat=4)
        }

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, checked: dict[UUID, int] | None = None, **kwargs: Any
    ) -> Sequence[int] | None:
        """Store the events, all or none; ``checked``: aggregates (id -> version) a command read and does
        not change, which must still be at that version (else ``IntegrityError`` naming one of them)."""
        if kwargs.get("tracking") is not None:
            raise NotImplementedError("an application recorder records no tracking")
        if not stored_events:
            return []
        checked = checked or {}
        arguments = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            self.writer,
            list(checked),
            list(checked.values()),
        )
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.insert_statement, arguments, prepare=True)
            notification_ids = [row[0] for row in curs.fetchall()]
        if self.on_inserted is not None:
            self.on_inserted({as_uuid(e.originator_id) for e in stored_events})
        return notification_ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        statement = self.select_statements[(gt is not None, lte is not None, desc, limit is not None)]
        params = [originator_id, *(value for value in (gt, lte, limit) if value is not None)]
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True)
            return [
                StoredEvent(originator_id=id_, originator_version=version, topic=topic, state=bytes(state))
                for id_, version, topic, state in curs.fetchall()
            ]

    def _select_statement(self, gt: bool, lte: bool, desc: bool, limit: bool) -> bytes:
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {} WHERE originator_id = %s"
        ).format(self.table)
        if gt:
            statement += SQL(" AND originator_version > %s")
        if lte:
            statement += SQL(" AND originator_version <= %s")
        statement += SQL(" ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC")
        if limit:
            statement += SQL(" LIMIT %s")
        return statement.as_bytes(None)


def as_uuid(originator_id: UUID | str) -> UUID:
    """The library's ids are UUIDs already (a round trip through str cost ~3 % of a saturated command)."""
    return originator_id if isinstance(originator_id, UUID) else UUID(originator_id)


def changed_aggregates(payload: str) -> tuple[str, list[int] | None]:
    """A save's notification: its writer, and the ids (as integers) of the aggregates it changed that
    existed before it, or None when it does not say (the library's own recorder, or "*": too many)."""
    writer, named, changed = payload.partition(" ")
    if not named or changed == "*":
        return writer, None
    return writer, [int.from_bytes(base64.b64decode(id_ + "=="), "big") for id_ in changed.split()]
